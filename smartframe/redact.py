"""Redact: apply the face policy to a rendered output.

``blur``, ``pixelate`` and ``fill`` cover each identifiable face. The region is the face
box enlarged to take in forehead, hair line, ears and jaw, and no more than 4 samples
across the face survive (Harmon's "Lincoln" needed about 14 blocks across to be
recognised), so no detail that identifies a person is left. Then the detector looks at the
output twice: as ``check`` would (the thresholds that define a face, the group rule on), and
with looser thresholds (a score 0.1 lower, half the size) judging each face on its own score.
The second alone is not enough: blurred faces in a crowd keep face-shaped blobs that can
corroborate each other under check's group rule (9 of 488 blurred benchmark photos), and the
two sizes search the output at different scales. The second detector (CenterFace) also looks
at each covered place, turned as the face was found: a cover it still takes for a face has
failed even where YuNet no longer proposes anything. Whatever is still found is redacted again
with a larger region and fewer samples, and after the last round with a solid fill. If a face
survives even that, :class:`~smartframe.errors.RedactionError` is raised rather than an image
with a face in it being returned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

from .analysis import Face
from .analysis.faces import is_identifiable
from .errors import FacesFoundError, RedactionError
from .geometry import Box
from .options import FacePolicy, FrameOptions
from .plan import Plan

__all__ = ["RedactionParams", "Redaction", "apply_face_policy", "redact_faces", "redaction_box",
           "visible_faces", "REDACTION_ROUNDS", "REDACTION_WARN_COVERAGE", "REDACTION_REFUSED_COVERAGE"]

#: Rounds of the chosen method before the solid-fill fallback.
REDACTION_ROUNDS = 3
# The re-check after each round looks for faces below the thresholds that define one, so the
# output keeps a margin: a score this much lower, a size this fraction of the minimum.
_RECHECK_SCORE_MARGIN = 0.1
#: Redaction covering more than this share of the output is reported in the warning ...
REDACTION_WARN_COVERAGE = 0.5
#: ... and from this share on refused (RedactionError): the output would show only the cover.
REDACTION_REFUSED_COVERAGE = 0.9
_RECHECK_SIZE_FACTOR = 0.5

Detector = Callable[[np.ndarray, float, float], Sequence[Face]]
#: ``(rgb, faces, min_score)`` -> the faces of ``faces`` the second detector still sees at their place.
SecondLook = Callable[[np.ndarray, Sequence[Face], float], Sequence[Face]]


@dataclass(frozen=True)
class RedactionParams:
    """How strongly a face is covered.

    ``pad_*`` enlarge the face box, as fractions of the face size (the larger side), to
    cover what a detector's face box leaves out (forehead, hair line, ears, jaw). ``cells``
    is the number of samples across the face size that survive: pixelate keeps ``cells`` x
    ``cells`` block means; blur keeps the same area means and interpolates them smoothly.
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


class Redaction(NamedTuple):
    """What :func:`redact_faces` did: the new pixels, every face box covered (the pixels'
    frame), and the share 0..1 of the image the covered regions take up."""

    pixels: np.ndarray
    faces: tuple[Face, ...]
    coverage: float


def redact_faces(pixels: np.ndarray, faces: Sequence[Face], method: FacePolicy, *, detect: Detector,
                 min_face_px: float, min_face_score: float, recheck: Detector | None = None,
                 look_again: SecondLook | None = None, params: RedactionParams = RedactionParams()) -> Redaction:
    """Cover ``faces`` (boxes in ``pixels``' frame) and verify, escalating as needed.

    ``detect(rgb, min_size_px, min_score)`` finds faces in an RGB array; with no ``faces``
    given, the faces it finds in ``pixels`` are covered. After each round, what is left is
    what ``detect`` finds at ``min_face_px`` and ``min_face_score`` (what check would report)
    together with what ``recheck`` (default: ``detect``) finds at the looser thresholds, and
    the covered faces that ``look_again`` (the second detector, looking at each covered place;
    default: nobody) still sees at the looser score.
    Returns a new array, every face covered and the share of the image covered. Raises
    RedactionError when a face is still found after the solid-fill fallback.
    """
    recheck = detect if recheck is None else recheck
    out = pixels.copy()
    height, width = out.shape[:2]
    covered_mask = np.zeros((height, width), bool)
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
            box = redaction_box(face, width, height, round_params)
            _cover(out, box, round_method, face.size, round_params)
            covered_mask[box[1]:box[3], box[0]:box[2]] = True
        covered += todo
        todo = list(detect(out[..., :3], min_face_px, min_face_score))
        todo += [face for face in recheck(out[..., :3], recheck_size, recheck_score)
                 if all(face.box.iou(other.box) <= 0.3 for other in todo)]
        if look_again is not None:
            todo += [face for face in look_again(out[..., :3], covered, recheck_score)
                     if all(face.box.iou(other.box) <= 0.3 for other in todo)]
    if todo:
        raise RedactionError(f"{len(todo)} face(s) still detected after {REDACTION_ROUNDS} rounds of "
                             f"'{method.value}' and a solid fill")
    return Redaction(out, tuple(covered), float(covered_mask.mean()) if covered else 0.0)


def visible_faces(plan: Plan, faces: Sequence[Face], *, min_face_px: float,
                  min_face_score: float) -> list[Face]:
    """The identifiable faces of ``faces`` (source pixels) as they land in the output.

    Returns them in *output* pixels: those identifiable at their size in the output
    (:func:`~smartframe.analysis.faces.is_identifiable` with ``min_face_px`` output pixels and
    ``min_face_score``) that overlap the output's content (by half a pixel or more each way).
    """
    found = []
    for face in faces:
        box = plan.to_output(face.box)
        if not is_identifiable(max(box.width, box.height), face.score, min_face_px=min_face_px,
                               min_face_score=min_face_score):
            continue
        shown = box.intersection(plan.content_box)
        if shown.width < 0.5 or shown.height < 0.5:  # outside, or a sliver of float rounding
            continue
        found.append(Face(*box, face.score, source=face.source, turns=face.turns))
    return found


def _shared_detector(rgb: np.ndarray, min_size_px: float, min_score: float) -> Sequence[Face]:
    from .analysis.faces import detect_faces  # the detector loads its model on first use

    return detect_faces(rgb, min_size_px=min_size_px, min_score=min_score)


def _shared_recheck(rgb: np.ndarray, min_size_px: float, min_score: float) -> Sequence[Face]:
    """The re-check after a redaction round: every face on its own score (no group rule)."""
    from .analysis.faces import detect_faces

    return detect_faces(rgb, min_size_px=min_size_px, min_score=min_score, group_rule=False)


def _shared_look_again(rgb: np.ndarray, faces: Sequence[Face], min_score: float) -> Sequence[Face]:
    """CenterFace's look at each covered place (the second detector of the face check)."""
    from .analysis.faces import get_detector

    return get_detector().look_again(rgb, list(faces), min_score=min_score)


def apply_face_policy(pixels: np.ndarray, plan: Plan, options: FrameOptions,
                      detect: Detector = _shared_detector, recheck: Detector = _shared_recheck,
                      look_again: SecondLook | None = _shared_look_again) -> tuple[np.ndarray, Plan, tuple[Face, ...]]:
    """Apply ``options.faces`` to the rendered ``pixels`` of ``plan``.

    ``auto`` becomes ``reject`` for a target that refuses faces and ``keep`` elsewhere; ``keep``
    and ``flag`` warn when the target refuses the faces they leave in. For such a target the
    rendered output is also looked at with ``detect`` (check's rule), so a face found only in
    the resampled crop counts as well. Returns the (possibly
    redacted) pixels, the plan with any warning added, and the face regions covered, in
    output pixels. Raises RedactionError when the redaction would cover nearly the whole
    output (nothing of the picture would be left), and warns when it covers most of it.
    """
    target = plan.target
    policy = options.faces.for_target(target.refuses_faces)
    refused = (f"{target.preset or target.name} refuses images with human faces, so check fails "
               "this output (faces='blur' or 'avoid' redacts them)") if target.refuses_faces else ""
    if policy is FacePolicy.KEEP and not target.refuses_faces:
        return pixels, plan, ()
    visible = visible_faces(plan, plan.faces, min_face_px=options.min_face_px,
                            min_face_score=options.min_face_score)
    if not visible and target.refuses_faces and policy in (FacePolicy.KEEP, FacePolicy.FLAG, FacePolicy.REJECT):
        # The output is what the target receives: look at it as check will. A face near the
        # size threshold can be found in the resampled crop and not in the source at its scale.
        visible = _identifiable_in(pixels, detect, options)
    if policy in (FacePolicy.KEEP, FacePolicy.FLAG):
        if visible:
            plan = _warn(plan, f"{len(visible)} identifiable face(s) in the output"
                         + (f"; {refused}" if refused else ""))
        return pixels, plan, ()
    if policy is FacePolicy.REJECT:
        if visible:
            why = "faces='reject'"
            if options.faces is FacePolicy.AUTO:
                why = (f"{target.preset or target.name} refuses images with human faces (the default "
                       "faces='auto' rejects them there; faces='blur' or 'avoid' redacts them, "
                       "faces='keep' writes them anyway)")
            raise FacesFoundError(f"{len(visible)} identifiable face(s) in the output and {why}",
                                  faces=tuple(_to_source(plan, face) for face in visible),
                                  output_boxes=tuple(face.box for face in visible))
        return pixels, plan, ()
    # blur, pixelate, fill -- and avoid, whose window already left out what it could.
    method = FacePolicy.BLUR if policy is FacePolicy.AVOID else policy
    pixels, covered, coverage = redact_faces(pixels, visible, method, detect=detect, recheck=recheck,
                                             look_again=look_again, min_face_px=options.min_face_px,
                                             min_face_score=options.min_face_score)
    if coverage >= REDACTION_REFUSED_COVERAGE:
        raise RedactionError(f"redacting {len(covered)} face region(s) ({method.value}) would cover "
                             f"{coverage:.0%} of the output, leaving nothing of the picture; frame a "
                             "larger region or use a size at which the faces are smaller", coverage=coverage)
    if covered:
        plan = _warn(plan, f"{len(covered)} face region(s) redacted ({method.value})"
                     + (f", covering {coverage:.0%} of the output" if coverage > REDACTION_WARN_COVERAGE else ""))
    return pixels, plan, covered


def _identifiable_in(pixels: np.ndarray, detect: Detector, options: FrameOptions) -> list[Face]:
    """The identifiable faces ``detect`` finds in the rendered output (output pixels)."""
    return [face for face in detect(pixels[..., :3], options.min_face_px, options.min_face_score)
            if is_identifiable(face.size, face.score, min_face_px=options.min_face_px,
                               min_face_score=options.min_face_score)]


def _to_source(plan: Plan, face: Face) -> Face:
    """``face`` (output pixels) mapped back to source pixels after EXIF orientation: the
    inverse of :meth:`Plan.to_output`, so a refused face is stated in the frame every other
    face is (a face found only in the rendered output has no source face to look up)."""
    sx, sy = plan.scale_xy
    crop, content = plan.crop_box, plan.content_box
    return Face((face.x0 - content.x0) / sx + crop.x0, (face.y0 - content.y0) / sy + crop.y0,
                (face.x1 - content.x0) / sx + crop.x0, (face.y1 - content.y0) / sy + crop.y0,
                face.score, source=face.source)


def _warn(plan: Plan, message: str) -> Plan:
    return replace(plan, warnings=plan.warnings + (message,))
