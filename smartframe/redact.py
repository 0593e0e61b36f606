"""Redact: apply the face policy to a rendered output.

``blur``, ``pixelate`` and ``fill`` cover each identifiable face -- with a margin, at a
strength scaled to the face's size so that no detail survives -- and then detection runs
again on the output. Whatever is still found is redacted again, larger and stronger; if a
face survives the strongest round, :class:`~smartframe.errors.RedactionError` is raised
rather than an image with a face in it being returned.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import cv2
import numpy as np

from .analysis import Face
from .errors import FacesFoundError, RedactionError
from .options import FacePolicy, FrameOptions
from .plan import Plan

__all__ = ["apply_face_policy", "redact_boxes", "visible_faces", "REDACTION_ROUNDS"]

#: Redaction rounds before giving up: each round widens the margin and coarsens the cover.
REDACTION_ROUNDS = 3
# Margin around a face box, as a fraction of its size, per round: hair, ears and chin
# identify a person too, and detector boxes are tight.
_MARGIN = (0.25, 0.45, 0.7)
# Pixelate: cells across the face; blur: Gaussian sigma as a fraction of the face size.
_PIXEL_CELLS = (6, 4, 3)
_BLUR_SIGMA = (0.18, 0.3, 0.45)

Detector = Callable[[np.ndarray], Sequence[Face]]


def visible_faces(plan: Plan, faces: Sequence[Face], *, min_face_px: float,
                  min_face_score: float) -> list[Face]:
    """The identifiable faces of ``faces`` (source pixels) as they land in the output.

    Returns them in *output* pixels, clipped to the content: those with a score of at least
    ``min_face_score`` whose longer side is at least ``min_face_px`` output pixels and that
    overlap the output at all.
    """
    content = plan.content_box
    found = []
    for face in faces:
        if face.score < min_face_score:
            continue
        box = plan.to_output(face.box)
        if max(box.width, box.height) < min_face_px:
            continue
        clipped = box.intersection(content)
        if clipped.area > 0:
            found.append(Face(*clipped, face.score))
    return found


def redact_boxes(pixels: np.ndarray, faces: Sequence[Face], method: FacePolicy,
                 strength: int = 0) -> np.ndarray:
    """A copy of ``pixels`` with each face box (its pixels' frame) covered by ``method``.

    ``strength`` 0..REDACTION_ROUNDS-1 selects the margin and coarseness.
    """
    out = pixels.copy()
    height, width = out.shape[:2]
    margin_fraction = _MARGIN[strength]
    for face in faces:
        size = max(face.x1 - face.x0, face.y1 - face.y0)
        margin = margin_fraction * size
        x0 = max(0, int(np.floor(face.x0 - margin)))
        y0 = max(0, int(np.floor(face.y0 - margin)))
        x1 = min(width, int(np.ceil(face.x1 + margin)))
        y1 = min(height, int(np.ceil(face.y1 + margin)))
        if x1 <= x0 or y1 <= y0:
            continue
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = _cover(region, method, size, strength)
    return out


def _cover(region: np.ndarray, method: FacePolicy, face_size: float, strength: int) -> np.ndarray:
    height, width = region.shape[:2]
    if method is FacePolicy.FILL:
        mean = region.reshape(-1, region.shape[2]).mean(axis=0)
        return np.broadcast_to(np.rint(mean).astype(np.uint8), region.shape)
    if method is FacePolicy.PIXELATE:
        cell = max(1.0, face_size / _PIXEL_CELLS[strength])
        small = (max(1, round(width / cell)), max(1, round(height / cell)))
        coarse = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
        return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST)
    # Blur: shrink first (an area average removes the detail for certain), then a wide
    # Gaussian on the way back up so no block edges remain.
    sigma = max(2.0, _BLUR_SIGMA[strength] * face_size)
    small = (max(1, round(width / sigma * 2)), max(1, round(height / sigma * 2)))
    coarse = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(smooth, (0, 0), sigmaX=sigma / 2, borderType=cv2.BORDER_REPLICATE)


def apply_face_policy(pixels: np.ndarray, plan: Plan, options: FrameOptions,
                      detect: Detector | None = None) -> tuple[np.ndarray, Plan, tuple[Face, ...]]:
    """Apply ``options.faces`` to the rendered ``pixels`` of ``plan``.

    Returns the (possibly redacted) pixels, the plan with any warning added, and the boxes
    redacted in output pixels. ``detect`` finds faces in an RGB array (its pixels' frame);
    it defaults to smartframe's detector and is used to verify redactions.
    """
    policy = options.faces
    if policy is FacePolicy.KEEP:
        return pixels, plan, ()
    thresholds = {"min_face_px": options.min_face_px, "min_face_score": options.min_face_score}
    visible = visible_faces(plan, plan.faces, **thresholds)
    if policy is FacePolicy.FLAG:
        if not visible:
            return pixels, plan, ()
        return pixels, _warn(plan, f"{len(visible)} identifiable face(s) in the output"), ()
    if policy is FacePolicy.REJECT:
        if visible:
            raise FacesFoundError(f"{len(visible)} identifiable face(s) in the output and "
                                  "faces='reject'", faces=tuple(visible))
        return pixels, plan, ()
    method = FacePolicy.BLUR if policy is FacePolicy.AVOID else policy
    if detect is None:
        from .analysis.faces import detect_faces

        def detect(rgb: np.ndarray) -> Sequence[Face]:
            return detect_faces(rgb, min_score=options.min_face_score)

    redacted: list[Face] = []
    to_cover = visible
    for strength in range(REDACTION_ROUNDS):
        if not to_cover:
            break
        pixels = redact_boxes(pixels, to_cover, method, strength)
        redacted += to_cover
        to_cover = [f for f in detect(pixels[..., :3])
                    if f.score >= options.min_face_score and f.size >= options.min_face_px]
    if to_cover:
        raise RedactionError(f"{len(to_cover)} face(s) still detected after {REDACTION_ROUNDS} "
                             f"rounds of '{method.value}'")
    if redacted:
        plan = _warn(plan, f"{len(redacted)} face region(s) redacted ({method.value})")
    return pixels, plan, tuple(redacted)


def _warn(plan: Plan, message: str) -> Plan:
    return replace(plan, warnings=plan.warnings + (message,))
