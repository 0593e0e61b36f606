"""The result type of face detection: one face, a box and a score."""

from __future__ import annotations

from dataclasses import dataclass

from ...geometry import Box

__all__ = ["Face", "DEFAULT_MIN_SIZE_PX", "DEFAULT_MIN_SCORE"]

#: Faces whose box (the larger of width and height, in input pixels) is smaller are not reported.
DEFAULT_MIN_SIZE_PX = 20.0
#: Minimum detection confidence (sigmoid score) of a reported face. At 0.55 every face
#: photo of the benchmark is flagged and 2 of 106 face-free photos are; at 0.6 none of
#: those are, but one athlete photo is missed (benchmarks/README.md).
DEFAULT_MIN_SCORE = 0.55


@dataclass(frozen=True)
class Face:
    """One detected face: a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive) and a score 0..1.

    The frame is stated by whoever holds the face: the array given to the detector, or --
    in plans and results -- source pixels after EXIF orientation. Boxes may extend a
    little past the image border for faces cut by it. ``keypoints`` are BlazeFace's six
    points (right eye, left eye, nose tip, mouth centre, right ear, left ear; from the
    subject's view) in the same frame; ``source`` names the pass that found the face.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: tuple[tuple[float, float], ...] | None = None
    source: str = ""

    @property
    def box(self) -> Box:
        return Box(self.x0, self.y0, self.x1, self.y1)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def size(self) -> float:
        """The longer side of the box, in the box's pixels."""
        return max(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face on another pixel grid (x times ``sx``, y times ``sy``)."""
        keypoints = None if self.keypoints is None else tuple((x * sx, y * sy) for x, y in self.keypoints)
        return Face(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy, self.score, keypoints, self.source)

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer box (x0, y0, x1, y1) covering the face, clipped to ``width x height``."""
        return self.box.clipped(width, height)

    def to_dict(self, ndigits: int = 1) -> dict:
        return {
            "box": [round(float(v), ndigits) for v in (self.x0, self.y0, self.x1, self.y1)],
            "size": round(float(self.size), ndigits),
            "score": round(float(self.score), 3),
        }
