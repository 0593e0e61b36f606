"""Query parameters -> the library's arguments, read as the command line reads its options.

The parameters of each endpoint are rows of :mod:`smartframe.option_table`, the one table the
CLI's options are built from too: the same names (``pad_position`` for ``--pad-position``),
the same reading of text (:meth:`~smartframe.option_table.Option.parse`: ASCII numbers,
true/false), and the same :class:`~smartframe.errors.OptionError` from the library for a bad
value. The input limits are the server's settings, never a request's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError
from ..explain import check_max_side
from ..option_table import (CHECK_OPTIONS, ENCODE_OPTIONS, EXPLAIN_OPTIONS, FRAME_OPTIONS, SIZE, Option,
                            encode_settings, frame_options, read_sizes)
from ..options import FrameOptions, Limits

__all__ = ["Param", "CheckCall", "FrameCall", "ExplainCall", "check_call", "frame_call",
           "explain_call", "ENDPOINT_PARAMS"]

#: One query parameter: a row of the option table.
Param = Option

#: The query parameters of each endpoint, in the order the OpenAPI description lists them.
ENDPOINT_PARAMS: dict[str, list[Param]] = {
    "check": [SIZE, *CHECK_OPTIONS],
    "frame": [SIZE, *FRAME_OPTIONS, *ENCODE_OPTIONS],
    "explain": [SIZE, *FRAME_OPTIONS, *EXPLAIN_OPTIONS],
}


def _read(query: list[tuple[str, str]], endpoint: str) -> tuple[list[str], dict[str, object]]:
    """The sizes and the parsed values of the parameters given. Empty values count as not
    given (an HTML form sends every field). Unknown or repeated names are usage errors."""
    params = {p.name: p for p in ENDPOINT_PARAMS[endpoint]}
    seen: set[str] = set()
    values: dict[str, object] = {}
    size = ""
    for name, text in query:
        if name not in params:
            raise OptionError(name, text, f"a parameter of /v1/{endpoint}: " + ", ".join(params))
        if name in seen:
            raise OptionError(name, text, "given once")
        seen.add(name)
        if not text.strip():
            continue
        if name == "size":
            size = text
        else:
            values[name] = params[name].parse(text)
    # a bad or repeated size is a usage error before the upload is read
    sizes = read_sizes(size, one=endpoint == "check", endpoint="/v1/check")
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
    # Build the options the way check will, so a bad number is refused before the upload is read.
    for name in ("min_face_px", "min_face_score"):
        if name in values:
            FrameOptions(**{name: values[name]})
    return CheckCall(sizes[0], {**values, "limits": limits})


def frame_call(query: list[tuple[str, str]], limits: Limits) -> FrameCall:
    sizes, values = _read(query, "frame")
    return FrameCall(sizes, frame_options(values, limits), encode_settings(values))


def explain_call(query: list[tuple[str, str]], limits: Limits) -> ExplainCall:
    sizes, values = _read(query, "explain")
    max_side = check_max_side(values.pop("max_side", EXPLAIN_OPTIONS[0].default))
    return ExplainCall(sizes, frame_options(values, limits), max_side)
