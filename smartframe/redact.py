"""Redact: apply the face policy to a rendered output.

``blur``, ``pixelate`` and ``fill`` cover each identifiable face. The region is the face
box enlarged to take in forehead, hair line, ears and jaw, and no more than 4 samples
across the face survive (Harmon's "Lincoln" needed about 14 blocks across to be
recognised), so no detail that identifies a person is left. Then detection runs again on
the output, with looser thresholds than those that define a face; whatever is still found
is redacted again with a larger region and fewer samples, and after the last round with a
solid fill. If a face survives even that, :class:`~smartframe.errors.RedactionError` is
raised rather than an image with a face in it being returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import cv2
import numpy as np

from .analysis import Face
from .errors import FacesFoundError, RedactionError
from .geometry import Box
from .options import FacePolicy, FrameOptions
from .plan import Plan

__all__ = ["RedactionParams", "apply_face_policy", "redact_faces", "redaction_box", "visible_faces",
           "REDACTION_ROUNDS"]

#: Rounds of the chosen method before the solid-fill fallback.
REDACTION_ROUNDS = 3
# The re-check after each round looks for faces below the thresholds that define one, so the
# output keeps a margin: a score this much lower, a size this fraction of the minimum.
_RECHECK_SCORE_MARGIN = 0.1
_RECHECK_SIZE_FACTOR = 0.5

Detector = Callable[[np.ndarray, float, float], Sequence[Face]]


@dataclass(frozen=True)
class RedactionParams:
    """How strongly a face is covered.

    ``pad_*`` enlarge the face box, as fractions of the face size (the larger side), to
    cover what a BlazeFace box leaves out. ``cells`` is the number of samples across the
    face size that survive: pixelate keeps ``cells`` x ``cells`` block means; blur keeps
    the same area means and interpolates them smoothly.
    """

    pad_side: float = 0.3
    pad_top: float = 0.55
    pad_bottom: float = 0.3
    cells: float = 4.0
    fill_rgb: tuple[int, int, int] = (128, 128, 128)

    def escalated(self, step: int) -> RedactionParams:
        """Round ``step`` (0 = first): a larger region and fewer samples each round."""
        grow = 1.0 + 0.5 * step
        return RedactionParams(self.pad_side * grow + 0.1 * step, self.pad_top * grow + 0.1 * step,
                               self.pad_bottom * grow + 0.1 * step,
                               max(1.5, self.cells / grow), self.fill_rgb)


def redaction_box(face: Face, width: int, height: int,
                  params: RedactionParams = RedactionParams()) -> tuple[int, int, int, int]:
    """The whole-pixel region (x0, y0, x1, y1) to cover for ``face``, clipped to the image."""
    size = face.size
    padded = Box(face.x0 - params.pad_side * size, face.y0 - params.pad_top * size,
                 face.x1 + params.pad_side * size, face.y1 + params.pad_bottom * size)
    return padded.clipped(width, height)


def _cover(pixels: np.ndarray, box: tuple[int, int, int, int], method: FacePolicy, face_size: float,
           params: RedactionParams) -> None:
    """Cover ``pixels[y0:y1, x0:x1]`` in place (``pixels`` is the caller's own copy)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    region = pixels[y0:y1, x0:x1]
    height, width = region.shape[:2]
    if method is FacePolicy.FILL:
        region[..., :3] = np.asarray(params.fill_rgb, np.uint8)
        return
    cell = max(2.0, face_size / params.cells)
    small = cv2.resize(region, (max(1, round(width / cell)), max(1, round(height / cell))),
                       interpolation=cv2.INTER_AREA)
    if method is FacePolicy.PIXELATE:
        region[...] = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    else:  # blur: a smooth reconstruction from the same cell means
        middle = cv2.resize(small, (small.shape[1] * 4, small.shape[0] * 4), interpolation=cv2.INTER_LINEAR)
        middle = cv2.GaussianBlur(middle, (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REPLICATE)
        region[...] = cv2.resize(middle, (width, height), interpolation=cv2.INTER_LINEAR)


def redact_faces(pixels: np.ndarray, faces: Sequence[Face], method: FacePolicy, *, detect: Detector,
                 min_face_px: float, min_face_score: float,
                 params: RedactionParams = RedactionParams()) -> tuple[np.ndarray, tuple[Face, ...]]:
    """Cover ``faces`` (boxes in ``pixels``' frame) and verify, escalating as needed.

    ``detect(rgb, min_size_px, min_score)`` finds faces in an RGB array; with no ``faces``
    given, the faces it finds in ``pixels`` are covered. Returns a new array and every face
    covered. Raises RedactionError when a face is still found after the solid-fill fallback.
    """
    out = pixels.copy()
    height, width = out.shape[:2]
    recheck_score = max(0.0, min_face_score - _RECHECK_SCORE_MARGIN)
    recheck_size = min_face_px * _RECHECK_SIZE_FACTOR
    # No face known yet: look at the output itself, where a face may show at its own scale.
    todo = list(faces) or list(detect(out[..., :3], min_face_px, min_face_score))
    covered: list[Face] = []
    for step in range(REDACTION_ROUNDS + 1):
        if not todo:
            break
        round_method = method if step < REDACTION_ROUNDS else FacePolicy.FILL
        round_params = params.escalated(step)
        for face in todo:
            _cover(out, redaction_box(face, width, height, round_params), round_method, face.size, round_params)
        covered += todo
        todo = list(detect(out[..., :3], recheck_size, recheck_score))
    if todo:
        raise RedactionError(f"{len(todo)} face(s) still detected after {REDACTION_ROUNDS} rounds of "
                             f"'{method.value}' and a solid fill")
    return out, tuple(covered)


def visible_faces(plan: Plan, faces: Sequence[Face], *, min_face_px: float,
                  min_face_score: float) -> list[Face]:
    """The identifiable faces of ``faces`` (source pixels) as they land in the output.

    Returns them in *output* pixels: those with a score of at least ``min_face_score``
    whose longer side is at least ``min_face_px`` output pixels and that overlap the
    output's content.
    """
    found = []
    for face in faces:
        if face.score < min_face_score:
            continue
        box = plan.to_output(face.box)
        if max(box.width, box.height) < min_face_px or box.intersection(plan.content_box).area <= 0:
            continue
        found.append(Face(*box, face.score, source=face.source))
    return found


def _shared_detector(rgb: np.ndarray, min_size_px: float, min_score: float) -> Sequence[Face]:
    from .analysis.faces import (
        detect_faces,  # the detector loads its models on first use
    )

    return detect_faces(rgb, min_size_px=min_size_px, min_score=min_score)


def apply_face_policy(pixels: np.ndarray, plan: Plan, options: FrameOptions,
                      detect: Detector = _shared_detector) -> tuple[np.ndarray, Plan, tuple[Face, ...]]:
    """Apply ``options.faces`` to the rendered ``pixels`` of ``plan``.

    Returns the (possibly redacted) pixels, the plan with any warning added, and the face
    regions covered, in output pixels.
    """
    policy = options.faces
    if policy is FacePolicy.KEEP:
        return pixels, plan, ()
    visible = visible_faces(plan, plan.faces, min_face_px=options.min_face_px,
                            min_face_score=options.min_face_score)
    if policy is FacePolicy.FLAG:
        if visible:
            plan = _warn(plan, f"{len(visible)} identifiable face(s) in the output")
        return pixels, plan, ()
    if policy is FacePolicy.REJECT:
        if visible:
            raise FacesFoundError(f"{len(visible)} identifiable face(s) in the output and faces='reject'",
                                  faces=tuple(visible))
        return pixels, plan, ()
    # blur, pixelate, fill -- and avoid, whose window already left out what it could.
    method = FacePolicy.BLUR if policy is FacePolicy.AVOID else policy
    pixels, covered = redact_faces(pixels, visible, method, detect=detect,
                                   min_face_px=options.min_face_px, min_face_score=options.min_face_score)
    if covered:
        plan = _warn(plan, f"{len(covered)} face region(s) redacted ({method.value})")
    return pixels, plan, covered


def _warn(plan: Plan, message: str) -> Plan:
    return replace(plan, warnings=plan.warnings + (message,))
