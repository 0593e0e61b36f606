"""Encode: PNG, JPEG or WebP bytes, within a byte budget, with metadata stripped by default.

This stage and ``load`` are the only ones that produce or consume bytes (files are written
by :mod:`smartframe.outputs`). Nothing from the
source's metadata (EXIF, GPS, comments, ICC profile) is written unless asked; the pixels
are sRGB, which is what an untagged image means.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

from PIL import Image

from .errors import ByteBudgetError, OptionError
from .geometry import whole_number
from .targets import OUTPUT_FORMATS, Preset, Target, refuse_kept_alpha

__all__ = ["Encoded", "encode", "format_from_path", "normalise_format", "choose_format",
           "check_format_size", "unused_settings", "DEFAULT_QUALITY", "MIN_QUALITY", "WEBP_MAX_SIDE",
           "ALPHA_FORMATS"]

#: Default quality for the lossy formats: visually transparent for photos.
DEFAULT_QUALITY = 90
#: The lowest quality the byte-budget search will go to before giving up.
MIN_QUALITY = 30

#: libwebp's largest side, in pixels (WEBP_MAX_DIMENSION); PNG and JPEG hold every output size.
WEBP_MAX_SIDE = 16383
#: The formats that can hold transparency (``alpha="keep"``).
ALPHA_FORMATS = ("png", "webp")

_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class Encoded:
    """Encoded image bytes, the format, and the quality used (None for PNG)."""

    data: bytes
    format: str
    quality: int | None

    def __len__(self) -> int:
        return len(self.data)


def normalise_format(value: object, *, field: str = "format") -> str:
    """``"jpg"``/``"JPEG"``/``"jpeg"`` -> ``"jpeg"``; raises for formats smartframe cannot write."""
    if isinstance(value, str):
        name = value.strip().lower().lstrip(".")
        name = "jpeg" if name == "jpg" else name
        if name in OUTPUT_FORMATS:
            return name
    raise OptionError(field, value, "one of " + ", ".join(OUTPUT_FORMATS))


def format_from_path(path: str | os.PathLike) -> str:
    """The output format named by a file's extension (.jpg, .jpeg, .png, .webp)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return _EXTENSIONS[ext]
    except KeyError:
        raise OptionError("output", os.fspath(path), "a file name ending in .jpg, .jpeg, .png or .webp") from None


def check_format_size(fmt: str, size: tuple[int, int], *, field: str = "format") -> None:
    """Raise :class:`OptionError` when ``fmt`` cannot hold an image of ``size`` (w, h): WebP
    holds at most 16383 px a side. Called before any work where the sizes are known."""
    if fmt == "webp" and max(size) > WEBP_MAX_SIDE:
        raise OptionError(field, fmt, f"png or jpeg for {size[0]}x{size[1]}: WebP holds at most "
                          f"{WEBP_MAX_SIDE} px a side")


def _rules_name(target: Target | Preset) -> str:
    if isinstance(target, Preset):
        return target.name
    return target.preset or target.name


def choose_format(target: Target | Preset, requested: object = None, *, alpha: bool = False,
                  field: str = "format") -> str:
    """The format to write for ``target``, whose accepted formats bind the output.

    ``requested`` (a name, ``"jpg"``, ...) must be one the target accepts, else OptionError
    naming ``field`` and the accepted formats; None picks the target's first accepted format
    (with ``alpha``, the first that holds transparency). ``alpha`` says the image keeps its
    transparency: JPEG cannot hold it, and a preset's target refuses it
    (:func:`~smartframe.targets.refuse_kept_alpha`). WebP's side limit is checked against the target's
    size(s). Raises before any work when called with the parsed targets.
    """
    name = _rules_name(target)
    sizes = target.sizes if isinstance(target, Preset) else (target.size,)
    if requested is not None:
        fmt = normalise_format(requested, field=field)
        if fmt not in target.formats:
            raise OptionError(field, requested, f"a format {name} accepts: {', '.join(target.formats)}")
        if alpha and fmt not in ALPHA_FORMATS:
            raise OptionError("alpha", "keep", f"png or webp output to keep transparency; {fmt} has none")
    elif alpha:
        fmt = next((f for f in target.formats if f in ALPHA_FORMATS), "")
        if not fmt:
            raise OptionError("alpha", "keep", f"a target that accepts png or webp: {name} accepts only "
                              f"{', '.join(target.formats)}, which cannot hold transparency; use alpha='flatten'")
    else:
        fmt = target.formats[0]
    if alpha:
        refuse_kept_alpha(target)
    for size in sizes:
        check_format_size(fmt, size, field=field)
    return fmt


def check_encode_settings(*, quality: object = None, max_bytes: object = None,
                          metadata: str = "strip") -> tuple[int | None, int | None]:
    """Raise :class:`OptionError` for a bad ``quality`` (1..100), ``max_bytes`` (a positive
    whole number) or ``metadata`` ("strip" or "keep"); None means the default. Returns
    ``(quality, max_bytes)`` as Python ints (NumPy integers are accepted)."""
    if quality is not None:
        number = whole_number(quality)
        if number is None or not 1 <= number <= 100:
            got = "" if number is not None else f" (got {type(quality).__name__})"
            raise OptionError("quality", quality, "a whole number 1..100" + got)
        quality = number
    if max_bytes is not None:
        number = whole_number(max_bytes)
        if number is None or number < 1:
            got = "" if number is not None else f" (got {type(max_bytes).__name__})"
            raise OptionError("max_bytes", max_bytes, "a positive whole number of bytes" + got)
        max_bytes = number
    if metadata not in ("strip", "keep"):
        raise OptionError("metadata", metadata, "'strip' (default) or 'keep'")
    return quality, max_bytes  # type: ignore[return-value]


def unused_settings(format: str, *, quality: int | None = None) -> tuple[str, ...]:
    """Encode settings given away from their default that do nothing for ``format``, one
    sentence each (``quality`` is for JPEG and WebP only; a PNG is lossless)."""
    if quality is not None and normalise_format(format) == "png":
        return (f"quality={quality} does nothing for PNG output (PNG is lossless)",)
    return ()


def encode(
    image: Image.Image,
    format: str,
    *,
    quality: int | None = None,
    max_bytes: int | None = None,
    exif: bytes | None = None,
) -> Encoded:
    """Encode ``image`` (RGB, or RGBA for PNG/WebP).

    ``quality`` (1..100, default 90) applies to JPEG and WebP. With ``max_bytes``, the
    highest quality from ``quality`` down to 30 whose output fits is used (PNG: the
    strongest compression); when none fits, :class:`ByteBudgetError` says how close it came.
    ``exif`` (bytes) is written only when given: metadata is stripped by default.
    """
    fmt = normalise_format(format)
    quality, max_bytes = check_encode_settings(quality=quality, max_bytes=max_bytes)
    if image.mode not in ("RGB", "RGBA"):
        raise OptionError("image", image.mode, "an RGB or RGBA image")
    if image.mode == "RGBA" and fmt == "jpeg":
        raise OptionError("format", "jpeg", "png or webp when keeping transparency (alpha='keep')")
    check_format_size(fmt, image.size)
    if fmt == "png":
        return _encode_png(image, max_bytes, exif)
    start = DEFAULT_QUALITY if quality is None else quality
    data = _encode_lossy(image, fmt, start, exif)
    if max_bytes is None or len(data) <= max_bytes:
        return Encoded(data, fmt, start)
    # Binary search for the highest quality that fits: size grows with quality (almost
    # monotonically; the search returns a quality that was verified to fit).
    low, high, best = MIN_QUALITY, start - 1, None
    while low <= high:
        middle = (low + high) // 2
        candidate = _encode_lossy(image, fmt, middle, exif)
        if len(candidate) <= max_bytes:
            best, low = Encoded(candidate, fmt, middle), middle + 1
        else:
            high = middle - 1
    if best is None:
        smallest = len(_encode_lossy(image, fmt, MIN_QUALITY, exif)) if start > MIN_QUALITY else len(data)
        raise ByteBudgetError(
            f"{fmt} at quality {min(start, MIN_QUALITY)} is {smallest} bytes, more than "
            f"max_bytes={max_bytes}")
    return best


def _encode_lossy(image: Image.Image, fmt: str, quality: int, exif: bytes | None) -> bytes:
    buffer = io.BytesIO()
    params: dict = {"quality": quality}
    if exif:
        params["exif"] = exif
    if fmt == "webp":
        params["method"] = 4  # Pillow's default speed/size trade-off, stated for clarity
    image.save(buffer, _PIL_FORMAT[fmt], **params)
    return buffer.getvalue()


def _encode_png(image: Image.Image, max_bytes: int | None, exif: bytes | None) -> Encoded:
    params: dict = {"compress_level": 6}
    if exif:
        params["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    data = buffer.getvalue()
    if max_bytes is not None and len(data) > max_bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", **{**params, "compress_level": 9, "optimize": True})
        data = buffer.getvalue()
        if len(data) > max_bytes:
            raise ByteBudgetError(
                f"png is {len(data)} bytes at the strongest compression, more than "
                f"max_bytes={max_bytes}; JPEG or WebP would fit a smaller budget")
    return Encoded(data, "png", None)
