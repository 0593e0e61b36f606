"""Analysis: what the picture contains, computed once per source on a small copy.

The result, :class:`Analysis`, serves every target size framed from the same source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .faces import Face

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
            min_face_score: float = 0.55) -> Analysis:
    """Analyse a loaded image for framing ``region`` (a Box in source pixels).

    Faces are detected on the whole working image (source pixels out); the importance map,
    when asked for, covers the region.
    """
    from .faces import detect_source_faces

    found = detect_source_faces(loaded, min_score=min_face_score) if faces else ()
    if not importance:
        return Analysis(importance=None, faces=found)
    from .saliency import importance_analysis

    return importance_analysis(loaded.pixels, loaded.working_scale, region, faces=found)
