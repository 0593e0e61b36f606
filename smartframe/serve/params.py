"""Query parameters -> the library's arguments, validated by the library.

The parameters of each endpoint are read from the library itself: the fields of
:class:`~smartframe.options.FrameOptions`, the keyword arguments of :func:`smartframe.check`,
of :meth:`FrameResult.encode <smartframe.pipeline.FrameResult.encode>` and of
:func:`smartframe.explain.explain`. Text is turned into a number or a boolean where the
library's type says so, and otherwise passed as given: the library parses enums, colours,
points and crop bounds from strings and raises :class:`~smartframe.errors.OptionError` for a
bad value. So a new option, or a new member of an enum (a strategy, a face policy), needs no
change here. The input limits are the server's settings, never a request's.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from dataclasses import dataclass, fields
from enum import Enum

from ..check import check
from ..encode import check_encode_settings, normalise_format
from ..errors import OptionError
from ..explain import explain
from ..options import FrameOptions, Limits
from ..pipeline import FrameResult
from ..targets import OUTPUT_FORMATS, parse_target

__all__ = ["Param", "CheckCall", "FrameCall", "ExplainCall", "check_call", "frame_call",
           "explain_call", "ENDPOINT_PARAMS", "EXPLAIN_MAX_SIDE"]

#: explain's ``max_side`` range: the CLI's ``--max-side`` range (the library does not bound it,
#: and an unbounded canvas would let one request allocate gigabytes).
EXPLAIN_MAX_SIDE = (64, 8192)


@dataclass(frozen=True)
class Param:
    """One query parameter: its name, its JSON-schema type, its allowed values (enums) and its
    default, all read from the library's signatures."""

    name: str
    kind: str  # "boolean", "number", "integer" or "string"
    default: object
    choices: tuple[str, ...] = ()
    description: str = ""

    def parse(self, text: str) -> object:
        """The value to hand to the library: a bool or a number when the type says so and the
        text is one, otherwise the text itself (the library validates it and names the field)."""
        if self.kind == "boolean":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            return text
        if self.kind == "number":
            try:
                number = float(text)
            except ValueError:
                return text
            return number if math.isfinite(number) else text
        if self.kind == "integer":
            try:
                return int(text)
            except ValueError:
                return text
        return text

    def schema(self) -> dict:
        schema: dict = {"type": self.kind}
        if self.choices:
            schema["enum"] = list(self.choices)
        default = _json_default(self.default)
        if default is not None:
            schema["default"] = default
        return schema


SIZE = Param("size", "string", None, description=(
    "The target: WxH (1280x720), a preset (sora-2: the preset size that suits the image), or "
    "preset:WxH. /v1/frame and /v1/explain take several, separated by commas."))

_DESCRIPTIONS = {
    "format": "Output format: jpeg, png or webp [default: the target's first accepted format].",
    "quality": "JPEG/WebP quality 1..100 [default 90; lowered to fit max_bytes].",
    "max_bytes": "Byte limit for the output [default: the target's limit].",
    "metadata": "'strip' (default) or 'keep' the source's EXIF (orientation reset to 1).",
    "faces@check": "Look for identifiable faces (the faces rule); false skips detection.",
    "min_face_px@check": "Smallest identifiable face, in pixels of the target size.",
    "min_face_score@check": "Smallest detection score of an identifiable face, 0..1.",
    "max_side": "Longer side of the overlay, in pixels (64..8192).",
}


def _field_descriptions() -> dict[str, str]:
    """``name: text`` entries of FrameOptions' docstring ("Fields:" section), joined."""
    doc = inspect.getdoc(FrameOptions) or ""
    found: dict[str, str] = {}
    current = None
    for line in doc.split("Fields:", 1)[-1].splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current and line.startswith("        "):
            found[current] += " " + line.strip()
        elif line.strip():
            current = None
    return {name: _plain(text) for name, text in found.items()}


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``x`` -> x, :class:`X` -> X."""
    return re.sub(r":\w+:`~?([\w.]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], text).replace("``", "")


def _param(name: str, hint: object, default: object, description: str) -> Param:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if union else (hint,)
    enums = [m for m in members if isinstance(m, type) and issubclass(m, Enum)]
    if bool in members:
        kind = "boolean"
    elif float in members:
        kind = "number"
    elif int in members:
        kind = "integer"
    else:
        kind = "string"
    choices = tuple(m.value for m in enums[0]) if enums else ()
    return Param(name, kind, default, choices, description)


def _keyword_params(function, skip: tuple[str, ...], tag: str) -> list[Param]:
    hints = typing.get_type_hints(function)
    out = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY or name in skip:
            continue
        description = _DESCRIPTIONS.get(f"{name}@{tag}", _DESCRIPTIONS.get(name, ""))
        out.append(_param(name, hints[name], parameter.default, description))
    return out


def _option_params() -> list[Param]:
    hints = typing.get_type_hints(FrameOptions)
    described = _field_descriptions()
    return [_param(f.name, hints[f.name], f.default, described.get(f.name, ""))
            for f in fields(FrameOptions) if f.name != "limits"]


def _encode_params() -> list[Param]:
    hints = typing.get_type_hints(FrameResult.encode)
    out = []
    for name, parameter in inspect.signature(FrameResult.encode).parameters.items():
        if name == "self":
            continue
        param = _param(name, hints[name], parameter.default, _DESCRIPTIONS.get(name, ""))
        if name == "format":
            param = Param(name, "string", parameter.default, OUTPUT_FORMATS, param.description)
        out.append(param)
    return out


_OPTIONS = _option_params()
_ENCODE = _encode_params()
_CHECK = _keyword_params(check, ("limits",), "check")
_EXPLAIN = _keyword_params(explain, ("options",), "explain")

#: The query parameters of each endpoint, in the order the OpenAPI description lists them.
ENDPOINT_PARAMS: dict[str, list[Param]] = {
    "check": [SIZE, *_CHECK],
    "frame": [SIZE, *_OPTIONS, *_ENCODE],
    "explain": [SIZE, *_OPTIONS, *_EXPLAIN],
}


def _json_default(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (bool, int, float, str)):
        return value
    return None  # None, tuples (colours), sentinels: described in words


def _read(query: list[tuple[str, str]], endpoint: str) -> tuple[list[str], dict[str, object]]:
    """The sizes and the parsed values of the parameters given. Empty values count as not
    given (an HTML form sends every field). Unknown or repeated names are usage errors."""
    params = {p.name: p for p in ENDPOINT_PARAMS[endpoint]}
    seen: set[str] = set()
    values: dict[str, object] = {}
    sizes: list[str] = []
    for name, text in query:
        if name not in params:
            raise OptionError(name, text, f"a parameter of /v1/{endpoint}: " + ", ".join(params))
        if name in seen:
            raise OptionError(name, text, "given once")
        seen.add(name)
        if not text.strip():
            continue
        if name == "size":
            sizes = [part.strip() for part in text.split(",") if part.strip()]
        else:
            values[name] = params[name].parse(text)
    if not sizes:
        raise OptionError("size", "", "a size: WxH, a preset name, or preset:WxH")
    for size in sizes:
        parse_target(size)  # a bad size is a usage error before the upload is read
    return sizes, values


@dataclass(frozen=True)
class CheckCall:
    size: str
    arguments: dict  # keyword arguments of smartframe.check, limits included


@dataclass(frozen=True)
class FrameCall:
    sizes: list[str]
    options: FrameOptions
    encode: dict  # keyword arguments of FrameResult.encode


@dataclass(frozen=True)
class ExplainCall:
    sizes: list[str]
    options: FrameOptions
    max_side: int


def check_call(query: list[tuple[str, str]], limits: Limits) -> CheckCall:
    sizes, values = _read(query, "check")
    if len(sizes) != 1:
        raise OptionError("size", ",".join(sizes), "one size: /v1/check checks one target")
    if "faces" in values and not isinstance(values["faces"], bool):
        raise OptionError("faces", values["faces"], "true or false")
    # Build the options the way check will, so a bad number is refused before the upload is read.
    for name in ("min_face_px", "min_face_score"):
        if name in values:
            FrameOptions(**{name: values[name]})
    return CheckCall(sizes[0], {**values, "limits": limits})


def _options(values: dict, limits: Limits) -> FrameOptions:
    names = FrameOptions.field_names()
    return FrameOptions(**{k: v for k, v in values.items() if k in names}, limits=limits)


def frame_call(query: list[tuple[str, str]], limits: Limits) -> FrameCall:
    sizes, values = _read(query, "frame")
    options = _options(values, limits)
    encode = {k: v for k, v in values.items() if k not in FrameOptions.field_names()}
    if "format" in encode:
        encode["format"] = normalise_format(encode["format"])
    check_encode_settings(**{k: encode[k] for k in ("quality", "max_bytes", "metadata") if k in encode})
    return FrameCall(sizes, options, encode)


def explain_call(query: list[tuple[str, str]], limits: Limits) -> ExplainCall:
    sizes, values = _read(query, "explain")
    max_side = values.pop("max_side", 1280)
    low, high = EXPLAIN_MAX_SIDE
    if not isinstance(max_side, int) or isinstance(max_side, bool) or not low <= max_side <= high:
        raise OptionError("max_side", max_side, f"a whole number {low}..{high}")
    return ExplainCall(sizes, _options(values, limits), max_side)
