"""Encode: PNG, JPEG or WebP bytes, within a byte budget, with metadata stripped by default.

This stage and ``load`` are the only ones that produce or consume bytes. Nothing from the
source's metadata (EXIF, GPS, comments, ICC profile) is written unless asked; the pixels
are sRGB, which is what an untagged image means.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass

from PIL import Image

from .errors import ByteBudgetError, OptionError, OutputError
from .targets import OUTPUT_FORMATS

__all__ = ["Encoded", "encode", "format_from_path", "normalise_format", "write_atomic",
           "DEFAULT_QUALITY", "MIN_QUALITY"]

#: Default quality for the lossy formats: visually transparent for photos.
DEFAULT_QUALITY = 90
#: The lowest quality the byte-budget search will go to before giving up.
MIN_QUALITY = 30

# The process's umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

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


def check_encode_settings(*, quality: int | None = None, max_bytes: int | None = None,
                          metadata: str = "strip") -> None:
    """Raise :class:`OptionError` for a bad ``quality`` (1..100), ``max_bytes`` (a positive
    whole number) or ``metadata`` ("strip" or "keep"); None means the default."""
    if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)
                                or not 1 <= quality <= 100):
        raise OptionError("quality", quality, "a whole number 1..100")
    if max_bytes is not None and (not isinstance(max_bytes, int) or isinstance(max_bytes, bool)
                                  or max_bytes < 1):
        raise OptionError("max_bytes", max_bytes, "a positive whole number of bytes")
    if metadata not in ("strip", "keep"):
        raise OptionError("metadata", metadata, "'strip' (default) or 'keep'")


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
    check_encode_settings(quality=quality, max_bytes=max_bytes)
    if image.mode not in ("RGB", "RGBA"):
        raise OptionError("image", image.mode, "an RGB or RGBA image")
    if image.mode == "RGBA" and fmt == "jpeg":
        raise OptionError("format", "jpeg", "png or webp when keeping transparency (alpha='keep')")
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


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the
    temporary file is renamed over ``path`` (atomic on POSIX and Windows). On any failure
    the temporary file is removed; an OS error (a missing folder, no permission, a full
    disk) is raised as :class:`OutputError` naming ``path``.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                                             suffix=".part")
    except OSError as error:
        raise OutputError(f"cannot write ({error.strerror or error})", source=target) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass  # already renamed or never created: nothing left behind
        if isinstance(error, OSError):
            raise OutputError(f"cannot write ({error.strerror or error})", source=target) from error
        raise
