"""Reading the input: a read-budgeted stream, the format, the header facts and the limits.

Nothing here decodes pixel data. :func:`describe` turns an opened (not yet decoded) PIL image
into :class:`SourceInfo` and checks the declared pixels; :func:`open_bytes` makes the
budgeted stream for a path, bytes or a file object and checks the file's size;
:func:`jpeg_scans` counts a JPEG's scans before any is decoded. :func:`reading` translates
what Pillow raises into InputError kinds and its warnings into notes.
"""

from __future__ import annotations

import io
import itertools
import mmap
import numbers
import os
import re
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from PIL import Image, ImageCms

from ..errors import (
    CorruptImageError,
    ImageNotFoundError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    OptionError,
    SmartframeError,
    UnsupportedImageError,
)
from ..geometry import Size
from ..options import Limits

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

#: What the error says when a HEIC/HEIF arrives without the extra that reads it.
HEIF_EXTRA_HINT = ("HEIC/HEIF needs the optional 'heif' extra (the pillow-heif decoder): "
                   "pip install \".[heif]\" in the smartframe checkout, or pip install pillow-heif")


def _open_formats() -> tuple[str, ...]:
    """The formats of ``_FORMATS`` that Pillow can open in this process.

    Why: ``Image.open(formats=...)`` raises KeyError for a listed format that has no opener
    (HEIF without pillow-heif, AVIF on a Pillow built without it), which would turn a HEIC
    into a "corrupt" image; a format left out here is named by :func:`_unidentified`."""
    _register_optional_decoders()
    Image.init()  # Pillow's open() would run it anyway to find WEBP, TIFF and AVIF
    return tuple(fmt for fmt in _FORMATS if fmt in Image.OPEN)


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
        return UnsupportedImageError(HEIF_EXTRA_HINT, source=name)
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


# --- counting JPEG scans, before any is decoded ----------------------------------------------

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



def _icc_facts(icc: bytes | None) -> tuple[str | None, bool | None]:
    if not icc:
        return None, None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return "unreadable ICC profile", None
    return description, "srgb" in description.lower()

