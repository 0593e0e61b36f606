"""Analysis: what the picture contains, computed once per source on a small copy.

The result, :class:`Analysis`, serves every target size framed from the same source.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

import numpy as np

from ..native import second_thread_allowed
from .faces import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, Face

__all__ = ["Analysis", "Face"]


@dataclass(frozen=True)
class Analysis:
    """What the planner needs to know about a source.

    ``importance`` is a non-negative float32 map indexed ``[row, col]`` on the analysis grid
    (a small copy of the framing region of the upright source), or None when no strategy
    needs it. The grid maps to source pixels by
    ``col = (x_source - grid_origin[0]) * grid_scale[0]`` (and likewise rows with y).
    ``faces`` are in source pixels after EXIF orientation.
    """

    importance: np.ndarray | None
    grid_scale: tuple[float, float] = (1.0, 1.0)
    grid_origin: tuple[float, float] = (0.0, 0.0)
    faces: tuple[Face, ...] = ()


def analyse(loaded, region, *, importance: bool, faces: bool,
            min_face_px: float = DEFAULT_MIN_SIZE_PX,
            min_face_score: float = DEFAULT_MIN_SCORE) -> Analysis:
    """Analyse a loaded image for framing ``region`` (a Box in source pixels).

    Faces are detected on the whole working image (source pixels out), down to
    ``min_face_px`` *source* pixels (the caller converts the output's minimum); the importance map,
    when asked for, covers the region. When both are wanted, the face-free content map is
    computed on a second thread while the faces are detected (OpenCV and NumPy release the
    GIL), and the face blocks are added once both are done -- unless
    :func:`~smartframe.native.second_thread_allowed` says no (a batch worker per core).
    """
    from .faces import detect_source_faces

    if not importance:
        found = detect_source_faces(loaded, min_size_px=min_face_px, min_score=min_face_score) if faces else ()
        return Analysis(importance=None, faces=found)
    from .saliency import content_analysis

    if not faces:
        return content_analysis(loaded.pixels, loaded.working_scale, region).with_faces(())
    if not second_thread_allowed():
        found = detect_source_faces(loaded, min_size_px=min_face_px, min_score=min_face_score)
        return content_analysis(loaded.pixels, loaded.working_scale, region).with_faces(found)
    # A fresh one-thread pool per call: starting a thread costs ~0.1 ms, and unlike a
    # long-lived pool it cannot be left without its thread in a forked batch worker.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartframe-content") as pool:
        content = pool.submit(content_analysis, loaded.pixels, loaded.working_scale, region)
        found = detect_source_faces(loaded, min_size_px=min_face_px, min_score=min_face_score)
        return content.result().with_faces(found)
