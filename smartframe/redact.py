"""Redact: apply the face policy to a rendered output."""

from __future__ import annotations

import numpy as np

from .options import FacePolicy, FrameOptions
from .plan import Plan

__all__ = ["apply_face_policy"]


def apply_face_policy(pixels: np.ndarray, plan: Plan, options: FrameOptions):
    if options.faces is FacePolicy.KEEP:
        return pixels, plan, ()
    raise NotImplementedError("face policies land with the faces issue")
