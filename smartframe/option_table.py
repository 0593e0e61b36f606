"""The options every front end accepts, described once: name, type, choices, default, help.

The command line (``smartframe frame --pad-position top``) and the HTTP API
(``/v1/frame?pad_position=top``) are both built from these tables, so they accept the same
options under the same names (``--pad-position`` is ``pad_position`` spelled for a shell),
read their text the same way (:meth:`Option.parse`), and refuse a bad value with the same
:class:`~smartframe.errors.OptionError`, raised by the library itself. The tables are checked
against the library by the tests: every field of :class:`~smartframe.options.FrameOptions`,
every keyword of ``FrameResult.encode``, ``check`` and ``explain`` has its row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .analysis.faces import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX
from .encode import check_encode_settings, normalise_format
from .errors import OptionError
from .explain import MAX_SIDE_RANGE
from .options import AlphaPolicy, FacePolicy, Fit, FrameOptions, Limits, PadPosition, Strategy
from .targets import OUTPUT_FORMATS, split_sizes

__all__ = ["Option", "SIZE", "FRAME_OPTIONS", "ENCODE_OPTIONS", "CHECK_OPTIONS", "EXPLAIN_OPTIONS",
           "LIMIT_OPTIONS", "read_sizes", "frame_options", "encode_settings", "limits"]

_NUMBER = {"integer": re.compile(r"[+-]?[0-9]+"),
           "number": re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Option:
    """One option: ``name`` is the library's keyword (``pad_position``); ``kind`` is
    ``"string"``, ``"number"``, ``"integer"`` or ``"boolean"``; ``default`` is the value used
    when it is not given (None: the library decides, as ``help`` says); ``choices`` the
    allowed values of an enum; ``metavar`` what the command line's help shows for the value."""

    name: str
    kind: str
    default: object
    help: str
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def flag(self) -> str:
        """The command-line spelling: ``--pad-position``."""
        return "--" + self.name.replace("_", "-")

    @property
    def description(self) -> str:
        return self.help

    def parse(self, text: object) -> object:
        """A command-line value or query parameter -> the value handed to the library.

        Numbers must be written with ASCII digits (Python's ``int``/``float`` would also read
        full-width and Arabic-Indic digits); a boolean is true/false, 1/0, yes/no, on/off.
        Anything else is passed as text: the library parses enums, colours, points and crop
        bounds, and raises the OptionError that names the option and what is allowed."""
        if not isinstance(text, str):
            return text  # a default, already a value
        if self.kind in _NUMBER:
            value = text.strip()
            if not _NUMBER[self.kind].fullmatch(value):
                what = "a whole number" if self.kind == "integer" else "a number"
                raise OptionError(self.name, text, f"{what} (ASCII digits 0-9)")
            return int(value) if self.kind == "integer" else float(value)
        if self.kind == "boolean":
            lowered = text.strip().lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise OptionError(self.name, text, "true or false")
        return text

    def schema(self) -> dict:
        """The JSON schema of the value (for the OpenAPI description)."""
        schema: dict = {"type": self.kind}
        if self.choices:
            schema["enum"] = list(self.choices)
        if isinstance(self.default, (bool, int, float, str)):
            schema["default"] = self.default
        return schema


def _values(enum: type[Enum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _choice(name: str, enum: type[Enum], default: Enum | None, help: str) -> Option:
    choices = _values(enum)
    return Option(name, "string", None if default is None else default.value, help, choices, "|".join(choices))


#: The target(s): one comma-separated value, read by :func:`read_sizes`.
SIZE = Option("size", "string", None, "The target: WxH (1280x720), a preset (sora-2: the preset size that "
              "suits the image), preset:WxH or preset:W:H; several separated by commas.", metavar="SIZE")

#: The fields of FrameOptions (the input limits are separate: the server sets them, not a request).
FRAME_OPTIONS = (
    _choice("fit", Fit, Fit.COVER, "cover: crop to fill; pad: letterbox; stretch: distort to fill."),
    _choice("strategy", Strategy, None, "Where a cover window goes [default: smart, or focus with a focus point]."),
    Option("focus", "string", None, "Focus point as fractions of the image, e.g. 0.3,0.4.", metavar="X,Y"),
    Option("background", "string", "black", "Pad background: a colour (name, #rrggbb, r,g,b) or 'blur'.",
           metavar="COLOUR|blur"),
    _choice("pad_position", PadPosition, PadPosition.CENTRE, "Where the content sits in a padded frame."),
    Option("crop_bounds", "string", None, "Frame only this region: fractions left,top,right,bottom.",
           metavar="L,T,R,B"),
    _choice("faces", FacePolicy, FacePolicy.AUTO, "What to do about identifiable faces; auto rejects them for "
            "a target that refuses faces and keeps them elsewhere."),
    Option("min_face_px", "number", DEFAULT_MIN_SIZE_PX, "Smallest identifiable face, in output pixels."),
    Option("min_face_score", "number", DEFAULT_MIN_SCORE, "Smallest detection score of an identifiable face, 0..1."),
    _choice("alpha", AlphaPolicy, AlphaPolicy.FLATTEN, "Flatten transparency, or keep it (PNG/WebP output of a "
            "plain size; a preset's images have no alpha channel)."),
    Option("alpha_background", "string", "white", "The colour transparency is flattened onto.", metavar="COLOUR"),
    Option("upscale_warning", "number", 2.0, "Warn when the output enlarges the source more than this factor."),
)

#: The keyword arguments of FrameResult.encode.
ENCODE_OPTIONS = (
    Option("format", "string", None, "Output format: jpeg, png or webp [default: the target's first accepted "
           "format].", OUTPUT_FORMATS, "|".join(OUTPUT_FORMATS)),
    Option("quality", "integer", None, "JPEG/WebP quality 1..100 [default: 90; lowered to fit the byte limit]."),
    Option("max_bytes", "integer", None, "Byte limit for the output [default: the target's]."),
    Option("metadata", "string", "strip", "'strip' the source's EXIF, or 'keep' it (orientation reset to 1).",
           ("strip", "keep"), "strip|keep"),
)

#: The keyword arguments of smartframe.check (its ``limits`` are the input limits below).
CHECK_OPTIONS = (
    Option("faces", "boolean", True, "Look for identifiable faces (the faces rule); off (--no-faces, faces=false) "
           "skips detection."),
    Option("min_face_px", "number", DEFAULT_MIN_SIZE_PX, "Smallest identifiable face, in pixels of the target size."),
    Option("min_face_score", "number", DEFAULT_MIN_SCORE, "Smallest detection score of an identifiable face, 0..1."),
)

#: The keyword arguments of smartframe.explain besides the frame options.
EXPLAIN_OPTIONS = (
    Option("max_side", "integer", 1280, f"Longer side of the overlay, in pixels ({MAX_SIDE_RANGE[0]}.."
           f"{MAX_SIDE_RANGE[1]})."),
)

#: The input limits (smartframe.Limits): options of the command line, settings of the server.
LIMIT_OPTIONS = (
    Option("max_pixels", "integer", Limits().max_pixels, "Refuse inputs that declare more pixels."),
    Option("max_file_bytes", "integer", Limits().max_file_bytes, "Refuse larger input files."),
    Option("max_decode_bytes", "integer", Limits().max_decode_bytes, "Refuse inputs whose decoding would need "
           "more memory (estimated from the header)."),
)


def read_sizes(text: str, *, one: bool = False, endpoint: str = "") -> list[str]:
    """The size specs of a ``size`` value (comma-separated; none twice), each checked; with
    ``one``, exactly one (``check`` checks one target)."""
    sizes = split_sizes(text, field="size")
    if one and len(sizes) != 1:
        raise OptionError("size", text, f"one size: {endpoint or 'check'} checks one target")
    return sizes


def _given(table: tuple[Option, ...], values: dict) -> dict:
    return {o.name: values[o.name] for o in table if values.get(o.name) is not None}


def frame_options(values: dict, limits: Limits = Limits()) -> FrameOptions:
    """The FrameOptions of the parsed values of :data:`FRAME_OPTIONS` (a value not given, or
    None, takes the library's default); validated by FrameOptions."""
    return FrameOptions(**_given(FRAME_OPTIONS, values), limits=limits)


def encode_settings(values: dict) -> dict:
    """The keyword arguments of ``FrameResult.encode`` among ``values`` (only those given, so
    the target's format and byte limit apply otherwise), checked before any work."""
    settings = _given(ENCODE_OPTIONS, values)
    if "format" in settings:
        settings["format"] = normalise_format(settings["format"])
    check_encode_settings(**{k: settings[k] for k in ("quality", "max_bytes", "metadata") if k in settings})
    return settings


def limits(values: dict) -> Limits:
    """The Limits of the parsed values of :data:`LIMIT_OPTIONS`."""
    return Limits(**_given(LIMIT_OPTIONS, values))
