"""Load: read any supported input and normalise it once, at the front of the pipeline.

Two steps, so that the decode can be planned from the header:

1. :func:`open_source` reads only the header: format, stored size, EXIF orientation, mode,
   ICC profile. Limits (file bytes, declared pixels) are enforced here, before any pixel is
   decoded, so a decompression bomb costs nothing.
2. :meth:`OpenedSource.decode` decodes the pixels -- for JPEG, reduced in the DCT domain by
   the largest factor the caller allows -- and normalises them: ICC profile to sRGB, EXIF
   orientation applied, every mode converted to 8-bit RGB (16-bit and float scaled, never
   clipped), transparency flattened onto a colour (or kept as RGBA when asked).

Everything the normalisation did is listed in ``LoadedImage.notes``; nothing is converted
silently. Failures raise the :class:`~smartframe.errors.InputError` kinds, naming the input.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Union

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
    UnsupportedImageError,
)
from .geometry import Size
from .options import AlphaPolicy, Colour, Limits

__all__ = ["Source", "SourceInfo", "LoadedImage", "OpenedSource", "open_source", "load"]

#: What ``frame``, ``check`` and ``load`` accept as an image.
Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]

_EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the Pillow transpose that makes the image upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Pillow formats whose plugin applies EXIF orientation itself (size upright from the header,
# pixels upright after load), so smartframe must not apply it a second time.
_SELF_ORIENTING_FORMATS = frozenset({"TIFF"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# What Pillow's decoders raise on malformed data. Each is translated into CorruptImageError
# (with the original chained as __cause__); anything else is a bug and propagates.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
                   TypeError, ZeroDivisionError, OverflowError)
_SRGB_PROFILE = None  # built on first use: ImageCms.createProfile is not free


@dataclass(frozen=True)
class SourceInfo:
    """Facts about the input as stored, before any normalisation.

    ``stored_size`` is the pixel grid in the file; ``size`` is the upright size after EXIF
    orientation (the frame every smartframe box uses). ``orientation`` is the EXIF value
    applied (1 when absent or invalid); ``orientation_tag`` is the raw tag as found, or None.
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
    than the source after a reduced JPEG decode. ``working_scale`` maps source pixels to
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


class OpenedSource:
    """An input whose header has been read; decode it with :meth:`decode`, then :meth:`close`.

    Use as a context manager. Created by :func:`open_source`.
    """

    def __init__(self, image: Image.Image, info: SourceInfo, *, owned: bool, array: np.ndarray | None):
        self._image = image
        self._owned = owned  # we opened it (so we may draft and must close it)
        self._array = array  # the caller's array, when the source was one
        self.info = info

    def __enter__(self) -> OpenedSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned and self._image is not None:
            self._image.close()
        self._image = None

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
        other formats decode in full.
        """
        if self._image is None:
            raise ValueError("decode() after close()")
        info = self.info
        notes: list[str] = []
        if self._array is not None:
            pixels = _array_to_rgb(self._array)
            exif = None
        elif self._owned and (direct := _decode_plain_jpeg(self._image, info, max_reduction)) is not None:
            pixels, decoded = direct
            if decoded != info.stored_size:
                notes.append(f"decoded at reduced size {decoded[0]}x{decoded[1]}")
            if info.orientation != 1:
                notes.append(f"EXIF orientation {info.orientation} applied")
            exif = _exif_bytes(self._image)
        else:
            image = self._image
            if self._owned and info.format == "jpeg" and max_reduction >= 2:
                wanted = (math.ceil(info.stored_size.width / max_reduction),
                          math.ceil(info.stored_size.height / max_reduction))
                image.draft(None, wanted)
            try:
                image.load()
            except _DECODER_ERRORS as error:
                raise CorruptImageError(f"cannot decode the image data ({error})", source=info.name) from error
            if image.size != info.stored_size:
                notes.append(f"decoded at reduced size {image.size[0]}x{image.size[1]}")
            if info.animated:
                notes.append("animated image: the first frame is used")
            image = _to_srgb(image, info, notes)
            if info.orientation != 1:
                if image.format not in _SELF_ORIENTING_FORMATS:
                    image = image.transpose(_UPRIGHT[info.orientation])
                notes.append(f"EXIF orientation {info.orientation} applied")
            pixels = _pil_to_array(image, info, notes)
            exif = _exif_bytes(self._image)
        if pixels.shape[2] == 4:
            if alpha is AlphaPolicy.FLATTEN:
                pixels = flatten_alpha(pixels, alpha_background)
                notes.append(f"transparency flattened onto rgb{tuple(alpha_background)}")
        elif alpha is AlphaPolicy.KEEP:
            opaque = np.full(pixels.shape[:2] + (1,), 255, np.uint8)
            pixels = np.concatenate([pixels, opaque], axis=2)
        pixels = np.ascontiguousarray(pixels)
        pixels.flags.writeable = False
        return LoadedImage(pixels=pixels, info=info, notes=tuple(notes), exif=exif)


# --- the direct JPEG path (speed) ---------------------------------------------------------------
# Pillow keeps RGB as 4 bytes per pixel, so handing its pixels to NumPy costs a packing copy
# (about 10 ms for a 12 MP photo decoded at 1/2). For plain JPEGs -- YCbCr or grey, no colour
# profile other than sRGB -- OpenCV's decoder (libjpeg-turbo, like Pillow's) writes RGB straight
# into a NumPy array, with the same DCT-domain reduction, bit for bit the same pixels. It
# refuses truncated data (returns None) where Pillow raises; every case it does not take or
# refuses goes through the Pillow path, which reports the error.

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


def _decode_plain_jpeg(image: Image.Image, info: SourceInfo,
                       max_reduction: float) -> tuple[np.ndarray, Size] | None:
    """Upright HxWx3 RGB pixels of a plain JPEG and the decoded (stored) size, or None when
    the Pillow path must decode it. Reduces like ``Image.draft`` for ``max_reduction``."""
    if (info.format != "jpeg" or image.mode not in ("RGB", "L") or image.fp is None
            or (image.info.get("icc_profile") and info.icc_is_srgb is not True)):
        return None
    width, height = info.stored_size
    scale = 1
    if max_reduction >= 2:  # the factor Image.draft would choose
        wanted = (math.ceil(width / max_reduction), math.ceil(height / max_reduction))
        allowed = min(width // wanted[0], height // wanted[1])
        scale = next(s for s in (8, 4, 2, 1) if allowed >= s)
    image.fp.seek(0)
    data = np.frombuffer(image.fp.read(), np.uint8)
    flags = _CV2_REDUCED[scale] | cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(data, flags)
    decoded = Size(-(-width // scale), -(-height // scale))
    if pixels is None or pixels.shape != (decoded.height, decoded.width, 3):
        return None
    if info.orientation != 1:
        pixels = _UPRIGHT_ARRAY[info.orientation](pixels)
    return pixels, decoded


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
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own pixel threshold; ours is checked just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
    except Image.DecompressionBombError as error:
        fp.close()
        raise ImageTooLargeError(f"declares more pixels than max_pixels={limits.max_pixels} allows "
                                 f"({error})", source=name) from None
    except UnidentifiedImageError:
        fp.seek(0)
        head = fp.read(16)
        fp.close()
        if _looks_like_heif(head):
            raise UnsupportedImageError(
                "HEIC/HEIF needs the optional decoder: pip install 'smartframe[heif]'", source=name
            ) from None
        raise NotAnImageError("not an image in a format smartframe reads "
                              "(JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF, HEIC with the extra)",
                              source=name) from None
    except _DECODER_ERRORS as error:
        fp.close()
        raise CorruptImageError(f"cannot read the image header ({error})", source=name) from error
    try:
        info = _describe(image, name, file_bytes, limits)
    except BaseException:
        image.close()
        raise
    return OpenedSource(image, info, owned=True, array=None)


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
    """Composite an HxWx4 uint8 RGBA array over an opaque colour; returns HxWx3 uint8."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    colour = np.asarray(background, np.uint16)
    blended = rgba[..., :3].astype(np.uint16) * alpha + colour * (255 - alpha)
    return ((blended + 127) // 255).astype(np.uint8)


# --- the source kinds -------------------------------------------------------------------------

def _open_bytes(source: object, limits: Limits) -> tuple[str, BinaryIO, int]:
    """A seekable binary stream for a path, bytes or file object, within the byte limit."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            file_bytes = os.stat(name).st_size
        except FileNotFoundError:
            raise ImageNotFoundError("no such file", source=name) from None
        except OSError as error:
            raise ImageReadError(f"cannot read ({error.strerror or error})", source=name) from None
        _check_file_bytes(file_bytes, limits, name)
        try:
            return name, open(name, "rb"), file_bytes
        except IsADirectoryError:
            raise ImageReadError("is a directory, not a file", source=name) from None
        except FileNotFoundError:
            raise ImageNotFoundError("no such file", source=name) from None
        except OSError as error:
            raise ImageReadError(f"cannot read ({error.strerror or error})", source=name) from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_file_bytes(len(data), limits, "<bytes>")
        return "<bytes>", io.BytesIO(data), len(data)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        try:
            data = source.read(limits.max_file_bytes + 1)
        except OSError as error:
            raise ImageReadError(f"cannot read the stream ({error})", source=name) from None
        if not isinstance(data, bytes):
            raise OptionError("source", source, "a binary file object (opened with 'rb')")
        _check_file_bytes(len(data), limits, name)
        return name, io.BytesIO(data), len(data)
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
    name = getattr(image, "filename", "") or "<PIL image>"
    info = _describe(image, str(name), None, limits)
    return OpenedSource(image, info, owned=False, array=None)


def _describe(image: Image.Image, name: str, file_bytes: int | None, limits: Limits) -> SourceInfo:
    """The header facts of an opened (not yet decoded) PIL image, with the pixel limit checked."""
    _check_pixels(image.size, limits, name)
    tag = None
    try:
        tag = image.getexif().get(_EXIF_ORIENTATION_TAG)
    except _DECODER_ERRORS:
        tag = None  # unreadable EXIF: treated as no orientation (the image is still usable)
    orientation = tag if isinstance(tag, int) and tag in _UPRIGHT else 1
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
    except _DECODER_ERRORS:
        animated = False  # a broken second frame: the first is all we use anyway
    return SourceInfo(
        name=name,
        format=(image.format or "").lower() or None,
        mode=image.mode,
        stored_size=stored,
        size=size,
        orientation=orientation,
        orientation_tag=tag if isinstance(tag, int) else None,
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


def _to_srgb(image: Image.Image, info: SourceInfo, notes: list[str]) -> Image.Image:
    """Convert through the embedded ICC profile to sRGB when it is not sRGB already."""
    icc = image.info.get("icc_profile")
    if not icc or info.icc_is_srgb:
        return image
    if info.icc_is_srgb is None:
        notes.append("WARNING: the embedded ICC profile cannot be read; colours taken as sRGB")
        return image
    target_mode = {"RGBA": "RGBA", "CMYK": "RGB", "RGB": "RGB", "L": "RGB", "LA": "RGBA"}.get(image.mode)
    if target_mode is None:
        notes.append(f"WARNING: ICC conversion is not supported for mode {image.mode}; colours taken as sRGB")
        return image
    source_mode = image.mode
    if image.mode == "LA":
        image = image.convert("RGBA")  # LittleCMS has no grey+alpha transform; grey profiles need L
        source_mode = "RGBA"
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, profile, _srgb_profile(),
                                              outputMode=target_mode, inPlace=False)
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        notes.append(f"WARNING: the ICC profile could not be applied ({error}); colours taken as sRGB")
        return image
    notes.append(f"colours converted from ICC profile '{info.icc_description}' ({source_mode}) to sRGB")
    return converted


def _pil_to_array(image: Image.Image, info: SourceInfo, notes: list[str]) -> np.ndarray:
    """An upright PIL image of any mode as HxWx3 (RGB) or HxWx4 (RGBA) uint8."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        if mode == "RGB" and "transparency" in image.info:
            return np.asarray(image.convert("RGBA"))
        return np.asarray(image)
    if mode in ("RGBX", "YCbCr", "HSV"):
        return np.asarray(image.convert("RGB"))
    if mode in ("RGBa", "La", "LA", "PA"):
        return np.asarray(image.convert("RGBA"))
    if mode in ("P", "L", "1"):
        has_alpha = "transparency" in image.info or (mode == "P" and image.palette and image.palette.mode == "RGBA")
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    if mode == "CMYK":
        notes.append("CMYK converted to RGB without a profile (no ICC profile was embedded)")
        return np.asarray(image.convert("RGB"))
    if mode.startswith("I;16") or mode == "I" or mode == "F":
        grey = _high_depth_to_uint8(np.asarray(image), mode, notes)
        return np.repeat(grey[:, :, None], 3, axis=2)
    try:
        return np.asarray(image.convert("RGB"))
    except ValueError:
        raise UnsupportedImageError(f"cannot convert image mode {mode} to RGB", source=info.name) from None


def _high_depth_to_uint8(values: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """Scale 16-bit, 32-bit integer or float grey values to 0..255 (never clip them).

    16-bit (``I;16*``, and ``I`` whose values lie in 0..65535, as PNG and TIFF store it):
    v * 255 / 65535. Float (``F``) in 0..1: v * 255. Anything else: stretched linearly from
    its minimum to its maximum, and a note says so.
    """
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, 0.0)
        notes.append(f"{mode}: non-finite values set to 0")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and high <= 65535):
        scaled = values * (255.0 / 65535.0)
        notes.append(f"{mode}: 16-bit values scaled to 8 bits")
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
        notes.append("F: float values 0..1 scaled to 8 bits")
    else:
        span = high - low
        scaled = (values - low) * (255.0 / span) if span > 0 else np.zeros_like(values)
        notes.append(f"{mode}: values {low:g}..{high:g} stretched to 0..255")
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    return array


def _exif_bytes(image: Image.Image) -> bytes | None:
    """The source's EXIF block with the orientation reset to 1 (already applied), or None."""
    try:
        exif = image.getexif()
        if not exif:
            return None
        if _EXIF_ORIENTATION_TAG in exif:
            exif[_EXIF_ORIENTATION_TAG] = 1
        return exif.tobytes()
    except _DECODER_ERRORS:
        return None
