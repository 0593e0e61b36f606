"""The result type of face detection (one face, a box and a score) and what counts as one.

A face is *identifiable* -- the faces the policies act on and ``check`` reports -- when its
score is at least ``min_face_score`` and its box at least :data:`SIZE_MARGIN` x ``min_face_px``
pixels of the size that matters (the output when framing, the target size when checking).
The margin is there because a detected box is a measurement: matched against labelled faces,
YuNet's boxes have the labelled size at the median but a tenth of them are 13% or more
smaller, so without it a 20 px face is often reported as 18 px and let through.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...geometry import Box

__all__ = ["Face", "DEFAULT_MIN_SIZE_PX", "DEFAULT_MIN_SCORE", "SIZE_MARGIN", "is_identifiable"]

#: The smallest face that matters (the larger side of its box), in the pixels that matter.
DEFAULT_MIN_SIZE_PX = 20.0
#: The score a face needs: the detector's re-look score (see :mod:`.detector`). Chosen on the
#: tune half of the research sets so that about 1 face-free photo in 100 is flagged.
DEFAULT_MIN_SCORE = 0.80
#: A face counts from this fraction of ``min_face_px`` (YuNet's box size spread, see above).
SIZE_MARGIN = 0.85


def is_identifiable(size_px: float, score: float, *, min_face_px: float, min_face_score: float) -> bool:
    """Whether a face whose box's larger side is ``size_px`` (in the pixels that matter) and
    whose score is ``score`` counts as identifiable."""
    return score >= min_face_score and size_px >= SIZE_MARGIN * min_face_px


@dataclass(frozen=True)
class Face:
    """One detected face: a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive) and a score 0..1.

    The frame is stated by whoever holds the face: the array given to the detector, or --
    in plans and results -- source pixels after EXIF orientation. Boxes may extend a
    little past the image border for faces cut by it. ``keypoints`` are YuNet's five
    landmarks (the subject's right eye, left eye, nose tip, right and left mouth corner) in
    the same frame; ``source`` names the rule that accepted the face (``"relook"``: its own
    re-look score; ``"second"``: CenterFace's second opinion; ``"group"``: one of several faces
    corroborating each other). ``turns``: the quarter turns (counter-clockwise) of the image in
    which the face was found upright (0: the face is upright in the image; 1: it lies on its
    right side...), so a later look at its place can look the same way.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: tuple[tuple[float, float], ...] | None = None
    source: str = ""
    turns: int = 0

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
        return Face(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy, self.score, keypoints, self.source,
                    self.turns)

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer box (x0, y0, x1, y1) covering the face, clipped to ``width x height``."""
        return self.box.clipped(width, height)

    def to_dict(self, ndigits: int = 1) -> dict:
        return {
            "box": [round(float(v), ndigits) for v in (self.x0, self.y0, self.x1, self.y1)],
            "size": round(float(self.size), ndigits),
            "score": round(float(self.score), 3),
        }
