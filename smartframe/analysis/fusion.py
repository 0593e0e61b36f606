"""Fusion: the classic cues, the subject map, the fixation map and the faces -> one importance map.

Inputs, all on the analysis grid of one framing region (indexed ``[row, col]``; face boxes
``(x0, y0, x1, y1, score)`` in grid pixels, x = column):

* the classic content map (:func:`~smartframe.analysis.saliency.content_map`: geodesic
  distance, border contrast, spectral residual; non-negative, about mean 1);
* the subject map (:func:`~smartframe.analysis.subject.subject_map`: 0..1, where the objects are);
* the fixation map (:func:`~smartframe.analysis.fixation.fixation_map`: 0..1, where people look);
* the detected faces.

The fused map is ``(1 - ws - wf) * mean1(classic) + ws * mean1(subject ** gs) + wf *
mean1(fixation ** gf)`` (``mean1`` scales a map to mean 1, so each part carries the same total
mass whatever its contrast), then the face blocks of
:func:`~smartframe.analysis.saliency.add_face_blocks` on top. The weights and powers were chosen
on the tune half of the ground-truth sets and on the fixation network's own validation photos
(``benchmarks/README.md``): a square root flattens the subject network's confident core so that
the mass spreads over the whole subject; the fixation map adds where viewers look (heads, faces,
text), which object maps miss.

The per-image weight: ``w`` is the same for every image; the per-image rules tried (the
network's confidence, the spread and compactness of its mask, agreement with the cues, faces)
did not beat a fixed weight on the tune half (see ``benchmarks/README.md``), so the fixed
weight is what ships, and :func:`subject_weight` is where a rule would go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..geometry import Box
from .faces import Face
from .saliency import DEFAULT_PARAMS, SaliencyParams, add_face_blocks

__all__ = ["FusionParams", "DEFAULT_FUSION", "Fused", "mean_one", "subject_weight", "fuse_maps",
           "steering_min_size", "steering_faces", "face_grid_boxes", "fused_importance"]

_EPS = 1e-9


@dataclass(frozen=True)
class FusionParams:
    """Fusion constants, chosen on the tune half (not guessed)."""

    subject_weight: float = 0.5  # ws: the subject map's share of the fused map's mass
    subject_gamma: float = 0.5  # the subject map is raised to this power before mean-1 scaling
    fixation_weight: float = 0.1  # wf: the fixation map's share of the fused map's mass
    fixation_gamma: float = 1.0  # the fixation map is raised to this power before mean-1 scaling
    # A face shorter than this share of the source's shorter side does not steer the window
    # (no face block, not bound by the never-cut rule); it is still detected, reported and seen
    # by every face policy. Background people in a photo about something else: on the tune
    # half, 0.04-0.06 lifted the fixation folder from +0.11 to +0.20/+0.21 with every other
    # folder unchanged; 0.03 changed nothing, 0.12 cost the face folder (benchmarks/README.md).
    steering_min_face_share: float = 0.05
    # A face the detector accepted only through its group rule (a crowd's faces corroborating
    # each other, which screening needs so as not to miss one) does not steer the window
    # either: on the tune half that rule also turned lanterns and signs beside a real face into
    # "faces" that outweighed it; without them the fixation folder went from +0.21 to +0.30.
    steering_needs_own_score: bool = True


DEFAULT_FUSION = FusionParams()


def mean_one(values: np.ndarray) -> np.ndarray:
    """``values`` (clipped at 0) scaled to mean 1; a map without mass becomes uniform."""
    values = np.maximum(values, 0).astype(np.float32)
    mean = float(values.mean())
    return values / mean if mean > _EPS else np.ones_like(values)


def subject_weight(classic: np.ndarray, subject: np.ndarray, params: FusionParams = DEFAULT_FUSION) -> float:
    """How much of the fused map comes from the subject map for this image (0..1).

    0 when the network saw nothing (a flat subject map: no mass to add); otherwise the fixed
    weight measured on the tune half.
    """
    if float(subject.max()) <= _EPS:
        return 0.0
    return params.subject_weight


def fuse_maps(classic: np.ndarray, subject: np.ndarray, params: FusionParams = DEFAULT_FUSION, *,
              fixation: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """The face-free fused map (float32, mean 1, on the classic map's grid) and the subject and
    fixation weights used.

    ``classic``, ``subject`` and ``fixation`` (None: no fixation map) are maps of the same shape
    on the same grid. A flat network map (all zeros: the network saw nothing) gets no weight.
    """
    for name, other in (("subject", subject), ("fixation", fixation)):
        if other is not None and other.shape != classic.shape:
            raise ValueError(f"the classic map is {classic.shape} and the {name} map {other.shape}: "
                             "they must be on the same grid")
    ws = subject_weight(classic, subject, params)
    wf = params.fixation_weight if fixation is not None and float(fixation.max()) > _EPS else 0.0
    fused = (1.0 - ws - wf) * mean_one(classic)
    if ws > 0:
        fused = fused + ws * mean_one(_power(subject, params.subject_gamma))
    if wf > 0:
        fused = fused + wf * mean_one(_power(fixation, params.fixation_gamma))
    return fused.astype(np.float32), ws, wf


def _power(values: np.ndarray, gamma: float) -> np.ndarray:
    return values if gamma == 1 else np.power(np.maximum(values, 0), gamma)


def steering_min_size(source_short_side: float, params: FusionParams = DEFAULT_FUSION) -> float:
    """The size (longer side, source pixels) from which a face steers the window:
    ``params.steering_min_face_share`` x ``source_short_side`` (source pixels). The pipeline
    searches faces from this size on when they only steer the window (no policy acts on them)."""
    return params.steering_min_face_share * source_short_side


def steering_faces(faces: Sequence[Face], source_short_side: float,
                   params: FusionParams = DEFAULT_FUSION) -> tuple[Face, ...]:
    """The faces (source pixels) that steer the window: those at least
    :func:`steering_min_size` long, and accepted on their own re-look score rather than the
    detector's group rule."""
    floor = steering_min_size(source_short_side, params)
    return tuple(face for face in faces if face.size >= floor
                 and not (params.steering_needs_own_score and face.source == "group"))


def face_grid_boxes(faces: Sequence[Face], grid_scale: tuple[float, float], grid_origin: tuple[float, float],
                    shape: tuple[int, int]) -> list[tuple[float, float, float, float, float]]:
    """Faces (source pixels) as ``(x0, y0, x1, y1, score)`` boxes on a grid of ``shape`` (rows,
    cols) that maps to source pixels by ``grid_scale`` and ``grid_origin``; clipped to the grid,
    faces outside it dropped."""
    (sx, sy), (ox, oy) = grid_scale, grid_origin
    grid = Box(0, 0, shape[1], shape[0])
    boxes = []
    for face in faces:
        box = Box((face.x0 - ox) * sx, (face.y0 - oy) * sy, (face.x1 - ox) * sx, (face.y1 - oy) * sy)
        clipped = box.intersection(grid)
        if clipped.area > 0:
            boxes.append((*clipped, face.score))
    return boxes


@dataclass(frozen=True)
class Fused:
    """The importance map the search scores (float32, non-negative, on the analysis grid) and
    the shares of the subject and fixation maps in it (0 when not used)."""

    importance: np.ndarray
    subject_weight: float
    fixation_weight: float


def fused_importance(classic: np.ndarray, subject: np.ndarray | None,
                     face_boxes: Sequence[Sequence[float]] = (), *,
                     fixation: np.ndarray | None = None,
                     params: FusionParams = DEFAULT_FUSION,
                     saliency: SaliencyParams = DEFAULT_PARAMS) -> Fused:
    """The importance map the search scores, with the weights used.

    ``subject=None`` is the classic strategy: the classic map plus the face blocks, exactly as
    before the networks existed (``fixation`` is then ignored). ``face_boxes``:
    ``(x0, y0, x1, y1, score)`` in grid pixels.
    """
    if subject is None:
        return Fused(add_face_blocks(classic, face_boxes, saliency), 0.0, 0.0)
    fused, ws, wf = fuse_maps(classic, subject, params, fixation=fixation)
    return Fused(add_face_blocks(fused, face_boxes, saliency), ws, wf)
