"""Faces: the Face record. The detector joins this module (the only door to mediapipe / cv2.dnn)."""

from __future__ import annotations

from dataclasses import dataclass

from ..geometry import Box

__all__ = ["Face"]


@dataclass(frozen=True)
class Face:
    """One detected face: a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive) and a score 0..1.

    The frame is stated by whoever holds the face; in plans and results it is source pixels
    after EXIF orientation.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def box(self) -> Box:
        return Box(self.x0, self.y0, self.x1, self.y1)

    @property
    def size(self) -> float:
        """The longer side of the box, in the box's pixels."""
        return max(self.x1 - self.x0, self.y1 - self.y0)

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face on another pixel grid (x times ``sx``, y times ``sy``)."""
        return Face(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy, self.score)

    def to_dict(self, ndigits: int = 1) -> dict:
        return {
            "box": [round(float(v), ndigits) for v in (self.x0, self.y0, self.x1, self.y1)],
            "size": round(float(self.size), ndigits),
            "score": round(float(self.score), 3),
        }


def detect_source_faces(loaded, *, min_score: float):  # interim: the detector lands with issue 4
    raise NotImplementedError


def identifiable_faces(loaded, *, min_face_px: float, min_face_score: float):  # interim
    raise NotImplementedError
