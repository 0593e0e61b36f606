"""What a plan does with each detected face: which faces steer the window, and where each ends up.

Part of planning (imported by :mod:`smartframe.plan` only). Not every detected face steers the
cover window; the rule, stated once here and used both to choose the faces the search weighs
and to report on them, so the report cannot drift from what was done:

* only the ``smart`` and ``classic`` strategies place the window by looking at faces
  (``centre`` and ``focus`` do not; ``pad`` and ``stretch`` have no window to place);
* under the default policies, a face steers when it is at least
  ``FusionParams.steering_min_face_share`` (5%) of the image's shorter side, was accepted on its
  own detection score (not only by the detector's group rule, which corroborates a crowd's
  faces for screening but also accepts lanterns and signs beside a real face), and counts as
  identifiable at the output's scale (``min_face_px``, ``min_face_score``);
* under ``faces="avoid"`` every face identifiable at the output's scale steers (it is kept out).

A steering face that fits in the window is never cut; one that is longer than the window, or
that does not fit beside the others, can be. Faces that do not steer can be cut or left out.
Every reported face gets a :class:`FaceOutcome`, and :func:`faces_summary` words the plan's
reason from them ("faces: kept 3 of 7 whole; 1 cut: too small to steer"). The words of
``why``: "too small to steer" (under 5% of the shorter side), "group rule only" (accepted only
by the detector's group rule), "too small in the output" (under ``min_face_px`` at the output's
scale), "score below min_face_score", "strategy 'centre' does not look at faces", "fit 'pad'
shows the whole region", and for a steering face: "larger than the window", "not all faces
fit", "could not be kept out" (``avoid``).

Frames: face boxes and the crop box in source pixels after EXIF orientation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from .analysis import Analysis, Face
from .analysis.faces import is_identifiable
from .geometry import Box, Size
from .options import FacePolicy, Fit, FrameOptions, Strategy

__all__ = ["FaceOutcome", "face_roles", "face_outcomes", "faces_summary", "WHOLE", "CUT", "OUTSIDE"]

WHOLE, CUT, OUTSIDE = "whole", "cut", "outside"

# The words of ``why`` (short: the reason lists them; the module docstring says what each means).
TOO_SMALL_TO_STEER = "too small to steer"  # under steering_min_face_share of the shorter side
GROUP_RULE_ONLY = "group rule only"  # accepted only by the detector's group rule
TOO_SMALL_IN_OUTPUT = "too small in the output"  # under min_face_px at the output's scale
LOW_SCORE = "score below min_face_score"
LARGER_THAN_WINDOW = "larger than the window"
NOT_ALL_FIT = "not all faces fit"
NOT_KEPT_OUT = "could not be kept out"


@dataclass(frozen=True)
class FaceOutcome:
    """What the plan did with one reported face.

    ``in_window``: ``"whole"`` (inside the crop box within one output pixel -- or one source
    pixel when the output enlarges: the crop box may be moved that little onto the grid the
    renderer reads, see ``plan._snap_when_exact_enough``), ``"cut"`` (partly
    inside) or ``"outside"``; ``shown``: the share of the face's box (the part inside the image)
    that is inside the crop box, 0..1; ``steers``: whether the face bound the window's placement
    (see the module docstring); ``why``: why it does not steer, or why a steering face is not
    where its policy wanted it (empty otherwise).
    """

    in_window: str
    shown: float
    steers: bool
    why: str = ""

    def to_dict(self) -> dict:
        return {"in_window": self.in_window, "shown": round(self.shown, 3), "steers": self.steers,
                "why": self.why}


def face_roles(analysis: Analysis, options: FrameOptions, strategy: Strategy | None, fit: Fit,
               window: tuple[float, float] | None, output: Size) -> list[tuple[bool, str]]:
    """For each face of ``analysis.faces``: (steers, why not). ``window`` is the cover window's
    (width, height) in source pixels (None without one); ``output`` the output size."""
    faces = analysis.faces
    if fit is not Fit.COVER or window is None:
        return [(False, f"fit '{fit.value}' shows the whole region")] * len(faces)
    if strategy not in (Strategy.SMART, Strategy.CLASSIC):
        name = strategy.value if strategy is not None else "none"
        return [(False, f"strategy '{name}' does not look at faces")] * len(faces)
    if analysis.importance is None:
        return [(False, "no importance map")] * len(faces)
    avoid = options.faces is FacePolicy.AVOID
    steering = analysis.framing_faces
    scale = output.width / window[0]  # output pixels per source pixel
    roles = []
    for face in faces:
        if not avoid and face not in steering:
            roles.append((False, GROUP_RULE_ONLY if face.source == "group" else TOO_SMALL_TO_STEER))
        elif face.score < options.min_face_score:
            roles.append((False, LOW_SCORE))
        elif not is_identifiable(face.size * scale, face.score, min_face_px=options.min_face_px,
                                 min_face_score=options.min_face_score):
            roles.append((False, TOO_SMALL_IN_OUTPUT))
        else:
            roles.append((True, ""))
    return roles


def face_outcomes(faces: Sequence[Face], roles: Sequence[tuple[bool, str]], crop_box: Box,
                  source_size: Size, avoid: bool, *, tolerance: float = 1.0) -> tuple[FaceOutcome, ...]:
    """Where each face ended up relative to ``crop_box``, with its role (see :func:`face_roles`).
    A face is whole when no more than ``tolerance`` source pixels of it lie outside."""
    image = Box.from_size(source_size)
    outcomes = []
    for face, (steers, why) in zip(faces, roles):
        box = face.box.intersection(image)
        if box.area <= 0:  # a box wholly past the border: nothing of it can be shown
            outcomes.append(FaceOutcome(OUTSIDE, 0.0, steers, why))
            continue
        inside = box.intersection(crop_box).area
        shown = min(1.0, inside / box.area)
        if crop_box.contains(box, tolerance=tolerance):
            state = WHOLE
        elif inside <= 0:
            state = OUTSIDE
        else:
            state = CUT
        if steers and avoid and state != OUTSIDE:
            why = NOT_KEPT_OUT
        elif steers and not avoid and state != WHOLE:
            along_x = crop_box.width < source_size.width - 1e-6  # the window moves along x
            longer = box.width > crop_box.width + 1e-6 if along_x else box.height > crop_box.height + 1e-6
            why = LARGER_THAN_WINDOW if longer else NOT_ALL_FIT
        outcomes.append(FaceOutcome(state, shown, steers, why))
    return tuple(outcomes)


def faces_summary(outcomes: Sequence[FaceOutcome], avoid: bool) -> str:
    """The faces part of a plan's reason, e.g. ``"faces: kept 3 of 7 whole; 1 cut: too small to
    steer; 3 outside: not all faces fit"``. Empty without faces.

    Under ``avoid`` it counts the faces kept out and says why any is shown."""
    total = len(outcomes)
    if not total:
        return ""
    if avoid:
        head = f"faces: kept {sum(o.in_window == OUTSIDE for o in outcomes)} of {total} out of the window"
        shown_states = (CUT, WHOLE)
    else:
        head = f"faces: kept {sum(o.in_window == WHOLE for o in outcomes)} of {total} whole"
        shown_states = (CUT, OUTSIDE)
    parts = [head]
    for state in shown_states:
        groups = Counter(o.why for o in outcomes if o.in_window == state)
        for why, count in groups.items():
            label = "whole in it" if state == WHOLE else state
            parts.append(f"{count} {label}" + (f": {why}" if why else ""))
    return "; ".join(parts)
