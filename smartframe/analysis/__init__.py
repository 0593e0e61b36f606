"""Analysis: what the picture contains, computed once per source on a small copy.

The stages, one module each:

* :mod:`.saliency` -- the classic cues (geodesic distance, border contrast, spectral
  residual) as a content map on a 96-px copy of the framing region;
* :mod:`.subject` -- the subject network (a student of u2netp) as a map on the same grid;
* :mod:`.fixation` -- the fixation network (where people look, learned from eye tracking) as a
  map on the same grid, from the same input tensor;
* :mod:`.faces` -- face detection (the only door to the face models);
* :mod:`.fusion` -- the maps and the faces -> the importance map the search scores;
* :mod:`.model_files` -- finding and verifying the bundled models, for faces and the maps.

:func:`analyse` runs them for one image: the maps and the faces on two threads when a
second thread is allowed, then the fusion. The result, :class:`Analysis`, serves every
target size framed from the same source.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..geometry import Box
from ..native import second_thread_allowed
from .faces import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, Face, detect_source_faces

__all__ = ["Analysis", "Face", "Maps", "analyse"]


class Maps(str, Enum):
    """Which importance map the strategy scores."""

    SMART = "smart"  # the subject and fixation networks fused with the classic cues, plus the faces
    CLASSIC = "classic"  # the classic cues plus the faces (the map before the subject network)


@dataclass(frozen=True)
class Analysis:
    """What the planner needs to know about a source.

    ``importance`` is the map the search scores: a non-negative float32 map indexed
    ``[row, col]`` on the analysis grid (a small copy of the framing region of the upright
    source), or None when no strategy needs it. The grid maps to source pixels by
    ``col = (x_source - grid_origin[0]) * grid_scale[0]`` (and likewise rows with y).
    ``classic`` (the classic cues, face-free), ``subject`` (the subject network's map, 0..1;
    smart only) and ``fixation`` (the fixation network's map of where people look, 0..1; smart
    only) are the maps it was made from, on the same grid, for the overlay; ``subject_weight``
    and ``fixation_weight`` are their shares of the fused map (0 for classic).
    ``faces`` are in source pixels after EXIF orientation.
    """

    importance: np.ndarray | None
    grid_scale: tuple[float, float] = (1.0, 1.0)
    grid_origin: tuple[float, float] = (0.0, 0.0)
    faces: tuple[Face, ...] = ()
    classic: np.ndarray | None = None
    subject: np.ndarray | None = None
    subject_weight: float = 0.0
    fixation: np.ndarray | None = None
    fixation_weight: float = 0.0
    #: The faces that steer the window (:func:`~.fusion.steering_faces`); None: all of ``faces``.
    steering_faces: tuple[Face, ...] | None = None

    @property
    def framing_faces(self) -> tuple[Face, ...]:
        """The faces the window search weighs and never cuts."""
        return self.faces if self.steering_faces is None else self.steering_faces


def analyse(pixels: np.ndarray, pixel_scale: tuple[float, float], region: Box, *,
            maps: Maps | None, faces: bool, min_face_px: float = DEFAULT_MIN_SIZE_PX,
            min_face_score: float = DEFAULT_MIN_SCORE) -> Analysis:
    """Analyse an image for framing ``region`` (a Box in source pixels).

    ``pixels``: the upright image as HxWx3 (or 4) uint8 RGB at any resolution, with
    ``pixel_scale`` = its pixels per source pixel along x and y. ``maps``: which importance
    map to make (None: none). ``faces``: detect faces, on the whole image (not only the
    region); ``min_face_px`` is the smallest face that matters, in source pixels, and
    ``min_face_score`` the detection score a face needs.

    Returns boxes in source pixels. When both the maps and the faces are wanted, the maps
    are made on a second thread while the faces are detected (OpenCV and NumPy release the
    GIL), unless :func:`~smartframe.native.second_thread_allowed` says no (a batch worker per
    core); both orders give the same result.
    """
    def detect() -> tuple[Face, ...]:
        return detect_source_faces(pixels, pixel_scale, min_size_px=min_face_px, min_score=min_face_score)

    if maps is None:
        return Analysis(importance=None, faces=detect() if faces else ())
    short_side = min(pixels.shape[1] / pixel_scale[0], pixels.shape[0] / pixel_scale[1])  # source px
    if not faces:
        return _fuse(_maps(pixels, pixel_scale, region, maps), (), short_side)
    if not second_thread_allowed():
        found = detect()
        return _fuse(_maps(pixels, pixel_scale, region, maps), found, short_side)
    # A fresh one-thread pool per call: starting a thread costs ~0.1 ms, and unlike a
    # long-lived pool it cannot be left without its thread in a forked batch worker.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartframe-maps") as pool:
        made = pool.submit(_maps, pixels, pixel_scale, region, maps)
        found = detect()
        return _fuse(made.result(), found, short_side)


@dataclass(frozen=True)
class _RegionMaps:
    """The face-free maps of a region on its grid (see :class:`Analysis` for the frame)."""

    classic: np.ndarray
    subject: np.ndarray | None
    fixation: np.ndarray | None
    grid_scale: tuple[float, float]
    grid_origin: tuple[float, float]


def _maps(pixels: np.ndarray, pixel_scale: tuple[float, float], region: Box, maps: Maps) -> _RegionMaps:
    from .saliency import content_analysis, region_pixels

    content = content_analysis(pixels, pixel_scale, region)
    subject = fixation = None
    if maps is Maps.SMART:
        from . import fixation as fixation_stage
        from . import subject as subject_stage

        # Loaded (and verified) even for a flat image: warm-ups load them.
        subject_net, fixation_net = subject_stage.get_network(), fixation_stage.get_network()
        if not content.flat:  # a flat image: nothing for the networks to find
            tensor = subject_stage.network_input(region_pixels(pixels, pixel_scale, region))
            shape = content.content.shape
            subject = subject_stage.subject_map(None, shape, network=subject_net, tensor=tensor)
            fixation = fixation_stage.fixation_map(None, shape, network=fixation_net, tensor=tensor)
    return _RegionMaps(content.content, subject, fixation, content.grid_scale, content.origin)


def _fuse(made: _RegionMaps, faces: tuple[Face, ...], source_short_side: float) -> Analysis:
    from .fusion import face_grid_boxes, fused_importance, steering_faces

    steering = steering_faces(faces, source_short_side)
    boxes = face_grid_boxes(steering, made.grid_scale, made.grid_origin, made.classic.shape)
    fused = fused_importance(made.classic, made.subject, boxes, fixation=made.fixation)
    return Analysis(importance=fused.importance, grid_scale=made.grid_scale, grid_origin=made.grid_origin,
                    faces=faces, classic=made.classic, subject=made.subject, subject_weight=fused.subject_weight,
                    fixation=made.fixation, fixation_weight=fused.fixation_weight, steering_faces=steering)
