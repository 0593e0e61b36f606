"""Sizes, boxes and aspect arithmetic. Pure functions, no pixels.

Conventions used everywhere in smartframe:

* Sizes are ``(width, height)`` in pixels.
* Boxes are ``(x0, y0, x1, y1)``: x is the column, y the row, the origin is the top-left
  corner of the top-left pixel, ``x1``/``y1`` are exclusive. Coordinates may be fractional
  (a cover window of an exact aspect ratio rarely falls on whole pixels).
* Unless a docstring says otherwise, boxes are in *source pixels after EXIF orientation*:
  the frame of the upright, full-resolution input image.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import NamedTuple

from .errors import OptionError

__all__ = [
    "Size",
    "Box",
    "parse_size",
    "parse_ratio",
    "whole_number",
    "refuse_non_ascii_digits",
    "cover_window_size",
    "contain_size",
    "place_window",
    "WorkingGrid",
]


class Size(NamedTuple):
    """A size in whole pixels, ``(width, height)``."""

    width: int
    height: int

    @property
    def aspect(self) -> float:
        """Width divided by height."""
        return self.width / self.height

    @property
    def area(self) -> int:
        return self.width * self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class Box(NamedTuple):
    """A rectangle ``(x0, y0, x1, y1)``; x1/y1 exclusive; see the module docstring for the frame."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    @classmethod
    def from_size(cls, size: tuple[float, float]) -> Box:
        """The box covering a whole image of ``size``."""
        return cls(0.0, 0.0, float(size[0]), float(size[1]))

    def scaled(self, sx: float, sy: float) -> Box:
        """This box with x multiplied by ``sx`` and y by ``sy`` (a change of pixel grid)."""
        return Box(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The whole pixels (x0, y0, x1, y1) covering this box, clipped to ``width x height``."""
        def clamp(value: float, limit: int) -> float:
            return min(max(value, 0.0), float(limit))  # before rounding, so inf clamps too

        return (math.floor(clamp(self.x0, width)), math.floor(clamp(self.y0, height)),
                math.ceil(clamp(self.x1, width)), math.ceil(clamp(self.y1, height)))

    def intersection(self, other: Box) -> Box:
        """The overlap of two boxes; its area is 0 when they do not overlap."""
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        return Box(x0, y0, max(x0, x1), max(y0, y1))

    def contains(self, other: Box, tolerance: float = 1e-6) -> bool:
        """True when ``other`` lies inside this box (within ``tolerance`` pixels)."""
        return (
            other.x0 >= self.x0 - tolerance
            and other.y0 >= self.y0 - tolerance
            and other.x1 <= self.x1 + tolerance
            and other.y1 <= self.y1 + tolerance
        )

    def iou(self, other: Box) -> float:
        """Intersection over union, 0..1."""
        inter = self.intersection(other).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def rounded(self, ndigits: int = 3) -> list[float]:
        """The four coordinates as a list, rounded for reports."""
        return [round(float(v), ndigits) for v in self]


# ASCII digits only: Python's \d (and int()) would also read full-width and Arabic-Indic digits.
_SIZE_PATTERN = re.compile(r"^\s*([0-9]+)\s*[xX\u00d7]\s*([0-9]+)\s*$")
_RATIO_PATTERN = re.compile(r"^\s*([0-9]+)\s*:\s*([0-9]+)\s*$")

# A sanity bound on requested output sizes, far above any provider's: it keeps a typo from
# allocating gigabytes. (WebP's own limit is one less, 16383 px: see encode.check_format_size.)
MAX_OUTPUT_SIDE = 16384


def whole_number(value: object) -> int | None:
    """``value`` as a Python int when it is a whole number (int or a NumPy integer, not a
    bool), else None."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def type_names(values) -> str:
    """The type names of ``values``, for messages that say what was given."""
    return ", ".join(type(v).__name__ for v in values)


def refuse_non_ascii_digits(text: str, field: str) -> None:
    """Raise OptionError when ``text`` has digits other than ASCII 0-9 (full-width, Arabic-Indic,
    ...), which Python's int() and float() would otherwise read silently."""
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        raise OptionError(field, text, "numbers written with the ASCII digits 0-9")


def parse_ratio(value: str) -> tuple[int, int] | None:
    """``(w, h)`` when ``value`` is written as an aspect ratio ``"W:H"`` (ASCII digits), else None."""
    match = _RATIO_PATTERN.match(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_size(value: object, *, field: str = "size") -> Size:
    """Read an output size in pixels from ``"WxH"``, ``(w, h)`` or a :class:`Size`.

    Raises :class:`OptionError` naming ``field`` when the value is not a size of positive
    whole pixels no larger than 16384 on a side. ``"W:H"`` is an aspect ratio, not a size:
    it is refused here (a preset can take one: ``"sora-2-pro:16:9"``). Whole numbers may be
    NumPy integers; digits must be ASCII.

    >>> parse_size("1280x720")
    Size(width=1280, height=720)
    >>> parse_size((720, 1280))
    Size(width=720, height=1280)
    """
    width = height = None
    if isinstance(value, str):
        refuse_non_ascii_digits(value, field)
        match = _SIZE_PATTERN.match(value)
        if match:
            width, height = int(match.group(1)), int(match.group(2))
        elif parse_ratio(value):
            raise OptionError(field, value, '"W:H" is an aspect ratio, not pixels: give pixels as "WxH" '
                              '("1280x720"), or a preset and a ratio ("sora-2-pro:16:9")')
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        w, h = (whole_number(v) for v in value)
        if w is None or h is None:
            raise OptionError(field, value, f"two whole numbers of pixels (width, height); got {type_names(value)}")
        width, height = w, h
    if width is None or height is None:
        raise OptionError(field, value, 'a size like "1280x720" or (1280, 720), or a preset name')
    if not (1 <= width <= MAX_OUTPUT_SIDE and 1 <= height <= MAX_OUTPUT_SIDE):
        raise OptionError(field, value, f"width and height must be 1..{MAX_OUTPUT_SIDE} pixels")
    return Size(width, height)


def cover_window_size(region: Box, target: Size) -> tuple[float, float]:
    """The largest window of ``target``'s aspect ratio that fits inside ``region``.

    Returns ``(width, height)`` in the region's units. The window spans the region fully
    along one axis (the "fixed" axis) and is free to move along the other.
    """
    scale = min(region.width / target.width, region.height / target.height)
    width, height = target.width * scale, target.height * scale
    # The spanning side must be exactly the region's side, not 1e-13 off it.
    if math.isclose(width, region.width, rel_tol=1e-12):
        width = region.width
    if math.isclose(height, region.height, rel_tol=1e-12):
        height = region.height
    return width, height


def contain_size(region: Box, target: Size) -> Size:
    """The size, in whole output pixels, of ``region`` scaled to fit inside ``target``.

    Used by ``fit="pad"``: the content keeps its aspect ratio (within half an output pixel of
    rounding) and at least one side equals the target's.
    """
    scale = min(target.width / region.width, target.height / region.height)
    width = min(target.width, max(1, round(region.width * scale)))
    height = min(target.height, max(1, round(region.height * scale)))
    return Size(width, height)


def place_window(
    region: Box, window: tuple[float, float], centre: tuple[float, float]
) -> Box:
    """Put a ``window`` (width, height) so that its centre is as close to ``centre`` as the
    ``region`` allows. All in the same pixel frame; the window must fit in the region."""
    width, height = window
    x0 = min(max(centre[0] - width / 2, region.x0), region.x1 - width)
    y0 = min(max(centre[1] - height / 2, region.y0), region.y1 - height)
    return Box(x0, y0, x0 + width, y0 + height)


class WorkingGrid(NamedTuple):
    """How the pixels of a working image (a reduced decode) lie on the source.

    Working pixel ``k`` along x covers the source pixels from ``origin[0] + k * reduction[0]``
    to the next pixel's start, clipped to the source: every pixel is ``reduction`` source
    pixels wide except the first and last, which the source's edges may cut (a reduced
    decode averages whole blocks, and the last block along a stored axis is partial; an EXIF
    flip can put it first, hence an ``origin`` below 0). So the map between the two frames is
    exact and piecewise linear: uniform inside, compressed in a cut edge pixel, and the
    source's edges are the working image's edges. Sizes are ``(width, height)``.
    """

    source_size: Size
    working_size: Size
    reduction: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def scaled(cls, source_size: Size, scale: tuple[float, float]) -> WorkingGrid:
        """A grid that is the source scaled by ``scale`` (working pixels per source pixel),
        its pixels starting at the source's origin."""
        working = Size(max(1, math.ceil(source_size.width * scale[0] - 1e-9)),
                       max(1, math.ceil(source_size.height * scale[1] - 1e-9)))
        return cls(Size(*source_size), working, (1.0 / scale[0], 1.0 / scale[1]))

    @property
    def scale(self) -> tuple[float, float]:
        """Working pixels per source pixel inside the image (away from a cut edge pixel)."""
        return (1.0 / self.reduction[0], 1.0 / self.reduction[1])

    def _lines(self, axis: int) -> tuple[float, float, float, int]:
        """(origin, reduction, source side, working side) along ``axis`` (0: x, 1: y)."""
        return self.origin[axis], self.reduction[axis], float(self.source_size[axis]), self.working_size[axis]

    def _to_working(self, value: float, axis: int) -> float:
        origin, step, side, n = self._lines(axis)
        value = min(max(value, 0.0), side)
        first_end = min(side, origin + step)
        last_start = max(0.0, origin + step * (n - 1))
        if n == 1:
            return value / side
        if value < first_end:
            return value / first_end
        if value > last_start:
            return (n - 1) + (value - last_start) / (side - last_start)
        return (value - origin) / step

    def _to_source(self, line: float, axis: int) -> float:
        """The source coordinate of working grid line ``line`` (a whole number)."""
        origin, step, side, _ = self._lines(axis)
        return min(max(origin + step * line, 0.0), side)

    def to_working(self, box: Box) -> Box:
        """``box`` (source pixels, clipped to the source) in working pixels, exactly."""
        return Box(self._to_working(box.x0, 0), self._to_working(box.y0, 1),
                   self._to_working(box.x1, 0), self._to_working(box.y1, 1))

    def to_source(self, box: Box) -> Box:
        """A box on whole working pixels, in source pixels (clipped to the source)."""
        return Box(self._to_source(box.x0, 0), self._to_source(box.y0, 1),
                   self._to_source(box.x1, 0), self._to_source(box.y1, 1))
