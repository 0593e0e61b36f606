"""Load: read any supported input and normalise it once, at the front of the pipeline.

Two steps, so that the decode can be planned from the header:

1. :func:`open_source` reads only the header: format, stored size, EXIF orientation, mode,
   ICC profile. Limits (file bytes, declared pixels, JPEG scans) are enforced here, before
   any pixel is decoded, so a decompression bomb costs nothing.
2. :meth:`OpenedSource.decode` estimates the memory the decode needs (the decoder's buffers
   and the working image; ``Limits.max_decode_bytes``), decodes the pixels -- for JPEG,
   reduced in the DCT domain by the largest factor the caller allows; for every format,
   box-reduced by a whole factor while converting -- and normalises them: ICC profile to
   sRGB, EXIF orientation applied, every mode converted to 8-bit RGB (16-bit and float
   scaled, never clipped), transparency flattened onto a colour (or kept as RGBA when
   asked).

Memory: the conversion runs in bands of rows, so its temporary copies stay about a
megapixel whatever the image size; the peak is the decoder's buffers plus one working
array. See the README, "Limits", for measured figures.

Hostile input: the input is read through a stream that counts ``read()`` calls, so a file
made of hundreds of thousands of tiny chunks, segments or blocks (which Pillow parses in
Python) is refused instead of keeping a worker busy for minutes. Whatever Pillow raises on
malformed data is translated into an :class:`~smartframe.errors.InputError` kind naming
the input; what Pillow warns about the file becomes a WARNING note.

Everything the normalisation did is listed in ``LoadedImage.notes``; nothing is converted
silently.
"""

from __future__ import annotations

import io
import itertools
import math
import mmap
import numbers
import os
import re
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Union

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from .errors import (
    CorruptImageError,
    ImageNotFoundError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    OptionError,
    SmartframeError,
    UnsupportedImageError,
)
from .geometry import Size
from .native import captured_stderr
from .options import AlphaPolicy, Colour, Limits

__all__ = ["Source", "SourceInfo", "LoadedImage", "OpenedSource", "open_source", "load"]

#: What ``frame``, ``check`` and ``load`` accept as an image.
Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]

_EXIF_ORIENTATION_TAG = 0x0112
# Pillow formats whose plugin applies EXIF orientation itself (size upright from the header,
# pixels upright after load), so smartframe must not apply it a second time.
_SELF_ORIENTING_FORMATS = frozenset({"TIFF"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# The Pillow plugins smartframe opens. Anything else (EPS, which runs Ghostscript; PSD; ICO;
# the long tail of legacy formats) is refused as "not an image" before any plugin parses it:
# uploads are hostile, and every plugin parsing them is attack surface. JPEG includes MPO.
_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
# Magic numbers of those formats, to tell "not an image" from "an image whose header is broken".
_MAGIC = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),  # BigTIFF
    (0, b"MM\x00+", "TIFF"),
)
# What Pillow's decoders raise on malformed data. Each is translated into CorruptImageError
# (with the original chained as __cause__); anything else is a bug and propagates.
# RuntimeError too: Pillow's AVIF plugin raises it for most libavif failures ("Missing or
# empty image item"); NotImplementedError, its subclass, is never a decoder's verdict.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
                   TypeError, ZeroDivisionError, OverflowError, RuntimeError)
# Pillow's PNG plugin refuses text and ICC chunks that decompress past a fixed size (a
# metadata decompression bomb) with a ValueError naming one of these settings.
_PNG_METADATA_LIMITS = ("PngImagePlugin.MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY")
# The most read() calls one input may take, header and pixel data together: a base plus one
# per KiB of file. Pillow parses chunk, segment and sub-block headers in Python, a few
# microseconds each, while pixel data is read in large blocks: a real image needs a few
# hundred reads, and even a PNG in libpng's 8 KiB IDAT chunks needs 3 reads per chunk (0.4
# per KiB). A file of empty PNG chunks or JPEG segments needs over 200 reads per KiB: 256 MB
# of them would take 20 million reads, over a minute of CPU. The budget stops that within
# about a second at the default max_file_bytes.
_BASE_READS = 250_000
# The most scans a JPEG may have. Every scan of a progressive JPEG is a pass over the whole
# coefficient buffer, so a 1 MB file of 10 000 tiny scans kept libjpeg busy for 5 s at
# 16 MP (minutes at 150 MP). Encoders write about 10 (libjpeg's default script) to a few
# dozen; 256 is the limit NVIDIA's nvImageCodec applies after the Cure53 audit of
# libjpeg-turbo.
_MAX_JPEG_SCANS = 256
# After a scan's header, the entropy-coded data runs until a 0xFF that is not stuffing
# (0xFF00), a restart marker (0xFFD0-D7) or fill (0xFFFF).
_NEXT_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Rows are converted in bands of about this many pixels: the temporary copies of a band
# (crop, mode change, ICC transform, float scaling) stay a few tens of megabytes.
_BAND_PIXELS = 1 << 20
_SRGB_PROFILE = None  # built on first use: ImageCms.createProfile is not free


@dataclass(frozen=True)
class SourceInfo:
    """Facts about the input as stored, before any normalisation.

    ``stored_size`` is the pixel grid in the file; ``size`` is the upright size after EXIF
    orientation (the frame every smartframe box uses). ``orientation`` is the EXIF value
    applied (1 when absent or invalid); ``orientation_tag`` is the raw tag as found when it
    is a whole number (valid or not), else None.
    ``format`` is lower-case (``"jpeg"``, ``"png"``, ...) or None for in-memory pixels.
    ``icc_description`` is the embedded profile's name, or None; ``icc_is_srgb`` says whether
    it is an sRGB profile (None when there is no profile or it cannot be read).
    """

    name: str
    format: str | None
    mode: str
    stored_size: Size
    size: Size
    orientation: int
    orientation_tag: int | None
    has_alpha: bool
    animated: bool
    icc_description: str | None
    icc_is_srgb: bool | None
    file_bytes: int | None


@dataclass(frozen=True)
class LoadedImage:
    """Normalised pixels plus the facts of the source.

    ``pixels`` is a read-only HxWxC uint8 array, RGB (C=3) or RGBA (C=4, only with
    ``alpha="keep"``), upright, sRGB -- at the *working* resolution, which may be smaller
    than the source after a reduced decode. ``working_scale`` maps source pixels to
    working pixels: ``x_working = x_source * working_scale[0]``.
    """

    pixels: np.ndarray
    info: SourceInfo
    notes: tuple[str, ...]
    exif: bytes | None = None

    @property
    def size(self) -> Size:
        """The upright source size, in source pixels."""
        return self.info.size

    @property
    def working_scale(self) -> tuple[float, float]:
        height, width = self.pixels.shape[:2]
        return (width / self.info.size.width, height / self.info.size.height)


def _register_optional_decoders() -> None:
    """Let Pillow read HEIC/HEIF when the optional ``pillow-heif`` extra is installed."""
    global _HEIF_AVAILABLE
    if _HEIF_AVAILABLE is None:
        try:
            import pillow_heif
        except ImportError:
            _HEIF_AVAILABLE = False
        else:
            pillow_heif.register_heif_opener()
            _HEIF_AVAILABLE = True


_HEIF_AVAILABLE: bool | None = None


def _looks_like_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in {b"heic", b"heix", b"hevc", b"heim", b"heis",
                                                   b"mif1", b"msf1"}


def _sniff(head: bytes) -> str | None:
    """The Pillow format the first bytes announce (magic number only), or None."""
    for offset, magic, name in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in {b"avif", b"avis"}:
        return "AVIF"
    if _looks_like_heif(head):
        return "HEIF"
    return None


# --- reading: a read budget and the translation of decoder errors -----------------------------

class _TooManyReads(Exception):
    """Raised by a budgeted stream past its read budget. Not an OSError on purpose: Pillow
    catches some of those while probing, and this must stop it, not be retried."""


def _read_budget(file_bytes: int) -> int:
    return _BASE_READS + file_bytes // 1024


class _ReadBudget:
    """Mix-in counting ``read()`` calls; past ``budget`` every read raises _TooManyReads."""

    budget = _BASE_READS
    reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads += 1
        if self.reads > self.budget:
            raise _TooManyReads(f"{self.budget} reads")
        return super().read(size)  # type: ignore[misc]


class _BudgetedBytes(_ReadBudget, io.BytesIO):
    """In-memory input (bytes or a caller's stream). Keeps ``getvalue`` for libtiff."""


class _BudgetedFile(_ReadBudget, io.BufferedReader):
    """A file on disk. Keeps ``fileno`` for libtiff."""


@contextmanager
def _reading(name: str, what: str, notes: list[str]) -> Iterator[None]:
    """Run Pillow code on the input and translate what it raises into InputError kinds.

    ``what`` completes "cannot ..." in the message. What Pillow says about the file with a
    UserWarning (corrupt EXIF, a truncated read it recovered from, a malformed MPO index)
    becomes a WARNING note instead of a line on stderr; any other warning (a
    ResourceWarning, a DeprecationWarning: about code, not the file) is passed on as usual.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Pillow warns above its own pixel threshold; ours is checked from the header.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                yield
            except (SmartframeError, NotImplementedError):
                raise  # ours (some kinds are also OSError or ValueError), or unfinished code
            except _TooManyReads as error:
                raise ImageTooLargeError(
                    f"the file is made of too many chunks, segments or blocks (stopped after "
                    f"{error.args[0]}); no real image is built like this", source=name) from None
            except Image.DecompressionBombError as error:
                raise ImageTooLargeError(f"declares more pixels than Pillow's decompression-bomb "
                                         f"ceiling allows ({error})", source=name) from error
            except MemoryError:
                raise ImageTooLargeError(f"ran out of memory: cannot {what}", source=name) from None
            except ValueError as error:
                if any(limit in str(error) for limit in _PNG_METADATA_LIMITS):
                    raise ImageTooLargeError(f"a PNG text or ICC chunk decompresses to more than "
                                             f"Pillow allows ({error})", source=name) from error
                raise _corrupt(error, what, name) from error
            except _DECODER_ERRORS as error:
                raise _corrupt(error, what, name) from error
    finally:
        for warning in caught:
            if issubclass(warning.category, UserWarning):
                note = f"WARNING: decoder: {' '.join(str(warning.message).split())}"
                if note not in notes:
                    notes.append(note)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno, source=warning.source)


def _corrupt(error: BaseException, what: str, name: str) -> CorruptImageError | UnsupportedImageError:
    """The InputError for a decoder exception: unsupported when the decoder says so."""
    reason = " ".join(str(error).split()) or "no detail"
    text = f"{type(error).__name__}: {reason}"
    lowered = reason.lower()
    if "unsupported" in lowered or "not supported" in lowered or "unknown pixel mode" in lowered:
        return UnsupportedImageError(f"cannot {what}: a layout Pillow does not support ({text})", source=name)
    return CorruptImageError(f"cannot {what} ({text})", source=name)


class OpenedSource:
    """An input whose header has been read; decode it with :meth:`decode`, then :meth:`close`.

    Use as a context manager. Created by :func:`open_source`.
    """

    def __init__(self, image: Image.Image, info: SourceInfo, *, owned: bool, array: np.ndarray | None,
                 notes: tuple[str, ...] = (), stream: BinaryIO | None = None,
                 limits: Limits = Limits(), scans: int = 0):
        self._image = image
        self._owned = owned  # we opened it (so we may draft and must close it)
        # The stream the image was opened from: Pillow does not own a stream it is given
        # (it drops it after load() without closing it), so this object closes it.
        self._stream = stream
        self._array = array  # the caller's array, when the source was one
        self._notes = notes  # what reading the header found (Pillow warnings, bad tags)
        self._limits = limits
        self._scans = scans  # JPEG scans (a multi-scan JPEG keeps every DCT coefficient)
        self._verified = False
        self.info = info

    def __enter__(self) -> OpenedSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned and self._image is not None:
            self._image.close()
        if self._stream is not None:
            self._stream.close()
        self._image = None
        self._stream = None

    def verify(self) -> tuple[str, ...]:
        """Decode the pixel data (as small as the format allows) to prove it is readable.

        Raises the InputError kind a :meth:`decode` would raise (the memory limit included);
        returns the notes (WARNING notes for anything the decoder recovered from). Converts
        nothing. The image is then decoded at its smallest: :meth:`decode` cannot follow.
        """
        if self._image is None:
            raise ValueError("verify() after close()")
        notes = list(self._notes)
        if self._array is None:
            # The same decoder decode() would use, so a file gets one verdict everywhere.
            if self._decode_baseline_jpeg(math.inf, AlphaPolicy.FLATTEN, notes) is None:
                self._draft(math.inf, notes)
                self._check_memory([], notes)
                self._load(notes)
            self._verified = True
        return tuple(notes)

    def decode(
        self,
        *,
        max_reduction: float = 1.0,
        alpha: AlphaPolicy = AlphaPolicy.FLATTEN,
        alpha_background: Colour = (255, 255, 255),
    ) -> LoadedImage:
        """Decode and normalise the pixels.

        ``max_reduction`` is the largest factor by which the caller accepts a smaller
        working image (e.g. 3.1 when the output needs only a third of the source's pixels
        along each axis). JPEG decodes at 1/2, 1/4 or 1/8 scale when that factor allows;
        then every format is box-reduced by the whole factor that remains (3 here), so the
        working image is never smaller than ``1 / max_reduction`` of the source.

        Before any pixel is decoded, the memory the decode needs is estimated from the
        header and checked against ``Limits.max_decode_bytes`` (ImageTooLargeError).
        """
        if self._image is None:
            raise ValueError("decode() after close()")
        if self._verified:
            raise ValueError("decode() after verify(): open the source again")
        info = self.info
        notes = list(self._notes)
        if self._array is not None:
            pixels = _array_to_rgb(self._array)
            if pixels.shape[2] == 4 and alpha is AlphaPolicy.FLATTEN:
                pixels = flatten_alpha(pixels, alpha_background)
                notes.append(f"transparency flattened onto rgb{tuple(alpha_background)}")
            elif pixels.shape[2] == 3 and alpha is AlphaPolicy.KEEP:
                pixels = _with_opaque_alpha(pixels)
            exif = None
        elif (direct := self._decode_baseline_jpeg(max_reduction, alpha, notes)) is not None:
            pixels, exif = direct
        else:
            image = self._draft(max_reduction, notes)
            # TIFF comes out of Pillow upright; every other format as stored.
            decoded_from = info.size if image.format in _SELF_ORIENTING_FORMATS else info.stored_size
            done = decoded_from.width / image.size[0]  # the reduction the decoder makes (JPEG)
            factor = max(1, math.floor(max_reduction / done + 1e-9))
            reduced = (math.ceil(image.size[0] / factor), math.ceil(image.size[1] / factor))
            channels = 4 if alpha is AlphaPolicy.KEEP else 3
            self._check_memory([("the working image", reduced[0] * reduced[1] * channels)], notes)
            self._load(notes)
            orientation = 1 if image.format in _SELF_ORIENTING_FORMATS else info.orientation
            with _reading(info.name, "convert the image", notes):
                pixels = _convert(image, info, factor, orientation, alpha, alpha_background, notes)
            if reduced != tuple(decoded_from):
                notes.append(f"decoded at reduced size {reduced[0]}x{reduced[1]}")
            if info.animated:
                notes.append("animated image: the first frame is used")
            if info.orientation != 1:
                notes.append(f"EXIF orientation {info.orientation} applied")
            with _reading(info.name, "read the EXIF block", notes):
                exif = _exif_bytes(self._image, notes)
        pixels = np.ascontiguousarray(pixels)
        pixels.flags.writeable = False
        return LoadedImage(pixels=pixels, info=info, notes=tuple(notes), exif=exif)

    def _decode_baseline_jpeg(self, max_reduction: float, alpha: AlphaPolicy,
                              notes: list[str]) -> tuple[np.ndarray, bytes | None] | None:
        """Decode a baseline JPEG with OpenCV: upright pixels and the EXIF block, or None.

        Why: Pillow keeps RGB as 4 bytes a pixel, so handing its pixels to NumPy costs a
        packing copy (about 10 ms for a 12 MP photo decoded at 1/2); OpenCV's libjpeg-turbo
        (the same library) writes RGB straight into an array, with the same DCT-domain
        reduction. Every baseline JPEG in RGB or grey, without a colour profile other than
        sRGB, takes this path whatever the reduction, so a file gets the same verdict from
        every call (frame, check, batch). OpenCV returns nothing for data libjpeg cannot
        decode (a truncated file); then None sends the file down Pillow's path, which
        names the error. What libjpeg warns about (corrupt data it decoded anyway) becomes
        WARNING notes.
        """
        image, info = self._image, self.info
        if not (self._owned and info.format in ("jpeg", "mpo") and image.mode in ("RGB", "L")
                and self._scans <= 1 and (not image.info.get("icc_profile") or info.icc_is_srgb)):
            return None
        image = self._draft(max_reduction, notes)  # only sets the size it will decode to
        scale = round(info.stored_size.width / image.size[0])
        if scale not in _CV2_REDUCED:
            return None
        factor = max(1, min(max(image.size), math.floor(min(max_reduction, 1e9) / scale + 1e-9)))
        reduced = (math.ceil(image.size[0] / factor), math.ceil(image.size[1] / factor))
        channels = 4 if alpha is AlphaPolicy.KEEP else 3
        self._check_memory([("the working image", reduced[0] * reduced[1] * channels)], notes)
        with _reading(info.name, "decode the image data", notes):
            image.fp.seek(0)
            data = np.frombuffer(image.fp.read(), np.uint8)
        flags = _CV2_REDUCED[scale] | cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
        with captured_stderr() as said:  # libjpeg's warnings become notes, as Pillow's do
            pixels = cv2.imdecode(data, flags)
        if pixels is None or pixels.shape[:2] != (image.size[1], image.size[0]):
            return None
        notes.extend(f"WARNING: the JPEG decoder said: {line}" for line in dict.fromkeys(said))
        if factor > 1:
            pixels = _box_reduce(pixels, factor)
        if info.orientation != 1:
            pixels = np.ascontiguousarray(_UPRIGHT_ARRAY[info.orientation](pixels))
        if alpha is AlphaPolicy.KEEP:
            pixels = _with_opaque_alpha(pixels)
        if reduced != tuple(info.stored_size):  # the same notes, in the same order, as Pillow's path
            notes.append(f"decoded at reduced size {reduced[0]}x{reduced[1]}")
        if info.orientation != 1:
            notes.append(f"EXIF orientation {info.orientation} applied")
        with _reading(info.name, "read the EXIF block", notes):
            exif = _exif_bytes(self._image, notes)
        return pixels, exif

    def _draft(self, max_reduction: float, notes: list[str]) -> Image.Image:
        """Ask a JPEG decoder for the smallest scale (1/2, 1/4, 1/8) the caller allows.
        Only configures the decoder: ``image.size`` becomes the size it will decode to."""
        image = self._image
        info = self.info
        if self._owned and info.format in ("jpeg", "mpo") and max_reduction >= 2:
            wanted = (max(1, math.ceil(info.stored_size.width / max_reduction)),
                      max(1, math.ceil(info.stored_size.height / max_reduction)))
            with _reading(info.name, "decode the image data", notes):
                image.draft(None, wanted)
        return image

    def _check_memory(self, working: list[tuple[str, int]], notes: list[str]) -> None:
        """Refuse the decode when its estimated memory exceeds ``max_decode_bytes``."""
        with _reading(self.info.name, "read the image header", notes):  # TIFF tags load lazily
            parts = _decoder_bytes(self._image, self.info, self._scans) + working
        total = sum(size for _, size in parts)
        limit = self._limits.max_decode_bytes
        if total > limit:
            detail = ", ".join(f"{what} {_mib(size)}" for what, size in parts if size)
            raise ImageTooLargeError(
                f"decoding needs about {total / 2**20:.0f} MiB ({detail}), more than "
                f"max_decode_bytes={limit}", source=self.info.name)

    def _load(self, notes: list[str]) -> None:
        with _reading(self.info.name, "decode the image data", notes):
            self._image.load()


# OpenCV's flags for a DCT-domain reduction, by scale (the colour flag is added to them).
_CV2_REDUCED = {1: 0, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
# The upright array from the stored one, for each EXIF orientation (as _UPRIGHT does for Pillow).
_UPRIGHT_ARRAY = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


def open_source(source: Source, *, limits: Limits = Limits()) -> OpenedSource:
    """Read the header of ``source`` and check it against ``limits``.

    ``source`` may be a path, bytes, a binary file object, a PIL image, or an HxWx3 (RGB),
    HxWx4 (RGBA) or HxW (grey) uint8 array. Raises an :class:`InputError` kind when the
    input cannot be read, is not an image, or declares more pixels or bytes than allowed.
    """
    if isinstance(source, np.ndarray):
        return _open_array(source, limits)
    if isinstance(source, Image.Image):
        return _open_pil(source, limits)
    name, fp, file_bytes = _open_bytes(source, limits)
    _register_optional_decoders()
    notes: list[str] = []
    try:
        with _reading(name, "read the image header", notes):
            try:
                image = Image.open(fp, formats=_FORMATS)
            except Image.DecompressionBombError as error:
                raise ImageTooLargeError(_bomb_message(error, limits), source=name) from None
            except UnidentifiedImageError:
                raise _unidentified(fp, name) from None
    except BaseException:
        fp.close()
        raise
    try:
        with _reading(name, "read the image header", notes):
            info = _describe(image, name, file_bytes, limits, notes)
            scans = _jpeg_scans(fp) if info.format in ("jpeg", "mpo") else 0
            if scans > _MAX_JPEG_SCANS:
                raise ImageTooLargeError(
                    f"has {scans} JPEG scans, more than {_MAX_JPEG_SCANS}: each is a pass over "
                    "the whole image (encoders write about 10)", source=name)
    except BaseException:
        image.close()
        fp.close()
        raise
    return OpenedSource(image, info, owned=True, array=None, notes=tuple(notes), stream=fp,
                        limits=limits, scans=scans)


def load(
    source: Source,
    *,
    limits: Limits = Limits(),
    max_reduction: float = 1.0,
    alpha: AlphaPolicy = AlphaPolicy.FLATTEN,
    alpha_background: Colour = (255, 255, 255),
) -> LoadedImage:
    """Open, decode and normalise ``source`` in one call (see :func:`open_source`)."""
    with open_source(source, limits=limits) as opened:
        return opened.decode(max_reduction=max_reduction, alpha=alpha, alpha_background=alpha_background)


def flatten_alpha(rgba: np.ndarray, background: Colour) -> np.ndarray:
    """Composite an HxWx4 uint8 RGBA array over an opaque colour; returns HxWx3 uint8.

    Row band by row band, so the 16-bit temporaries stay small whatever the image size."""
    out = np.empty(rgba.shape[:2] + (3,), np.uint8)
    colour = np.asarray(background, np.uint16)
    rows = max(1, _BAND_PIXELS // max(1, rgba.shape[1]))
    for top in range(0, rgba.shape[0], rows):
        part = rgba[top:top + rows]
        alpha = part[..., 3:4].astype(np.uint16)
        blended = part[..., :3].astype(np.uint16) * alpha + colour * (255 - alpha)
        out[top:top + rows] = (blended + 127) // 255
    return out


def _with_opaque_alpha(rgb: np.ndarray) -> np.ndarray:
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255
    return out


def _bomb_message(error: Image.DecompressionBombError, limits: Limits) -> str:
    """Pillow refuses more than 2 x Image.MAX_IMAGE_PIXELS itself, from the header."""
    ceiling = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    if limits.max_pixels < ceiling:
        return f"declares more pixels than max_pixels={limits.max_pixels} allows ({error})"
    return (f"declares more pixels than Pillow's decompression-bomb ceiling allows ({error}); "
            "max_pixels above it needs a larger PIL.Image.MAX_IMAGE_PIXELS")


def _unidentified(fp: BinaryIO, name: str) -> NotAnImageError | CorruptImageError | UnsupportedImageError:
    """Pillow recognised no format: say whether the bytes are an image with a broken header.

    Pillow tries every plugin and keeps none of their reasons; when the magic number names a
    format, that plugin is asked again so the message can say what is wrong.
    """
    fp.seek(0)
    head = fp.read(16)
    fmt = _sniff(head)
    if fmt == "HEIF" and not _HEIF_AVAILABLE:
        return UnsupportedImageError(
            "HEIC/HEIF needs the optional decoder: pip install 'smartframe[heif]'", source=name)
    opener = Image.OPEN.get(fmt) if fmt else None
    if opener is not None:
        factory, _accept = opener
        fp.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                factory(fp, "").close()
        except _DECODER_ERRORS as error:
            return _corrupt(error, f"read the {fmt} header", name)
        return CorruptImageError(f"starts like a {fmt} file but its header cannot be read", source=name)
    return NotAnImageError("not an image in a format smartframe reads "
                           "(JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF, HEIC with the extra)", source=name)


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else "<1 MiB"


# Bytes per pixel of Pillow's storage for a mode (RGB is stored in 4 bytes, like RGBA).
_PIL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def _decoder_bytes(image: Image.Image, info: SourceInfo, scans: int) -> list[tuple[str, int]]:
    """What decoding ``image`` (at its current, possibly drafted, size) allocates, by part,
    estimated from the header. Checked against measured peaks in tests/test_memory.py."""
    if getattr(image, "_im", None) is not None:
        return []  # already decoded (a caller's PIL image): nothing more to allocate
    width, height = image.size
    pixels = width * height
    per_pixel = _PIL_BYTES.get(image.mode, 4)
    parts = [("the decoded image", pixels * per_pixel)]
    fmt = image.format
    if fmt in ("JPEG", "MPO") and scans > 1:
        parts.append(("the DCT coefficients of a multi-scan JPEG", _jpeg_coefficient_bytes(image, info)))
    elif fmt == "WEBP":
        # libwebp's animation decoder (Pillow's only WebP path) keeps the canvas and the
        # previous canvas (RGBA), and Pillow copies the frame into bytes before loading it;
        # the decoder holds the whole file in memory.
        parts.append(("libwebp's canvases, a copy and the file", 12 * pixels + (info.file_bytes or 0)))
    elif fmt in ("AVIF", "HEIF"):
        # The decoder's YUV planes (up to 6 bytes a pixel at 4:4:4 above 8 bits), its RGB
        # output, Pillow's bytes copy of it, and the whole file.
        parts.append(("the decoder's planes, a copy and the file", 10 * pixels + (info.file_bytes or 0)))
    elif fmt == "TIFF":
        parts.append(("libtiff's strip buffer and the file", _tiff_buffer_bytes(image) + (info.file_bytes or 0)))
        if info.orientation != 1:  # Pillow turns it upright in load(), into a second image
            parts.append(("Pillow's upright copy", pixels * per_pixel))
    return parts


def _jpeg_coefficient_bytes(image: Image.Image, info: SourceInfo) -> int:
    """libjpeg's whole-image coefficient buffer (2 bytes x 64 per 8x8 block, per component,
    padded to whole MCUs), which a progressive or multi-scan JPEG needs whatever the scale."""
    layers = getattr(image, "layer", None) or [(None, 1, 1, 0)] * 4
    h_max = max(max(layer[1] for layer in layers), 1)
    v_max = max(max(layer[2] for layer in layers), 1)
    width, height = info.stored_size
    total = 0
    for _, h, v, _ in layers:
        h, v = max(h, 1), max(v, 1)
        blocks_w = math.ceil(math.ceil(width * h / (h_max * 8)) / h) * h
        blocks_h = math.ceil(math.ceil(height * v / (v_max * 8)) / v) * v
        total += blocks_w * blocks_h * 128
    return total


def _tiff_buffer_bytes(image: Image.Image) -> int:
    """The strip or tile buffer Pillow's libtiff decoder allocates, from the TIFF tags."""
    tags = getattr(image, "tag_v2", {})
    width, height = image.size

    def number(tag: int, default: int) -> int:
        value = tags.get(tag, default)
        value = value[0] if isinstance(value, tuple) and value else value
        return int(value) if isinstance(value, numbers.Real) and value > 0 else default

    bits = tags.get(258, (8,))
    if isinstance(bits, tuple):
        bits = sum(int(b) for b in bits if isinstance(b, numbers.Real))
    else:
        bits = int(bits) * number(277, 1) if isinstance(bits, numbers.Real) else 8
    if 322 in tags:  # tiled
        area = min(number(322, width), 1 << 16) * min(number(323, height), 1 << 16)
    else:
        area = width * min(number(278, height), height)
    return area * max(bits, 1) // 8


def _jpeg_scans(fp: BinaryIO) -> int:
    """How many scans (SOS segments) the JPEG in ``fp`` has, counted by walking its marker
    segments and skipping entropy-coded data in C (a regular expression), without copying
    the file. Counts the scans of every image in the file (MPO, an EXIF thumbnail is
    skipped with its APP1 segment)."""
    position = fp.tell()
    try:
        if isinstance(fp, io.BytesIO):
            with fp.getbuffer() as view:
                return _count_scans(view)
        with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return _count_scans(view)
    finally:
        fp.seek(position)


def _count_scans(data) -> int:
    scans, at, end = 0, 2, len(data)
    for step in itertools.count():
        if at + 4 > end:
            break
        if step > _BASE_READS:  # a Python step per segment: as bounded as Pillow's parsing
            raise _TooManyReads(f"{_BASE_READS} JPEG segments")
        if data[at] != 0xFF:  # not at a marker: resynchronise on the next one
            found = _NEXT_JPEG_MARKER.search(data, at)
            if found is None:
                break
            at = found.start()
            continue
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in (0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:  # no length field
            at += 2
        else:
            at += 2 + (data[at + 2] << 8 | data[at + 3])
            if marker == 0xDA:
                scans += 1
                found = _NEXT_JPEG_MARKER.search(data, at)
                at = found.start() if found else end
    return scans


# --- the source kinds -------------------------------------------------------------------------

def _open_bytes(source: object, limits: Limits) -> tuple[str, BinaryIO, int]:
    """A seekable, read-budgeted binary stream for a path, bytes or file object, within the
    byte limit."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        try:
            file_bytes = os.stat(name).st_size
        except FileNotFoundError:
            raise ImageNotFoundError("no such file", source=name) from None
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
            raise ImageReadError(f"cannot read ({getattr(error, 'strerror', None) or error})",
                                 source=name) from None
        if os.path.isdir(name):
            raise ImageReadError("is a directory, not a file", source=name)
        _check_file_bytes(file_bytes, limits, name)
        try:
            stream = _BudgetedFile(io.FileIO(name, "rb"))
        except IsADirectoryError:
            raise ImageReadError("is a directory, not a file", source=name) from None
        except FileNotFoundError:
            raise ImageNotFoundError("no such file", source=name) from None
        except OSError as error:
            raise ImageReadError(f"cannot read ({error.strerror or error})", source=name) from None
        stream.budget = _read_budget(file_bytes)
        return name, stream, file_bytes
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_file_bytes(len(data), limits, "<bytes>")
        stream = _BudgetedBytes(data)
        stream.budget = _read_budget(len(data))
        return "<bytes>", stream, len(data)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        try:
            data = source.read(limits.max_file_bytes + 1)
        except OSError as error:
            raise ImageReadError(f"cannot read the stream ({error})", source=name) from None
        if not isinstance(data, bytes):
            raise OptionError("source", source, "a binary file object (opened with 'rb')")
        _check_file_bytes(len(data), limits, name)
        stream = _BudgetedBytes(data)
        stream.budget = _read_budget(len(data))
        return name, stream, len(data)
    raise OptionError("source", type(source).__name__,
                      "a path, bytes, a binary file object, a PIL image or a uint8 array")


def _check_file_bytes(file_bytes: int, limits: Limits, name: str) -> None:
    if file_bytes > limits.max_file_bytes:
        raise ImageTooLargeError(
            f"file has more than {limits.max_file_bytes} bytes (max_file_bytes)", source=name
        )
    if file_bytes == 0:
        raise NotAnImageError("empty file", source=name)


def _check_pixels(size: tuple[int, int], limits: Limits, name: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(f"declares an empty image ({width}x{height})", source=name)
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"declares {width}x{height} = {width * height} pixels, more than max_pixels="
            f"{limits.max_pixels}", source=name)


def _open_array(array: np.ndarray, limits: Limits) -> OpenedSource:
    name = "<array>"
    if array.dtype != np.uint8:
        raise OptionError("source", f"array of {array.dtype}",
                          "a uint8 array (convert other dtypes yourself: smartframe never rescales them silently)")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise OptionError("source", f"array of shape {array.shape}", "HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)")
    height, width = array.shape[:2]
    _check_pixels((width, height), limits, name)
    has_alpha = array.ndim == 3 and array.shape[2] == 4
    size = Size(width, height)
    info = SourceInfo(name=name, format=None, mode="RGBA" if has_alpha else ("RGB" if array.ndim == 3 else "L"),
                      stored_size=size, size=size, orientation=1, orientation_tag=None,
                      has_alpha=has_alpha, animated=False, icc_description=None, icc_is_srgb=None,
                      file_bytes=None)
    return OpenedSource(Image.new("1", (1, 1)), info, owned=False, array=array)


def _open_pil(image: Image.Image, limits: Limits) -> OpenedSource:
    name = str(getattr(image, "filename", "") or "<PIL image>")
    notes: list[str] = []
    with _reading(name, "read the image header", notes):
        info = _describe(image, name, None, limits, notes)
    return OpenedSource(image, info, owned=False, array=None, notes=tuple(notes), limits=limits)


def _orientation(tag: object) -> int | None:
    """The EXIF orientation a tag value means, 1..8, or None when it means none.

    Any real number equal to a whole 1..8 counts (a SHORT, but also a LONG, a RATIONAL 6/1
    or a FLOAT 6.0): that is how Pillow's own exif_transpose and TIFF plugin read it, so the
    pixels and smartframe's boxes agree. Anything else (0, 9, 65535, -1, a string, a list)
    is not an orientation.
    """
    if isinstance(tag, bool) or not isinstance(tag, numbers.Real):
        return None
    try:
        whole = int(tag)
    except (ValueError, OverflowError):  # nan, inf
        return None
    return whole if whole == tag and 1 <= whole <= 8 else None


def _describe(image: Image.Image, name: str, file_bytes: int | None, limits: Limits,
              notes: list[str]) -> SourceInfo:
    """The header facts of an opened (not yet decoded) PIL image, with the pixel limit checked."""
    _check_pixels(image.size, limits, name)
    tag = None
    try:
        # Image.getexif, not the plugin's: Pillow's PNG plugin decodes the whole image to look
        # for an eXIf chunk after the pixel data, so a decode error here was taken for an EXIF
        # error and a corrupt PNG came out half-decoded. EXIF after the pixels is not looked
        # for: the orientation must be known before decoding.
        tag = Image.Image.getexif(image).get(_EXIF_ORIENTATION_TAG)
    except _DECODER_ERRORS as error:
        notes.append(f"WARNING: the EXIF block cannot be read ({type(error).__name__}); orientation taken as 1")
    orientation = _orientation(tag) or 1
    if tag is not None and _orientation(tag) is None:
        notes.append(f"WARNING: EXIF orientation {tag!r} is not valid (1..8); ignored")
    swaps_axes = orientation in (5, 6, 7, 8)
    if image.format in _SELF_ORIENTING_FORMATS:
        size = Size(*image.size)  # already upright
        stored = Size(size.height, size.width) if swaps_axes else size
    else:
        stored = Size(*image.size)
        size = Size(stored.height, stored.width) if swaps_axes else stored
    icc_description, icc_is_srgb = _icc_facts(image.info.get("icc_profile"))
    try:
        animated = bool(getattr(image, "is_animated", False))
    except _DECODER_ERRORS as error:
        animated = False  # a broken second frame: the first is all we use anyway
        notes.append(f"WARNING: the frames after the first cannot be read ({type(error).__name__}); "
                     "only the first is used")
    whole_tag = tag if isinstance(tag, numbers.Integral) and not isinstance(tag, bool) else None
    return SourceInfo(
        name=name,
        format=(image.format or "").lower() or None,
        mode=image.mode,
        stored_size=stored,
        size=size,
        orientation=orientation,
        orientation_tag=int(whole_tag) if whole_tag is not None else None,
        has_alpha=image.mode in _ALPHA_MODES or "transparency" in image.info,
        animated=animated,
        icc_description=icc_description,
        icc_is_srgb=icc_is_srgb,
        file_bytes=file_bytes,
    )


# --- normalisation ----------------------------------------------------------------------------

def _icc_facts(icc: bytes | None) -> tuple[str | None, bool | None]:
    if not icc:
        return None, None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return "unreadable ICC profile", None
    return description, "srgb" in description.lower()


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB_PROFILE


Band = Callable[[Image.Image], Image.Image]


def _icc_step(image: Image.Image, info: SourceInfo, notes: list[str]) -> Band | None:
    """The per-band conversion through the embedded ICC profile to sRGB, or None when the
    colours are taken as they are (no profile, already sRGB, or one that cannot be applied:
    a WARNING note says so)."""
    icc = image.info.get("icc_profile")
    if not icc or info.icc_is_srgb:
        return None
    if info.icc_is_srgb is None:
        notes.append("WARNING: the embedded ICC profile cannot be read; colours taken as sRGB")
        return None
    target_mode = {"RGBA": "RGBA", "CMYK": "RGB", "RGB": "RGB", "L": "RGB", "LA": "RGBA"}.get(image.mode)
    if target_mode is None:
        notes.append(f"WARNING: ICC conversion is not supported for mode {image.mode}; colours taken as sRGB")
        return None
    # LittleCMS has no grey+alpha transform (grey profiles need L): LA goes through RGBA.
    source_mode = "RGBA" if image.mode == "LA" else image.mode
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(profile, _srgb_profile(), source_mode, target_mode)
        # A profile can build a transform yet not apply to these pixels: try it on one.
        ImageCms.applyTransform(image.crop((0, 0, 1, 1)).convert(source_mode), transform)
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        notes.append(f"WARNING: the ICC profile could not be applied ({' '.join(str(error).split())}); "
                     "colours taken as sRGB")
        return None
    notes.append(f"colours converted from ICC profile '{info.icc_description}' ({source_mode}) to sRGB")

    def to_srgb(band: Image.Image) -> Image.Image:
        if band.mode != source_mode:
            band = band.convert(source_mode)
        return ImageCms.applyTransform(band, transform)

    return to_srgb


def _mode_step(mode: str, transparent: bool, info: SourceInfo, image: Image.Image,
               notes: list[str]) -> Callable[[Image.Image], np.ndarray]:
    """The per-band conversion of a (colour-managed) band in ``mode`` to HxWx3/4 uint8.
    ``transparent``: the bands carry a transparency key (``info["transparency"]``)."""
    if mode == "RGB":
        return (lambda band: np.asarray(band.convert("RGBA"))) if transparent else np.asarray
    if mode == "RGBA":
        return np.asarray
    if mode in ("RGBX", "YCbCr", "HSV"):
        return lambda band: np.asarray(band.convert("RGB"))
    if mode in ("RGBa", "La", "LA", "PA"):
        return lambda band: np.asarray(band.convert("RGBA"))
    if mode in ("P", "L", "1"):
        has_alpha = transparent or (mode == "P" and image.palette and image.palette.mode == "RGBA")
        target = "RGBA" if has_alpha else "RGB"
        return lambda band: np.asarray(band.convert(target))
    if mode == "CMYK":
        notes.append("CMYK converted to RGB without a profile (no ICC profile was embedded)")
        return lambda band: np.asarray(band.convert("RGB"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        scale = _depth_scale(image, mode, notes)

        def grey(band: Image.Image) -> np.ndarray:
            values = scale(np.asarray(band))
            return np.repeat(values[:, :, None], 3, axis=2)

        return grey
    try:
        image.crop((0, 0, 1, 1)).convert("RGB")
    except ValueError:
        raise UnsupportedImageError(f"cannot convert image mode {mode} to RGB", source=info.name) from None
    return lambda band: np.asarray(band.convert("RGB"))


def _depth_scale(image: Image.Image, mode: str, notes: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Scale 16-bit, 32-bit integer or float grey values to 0..255 (never clip them).

    16-bit (``I;16*``, and ``I`` whose values lie in 0..65535, as PNG and TIFF store it):
    v * 255 / 65535. Float (``F``) in 0..1: v * 255. Anything else: stretched linearly from
    its minimum to its maximum, and a note says so. Non-finite floats become 0 (noted). The
    range is measured over the whole image first, band by band.
    """
    low = high = 0.0
    non_finite = False
    if not mode.startswith("I;16"):
        first = True
        for band in _bands(image, 1):
            # A float file can hold signalling NaNs, whose conversion sets the FPU's invalid
            # flag; non-finite values are handled explicitly here, so numpy need not warn.
            with np.errstate(invalid="ignore"):
                values = np.asarray(band, dtype=np.float64)
            finite = np.isfinite(values)
            if not finite.all():
                non_finite = True
                values = values[finite]
            if values.size:
                band_low, band_high = float(values.min()), float(values.max())
                low, high = (band_low, band_high) if first else (min(low, band_low), max(high, band_high))
                first = False
        if non_finite:  # they become 0, which then belongs to the range
            low, high = min(low, 0.0), max(high, 0.0)
            notes.append(f"{mode}: non-finite values set to 0")
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and high <= 65535):
        factor, offset = 255.0 / 65535.0, 0.0
        notes.append(f"{mode}: 16-bit values scaled to 8 bits")
    elif mode == "F" and low >= 0 and high <= 1:
        factor, offset = 255.0, 0.0
        notes.append("F: float values 0..1 scaled to 8 bits")
    else:
        span = high - low
        factor, offset = (255.0 / span if span > 0 else 0.0), low
        notes.append(f"{mode}: values {low:g}..{high:g} stretched to 0..255")

    def scale(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # signalling NaNs, as above
            values = values.astype(np.float64)
        if non_finite:
            values[~np.isfinite(values)] = 0.0
        return np.clip(np.rint((values - offset) * factor), 0, 255).astype(np.uint8)

    return scale


def _bands(image: Image.Image, factor: int) -> Iterator[Image.Image]:
    """The image as bands of whole rows, each a multiple of ``factor`` rows (but the last)."""
    width, height = image.size
    rows = factor * max(1, _BAND_PIXELS // (width * factor))
    for top in range(0, height, rows):
        yield image.crop((0, top, width, min(height, top + rows)))


def _convert(image: Image.Image, info: SourceInfo, factor: int, orientation: int,
             alpha: AlphaPolicy, background: Colour, notes: list[str]) -> np.ndarray:
    """The decoded image as an upright uint8 array, reduced by ``factor`` (a box average
    over factor x factor pixels, alpha-weighted): HxWx3 RGB with transparency flattened onto
    ``background``, or HxWx4 RGBA with ``alpha=keep``.

    Band by band: each band is colour-managed, converted to 8-bit RGB(A), reduced,
    flattened, and written (transposed when ``orientation`` asks) straight into the output,
    so no second full-size copy of the image ever exists.
    """
    to_srgb = _icc_step(image, info, notes)
    if to_srgb is None:
        to_array = _mode_step(image.mode, "transparency" in image.info, info, image, notes)
    else:  # the transform's output: RGB or RGBA (a transparency key named pre-transform colours)
        to_array = _mode_step(_icc_out_mode(image.mode), False, info, image, notes)
    width, height = image.size
    if (to_srgb is None and factor == 1 and image.mode == "RGB" and "transparency" not in image.info
            and alpha is AlphaPolicy.FLATTEN):
        # Plain RGB needs no per-band work: one packed copy out of Pillow (the same size as
        # the output array the bands would fill), turned upright by a second copy if needed.
        pixels = np.asarray(image)
        if orientation == 1:
            return pixels
        shape = (width, height) if orientation in (5, 6, 7, 8) else (height, width)
        out = np.empty(shape + (3,), np.uint8)
        _place(out, pixels, 0, height, orientation)
        return out
    out_w, out_h = math.ceil(width / factor), math.ceil(height / factor)
    out: np.ndarray | None = None
    row = 0
    flattened = False
    for band in _bands(image, factor):
        if to_srgb is not None:
            band = to_srgb(band)
        pixels = to_array(band)
        if factor > 1:
            pixels = _box_reduce(pixels, factor)
        if pixels.shape[2] == 4 and alpha is AlphaPolicy.FLATTEN:
            pixels = flatten_alpha(pixels, background)
            flattened = True
        elif pixels.shape[2] == 3 and alpha is AlphaPolicy.KEEP:
            pixels = _with_opaque_alpha(pixels)
        if out is None:
            shape = (out_w, out_h) if orientation in (5, 6, 7, 8) else (out_h, out_w)
            out = np.empty(shape + (pixels.shape[2],), np.uint8)
        _place(out, pixels, row, out_h, orientation)
        row += pixels.shape[0]
    assert out is not None and row == out_h
    if flattened:
        notes.append(f"transparency flattened onto rgb{tuple(background)}")
    return out


def _icc_out_mode(mode: str) -> str:
    return "RGBA" if mode in ("RGBA", "LA") else "RGB"


def _box_reduce(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` boxes (partial boxes at the right and bottom edges).
    Pillow's reduce() weights colours by alpha for RGBA itself."""
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels), mode).reduce(factor))


def _place(out: np.ndarray, band: np.ndarray, row: int, height: int, orientation: int) -> None:
    """Write ``band`` (stored rows ``row`` onwards of an image ``height`` rows tall) into
    ``out``, the upright image, applying EXIF ``orientation``."""
    end = row + band.shape[0]
    flipped = slice(height - end, height - row)  # where these rows land once reversed
    if orientation == 1:
        out[row:end] = band
    elif orientation == 2:  # mirrored left-right
        out[row:end] = band[:, ::-1]
    elif orientation == 3:  # rotated 180
        out[flipped] = band[::-1, ::-1]
    elif orientation == 4:  # mirrored top-bottom
        out[flipped] = band[::-1]
    elif orientation == 5:  # transposed: stored rows become columns
        out[:, row:end] = band.transpose(1, 0, 2)
    elif orientation == 6:  # stored rotated 90 anticlockwise: turn clockwise
        out[:, flipped] = band.transpose(1, 0, 2)[:, ::-1]
    elif orientation == 7:  # transverse
        out[:, flipped] = band.transpose(1, 0, 2)[::-1, ::-1]
    elif orientation == 8:  # stored rotated 90 clockwise: turn anticlockwise
        out[:, row:end] = band.transpose(1, 0, 2)[::-1]
    else:
        raise AssertionError(f"orientation {orientation}")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    return array


def _exif_bytes(image: Image.Image, notes: list[str]) -> bytes | None:
    """The source's EXIF block with the orientation reset to 1 (already applied), or None."""
    try:
        exif = image.getexif()
        if not exif:
            return None
        if _EXIF_ORIENTATION_TAG in exif:
            exif[_EXIF_ORIENTATION_TAG] = 1
        return exif.tobytes()
    except _DECODER_ERRORS as error:
        notes.append(f"WARNING: the EXIF block cannot be re-encoded ({type(error).__name__}); "
                     "it is not kept")
        return None
