"""Options: frozen, keyword-only, validated when built.

A bad value raises :class:`~smartframe.errors.OptionError` naming the field, the value and
what is allowed; nothing is clamped or replaced silently. Enum-valued options accept the
enum member or its string value (``fit="pad"`` or ``fit=Fit.PAD``).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, fields
from enum import Enum

from PIL import ImageColor

from .analysis.faces.face import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX
from .errors import OptionError
from .geometry import Box, refuse_non_ascii_digits, type_names, whole_number

__all__ = [
    "Fit",
    "Strategy",
    "FacePolicy",
    "PadPosition",
    "AlphaPolicy",
    "Colour",
    "CropBounds",
    "Limits",
    "FrameOptions",
    "parse_colour",
    "parse_fraction_pair",
]


class _Choice(str, Enum):
    """A string enum whose values are what users type."""

    @classmethod
    def coerce(cls, value: object, field: str):
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if member.value == value.strip().lower():
                    return member
        hint = ""
        if isinstance(value, str) and value.strip().lower() == "center" and "centre" in cls._value2member_map_:
            hint = " (smartframe spells it 'centre')"
        allowed = ", ".join(repr(m.value) for m in cls)
        raise OptionError(field, value, f"one of {allowed}{hint}")

    def __str__(self) -> str:
        return self.value


class Fit(_Choice):
    """How the source region becomes the output: cropped to fill, padded, or stretched."""

    COVER = "cover"
    PAD = "pad"
    STRETCH = "stretch"


class Strategy(_Choice):
    """Where a cover window goes. Every strategy only chooses the window's position.

    ``smart`` (the default) scores the subject network's map fused with the classic cues and
    the detected faces; ``classic`` scores the classic cues and the faces only (the map before
    the subject network; Cloudinary calls its pre-AI ``g_auto`` "classic"), the fastest path
    that still looks at the picture; ``focus`` centres the window on a point; ``centre``
    centres it.
    """

    CENTRE = "centre"
    FOCUS = "focus"
    SMART = "smart"
    CLASSIC = "classic"


class FacePolicy(_Choice):
    """What to do about identifiable human faces."""

    AUTO = "auto"  # the target's rule: reject where the target refuses faces, keep elsewhere
    KEEP = "keep"  # do nothing special (faces still guide the smart strategy)
    FLAG = "flag"  # report them (result.faces, warnings)
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"
    AVOID = "avoid"  # choose a window that leaves them out, redact what remains
    REJECT = "reject"  # raise FacesFoundError

    def for_target(self, refuses_faces: bool) -> FacePolicy:
        """The policy applied for a target: ``auto`` is ``reject`` for a target that refuses
        faces (so nothing it refuses is written silently) and ``keep`` for the others."""
        if self is FacePolicy.AUTO:
            return FacePolicy.REJECT if refuses_faces else FacePolicy.KEEP
        return self


class PadPosition(_Choice):
    """Where the content sits inside a padded frame."""

    CENTRE = "centre"
    TOP = "top"
    BOTTOM = "bottom"
    LEFT = "left"
    RIGHT = "right"

    @property
    def alignment(self) -> tuple[float, float]:
        """(x, y) alignment of the content: 0 = left/top, 0.5 = centre, 1 = right/bottom."""
        return {
            "centre": (0.5, 0.5),
            "top": (0.5, 0.0),
            "bottom": (0.5, 1.0),
            "left": (0.0, 0.5),
            "right": (1.0, 0.5),
        }[self.value]


class AlphaPolicy(_Choice):
    """What happens to transparency: flattened onto a colour (default), or kept (RGBA out)."""

    FLATTEN = "flatten"
    KEEP = "keep"


Colour = tuple[int, int, int]

# A decimal number in ASCII: float() alone would also read "١.٥", "nan" and "1_000".
_NUMBER = re.compile(r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*$")


def real_number(value: object) -> float | None:
    """``value`` as a Python float when it is a real number (int, float or a NumPy scalar;
    not a bool), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _numbers_from_text(text: str, field: str, allowed: str) -> tuple[float, ...]:
    """Comma-separated ASCII decimal numbers, or OptionError(field, text, allowed)."""
    refuse_non_ascii_digits(text, field)
    parts = text.split(",")
    if not all(_NUMBER.match(p) for p in parts):
        raise OptionError(field, text, allowed)
    return tuple(float(p) for p in parts)


def parse_colour(value: object, *, field: str) -> Colour:
    """An RGB colour from a name (``"white"``), ``"#rrggbb"``, ``"r,g,b"`` or a 3-tuple of 0..255
    (ints or NumPy integers)."""
    if isinstance(value, str):
        text = value.strip()
        refuse_non_ascii_digits(text, field)
        if "," in text:
            parts = text.split(",")
            if len(parts) == 3 and all(re.fullmatch(r"\s*[0-9]+\s*", p) for p in parts):
                value = tuple(int(p) for p in parts)
        elif text.isascii():
            try:
                return tuple(ImageColor.getrgb(text)[:3])  # type: ignore[return-value]
            except ValueError:
                raise OptionError(field, value, "a colour name, #rrggbb, or r,g,b") from None
        else:
            raise OptionError(field, value, "a colour name, #rrggbb, or r,g,b (ASCII)")
    if isinstance(value, (tuple, list)) and len(value) == 3:
        channels = [whole_number(c) for c in value]
        if all(c is not None and 0 <= c <= 255 for c in channels):
            return tuple(channels)  # type: ignore[return-value]
        raise OptionError(field, value, "three whole numbers 0..255 (r, g, b); got " + type_names(value))
    raise OptionError(field, value, "a colour name, #rrggbb, r,g,b, or an (r, g, b) tuple of 0..255")


def parse_fraction_pair(value: object, *, field: str) -> tuple[float, float]:
    """An ``(x, y)`` pair of fractions in 0..1, from a tuple (floats, ints or NumPy scalars)
    or from ``"x,y"``."""
    allowed = "two fractions 0..1: (x, y) of the image, (0, 0) top-left"
    if isinstance(value, str):
        value = _numbers_from_text(value, field, 'two fractions 0..1 like "0.5,0.3"')
    if isinstance(value, (tuple, list)) and len(value) == 2:
        pair = [real_number(v) for v in value]
        if any(v is None for v in pair):
            raise OptionError(field, value, f"{allowed}; got {type_names(value)}")
        if all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in pair):
            return (pair[0], pair[1])
    raise OptionError(field, value, allowed)


@dataclass(frozen=True)
class CropBounds:
    """A region of the source given as fractions of its width and height, applied before framing.

    ``left``/``right`` are x coordinates and ``top``/``bottom`` y coordinates, each a
    fraction 0..1 of the upright source (``CropBounds(0, 0, 1, 1)`` is the whole image).
    """

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        given = (self.left, self.top, self.right, self.bottom)
        values = [real_number(v) for v in given]
        if any(v is None for v in values):
            raise OptionError("crop_bounds", given, "four fractions 0..1: left, top, right, bottom; got "
                              + type_names(given))
        if not all(math.isfinite(v) and 0 <= v <= 1 for v in values):
            raise OptionError("crop_bounds", given, "four fractions 0..1: left, top, right, bottom")
        for name, number in zip(("left", "top", "right", "bottom"), values):
            object.__setattr__(self, name, number)  # frozen: plain floats, once
        if not (self.left < self.right and self.top < self.bottom):
            raise OptionError("crop_bounds", given, "left < right and top < bottom")

    @classmethod
    def coerce(cls, value: object) -> CropBounds:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = _numbers_from_text(value, "crop_bounds", 'four fractions like "0.1,0,0.9,1"')
        if isinstance(value, (tuple, list)) and len(value) == 4:
            return cls(*value)
        raise OptionError("crop_bounds", value, "four fractions 0..1: left, top, right, bottom")

    def box(self, size: tuple[int, int]) -> Box:
        """The region in pixels of an image of ``size``."""
        width, height = size
        return Box(self.left * width, self.top * height, self.right * width, self.bottom * height)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Resource limits applied to every input before its pixels are decoded.

    ``max_pixels``: the most pixels an image may declare (width x height), so a tiny file that
    declares 50000x50000 is refused from its header. 150 megapixels admits any camera photo.
    ``max_file_bytes``: the largest input file accepted (default 256 MiB).
    ``max_decode_bytes``: the most memory decoding one image may take (default 1 GiB),
    estimated from the header before any pixel is decoded: the decoder's buffers (4 bytes
    per pixel in most formats, 16 in WebP, 14 in AVIF/HEIF, plus the DCT coefficients of a
    progressive JPEG and the strip buffer of a TIFF) and the working image. It bounds what
    a pixel count cannot: a 38-byte WebP of 150 MP needs 2.4 GB to decode. See docs/errors.md
    ("Limits" and "Memory") for the measured peaks.
    """

    max_pixels: int = 150_000_000
    max_file_bytes: int = 256 * 1024 * 1024
    max_decode_bytes: int = 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_file_bytes", "max_decode_bytes"):
            value = getattr(self, name)
            number = whole_number(value)
            if number is None or number < 1:
                got = "" if number is not None else f" (got {type(value).__name__})"
                raise OptionError(name, value, "a positive whole number" + got)
            object.__setattr__(self, name, number)  # frozen: a plain int, once


@dataclass(frozen=True, kw_only=True)
class FrameOptions:
    """Everything that decides how one source becomes one output; see ``smartframe.frame``.

    Fields:
        fit: cover (crop to fill), pad (letterbox/pillarbox) or stretch.
        strategy: where a cover window goes; None means ``smart``, or ``focus`` when a
            ``focus`` point is given. Ignored (reported as None) for pad and stretch.
        focus: (x, y) fractions of the upright source; the window centres on it (``focus``)
            or uses it as the prior when evidence is weak (``smart``, ``classic``).
        background: pad colour, or ``"blur"`` for a blurred copy of the image.
        pad_position: where the content sits in a padded frame.
        crop_bounds: a region of the source (fractions) to frame instead of the whole image.
        faces: the face policy; see :class:`FacePolicy`. The default, ``auto``, rejects
            identifiable faces for a target that refuses them (sora-2) and keeps them elsewhere.
        min_face_px: a face is identifiable when its larger side is at least this many
            *output* pixels (its detected box at least 0.85 times this, for the detector's
            box-size spread).
        min_face_score: ... and its detection score (the detector's re-look score) at least this.
        alpha: flatten transparency onto ``alpha_background`` (default) or keep it.
        alpha_background: the colour transparent pixels are flattened onto.
        upscale_warning: warn when the output enlarges the source by more than this factor.
        limits: input limits (pixels, bytes).
    """

    fit: Fit = Fit.COVER
    strategy: Strategy | None = None
    focus: tuple[float, float] | None = None
    background: Colour | str = (0, 0, 0)
    pad_position: PadPosition = PadPosition.CENTRE
    crop_bounds: CropBounds | None = None
    faces: FacePolicy = FacePolicy.AUTO
    min_face_px: float = DEFAULT_MIN_SIZE_PX
    min_face_score: float = DEFAULT_MIN_SCORE
    alpha: AlphaPolicy = AlphaPolicy.FLATTEN
    alpha_background: Colour = (255, 255, 255)
    upscale_warning: float = 2.0
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "fit", Fit.coerce(self.fit, "fit"))
        if self.strategy is not None:
            set_(self, "strategy", Strategy.coerce(self.strategy, "strategy"))
        if self.focus is not None:
            set_(self, "focus", parse_fraction_pair(self.focus, field="focus"))
        if self.strategy is Strategy.FOCUS and self.focus is None:
            raise OptionError("strategy", "focus", "strategy 'focus' needs a focus=(x, y) point")
        if isinstance(self.background, str) and self.background.strip().lower() == "blur":
            set_(self, "background", "blur")
        else:
            set_(self, "background", parse_colour(self.background, field="background"))
        set_(self, "pad_position", PadPosition.coerce(self.pad_position, "pad_position"))
        if self.crop_bounds is not None:
            set_(self, "crop_bounds", CropBounds.coerce(self.crop_bounds))
        set_(self, "faces", FacePolicy.coerce(self.faces, "faces"))
        set_(self, "min_face_px", _check_number("min_face_px", self.min_face_px, low=0.0))
        set_(self, "min_face_score", _check_number("min_face_score", self.min_face_score, low=0.0, high=1.0))
        set_(self, "alpha", AlphaPolicy.coerce(self.alpha, "alpha"))
        set_(self, "alpha_background", parse_colour(self.alpha_background, field="alpha_background"))
        set_(self, "upscale_warning", _check_number("upscale_warning", self.upscale_warning, low=1.0))
        if not isinstance(self.limits, Limits):
            raise OptionError("limits", self.limits, "a smartframe.Limits(...)")

    @property
    def resolved_strategy(self) -> Strategy | None:
        """The strategy that will place the window, or None when the fit has no window."""
        if self.fit is not Fit.COVER:
            return None
        if self.strategy is not None:
            return self.strategy
        return Strategy.FOCUS if self.focus is not None else Strategy.SMART

    def unused(self) -> tuple[str, ...]:
        """Options set away from their default that do nothing with the rest, one sentence
        each (the plan's warnings repeat them): a pad background or position without
        ``fit="pad"``, a strategy or focus point without a cover window to place, a focus
        point with ``strategy="centre"``."""
        default = _DEFAULTS
        found = []
        if self.fit is not Fit.PAD:
            if self.background != default.background:
                found.append(f"background={self.background!r} does nothing with fit='{self.fit}' "
                             "(it fills the bars of fit='pad')")
            if self.pad_position is not default.pad_position:
                found.append(f"pad_position='{self.pad_position}' does nothing with fit='{self.fit}' "
                             "(it places the content of fit='pad')")
        if self.fit is not Fit.COVER:
            if self.strategy is not None:
                found.append(f"strategy='{self.strategy}' does nothing with fit='{self.fit}' "
                             "(only fit='cover' has a window to place)")
            if self.focus is not None:
                found.append(f"focus={self.focus} does nothing with fit='{self.fit}' "
                             "(only fit='cover' has a window to place)")
        elif self.strategy is Strategy.CENTRE and self.focus is not None:
            found.append(f"focus={self.focus} does nothing with strategy='centre'")
        return tuple(found)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))


def _check_number(field: str, value: object, *, low: float, high: float = math.inf) -> float:
    """``value`` as a float within ``low..high`` (ints, floats and NumPy scalars), or OptionError."""
    number = real_number(value)
    bound = f"{low}..{high}" if math.isfinite(high) else f">= {low}"
    if number is None:
        raise OptionError(field, value, f"a number {bound} (got {type(value).__name__})")
    if not (math.isfinite(number) and low <= number <= high):
        raise OptionError(field, value, f"a number {bound}")
    return number


_DEFAULTS = FrameOptions()  # after _check_number, which building it needs
