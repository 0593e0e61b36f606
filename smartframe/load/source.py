"""Opening a source and decoding it: :func:`open_source` -> :class:`OpenedSource` -> :class:`LoadedImage`.

See the package docstring (:mod:`smartframe.load`) for the two steps and what each checks.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageTooLargeError, OptionError
from ..geometry import Size, WorkingGrid
from ..options import AlphaPolicy, Colour, Limits
from .convert import _array_to_rgb, _box_reduce, _convert, _exif_bytes, _with_opaque_alpha, flatten_alpha
from .header import (
    _MAX_JPEG_SCANS,
    _SELF_ORIENTING_FORMATS,
    SourceInfo,
    _bomb_message,
    _check_pixels,
    _describe,
    _jpeg_scans,
    _open_bytes,
    _open_formats,
    _reading,
    _unidentified,
)
from .jpeg import DCT_SCALES, decode_dct, reversed_axes, upright
from .memory import _decoder_bytes, _mib

__all__ = ["Source", "LoadedImage", "OpenedSource", "open_source", "load"]

#: What ``frame``, ``check`` and ``load`` accept as an image.
Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]


@dataclass(frozen=True)
class LoadedImage:
    """Normalised pixels plus the facts of the source.

    ``pixels`` is a read-only HxWxC uint8 array, RGB (C=3) or RGBA (C=4, only with
    ``alpha="keep"``), upright, sRGB -- at the *working* resolution, which may be smaller
    than the source after a reduced decode.

    The working grid: a reduced decode averages ``reduction`` x ``reduction`` blocks of
    source pixels, so one working pixel is exactly ``reduction`` source pixels wide and high,
    but the last block along each stored axis is partial (the source's side is rarely a
    multiple of ``reduction``). ``working_origin`` is where working pixel 0 starts, in upright
    source pixels: 0, or negative by the missing part of a partial block when the EXIF
    orientation put that block first. Hence ``x_working = (x_source - working_origin[0]) *
    working_scale[0]`` inside the image, and the source's edges are the working image's edges
    (:attr:`grid` is that exact map, which planning and rendering use); analysis, which reads
    coarse maps, uses the scale alone (off by under one working pixel near a cut edge pixel).
    """

    pixels: np.ndarray
    info: SourceInfo
    notes: tuple[str, ...]
    exif: bytes | None = None
    reduction: int = 1
    working_origin: tuple[float, float] = (0.0, 0.0)

    @property
    def size(self) -> Size:
        """The upright source size, in source pixels."""
        return self.info.size

    @property
    def working_scale(self) -> tuple[float, float]:
        """Working pixels per source pixel, along x and y (the same: ``1 / reduction``)."""
        return (1.0 / self.reduction, 1.0 / self.reduction)

    @property
    def grid(self) -> WorkingGrid:
        """The exact map between source and working pixels (see the class docstring)."""
        height, width = self.pixels.shape[:2]
        return WorkingGrid(self.info.size, Size(width, height), (float(self.reduction),) * 2,
                           self.working_origin)



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
        self._jpeg_data: np.ndarray | None = None  # the file's bytes, once read (baseline JPEG)
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
            reduction, orientation = 1, 1
        elif (direct := self._decode_baseline_jpeg(max_reduction, alpha, notes)) is not None:
            pixels, exif, reduction = direct
            orientation = info.orientation
        else:
            image = self._draft(max_reduction, notes)
            # TIFF comes out of Pillow upright; every other format as stored.
            decoded_from = info.size if image.format in _SELF_ORIENTING_FORMATS else info.stored_size
            done = decoded_from.width / image.size[0]  # the reduction the decoder makes (JPEG)
            factor = max(1, math.floor(max_reduction / done + 1e-9))
            reduction = _draft_scale(decoded_from, Size(*image.size)) * factor
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
        return LoadedImage(pixels=pixels, info=info, notes=tuple(notes), exif=exif, reduction=reduction,
                           working_origin=_working_origin(info.size, pixels.shape, reduction, orientation))

    def _baseline_jpeg(self) -> bool:
        """Whether :meth:`decode` reads this file with OpenCV (see _decode_baseline_jpeg)."""
        image, info = self._image, self.info
        return bool(self._owned and info.format in ("jpeg", "mpo") and image.mode in ("RGB", "L")
                    and self._scans <= 1 and (not image.info.get("icc_profile") or info.icc_is_srgb))

    def _read_jpeg(self, notes: list[str]) -> np.ndarray:
        if self._jpeg_data is None:
            with _reading(self.info.name, "decode the image data", notes):
                self._image.fp.seek(0)
                self._jpeg_data = np.frombuffer(self._image.fp.read(), np.uint8)
        return self._jpeg_data

    def _decode_baseline_jpeg(self, max_reduction: float, alpha: AlphaPolicy,
                              notes: list[str]) -> tuple[np.ndarray, bytes | None, int] | None:
        """Decode a baseline JPEG with OpenCV: upright pixels, the EXIF block and the
        reduction (source pixels per working pixel), or None.

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
        info = self.info
        if not self._baseline_jpeg():
            return None
        image = self._draft(max_reduction, notes)  # only sets the size it will decode to
        scale = round(info.stored_size.width / image.size[0])
        if scale not in DCT_SCALES:
            return None
        factor = max(1, min(max(image.size), math.floor(min(max_reduction, 1e9) / scale + 1e-9)))
        reduced = (math.ceil(image.size[0] / factor), math.ceil(image.size[1] / factor))
        channels = 4 if alpha is AlphaPolicy.KEEP else 3
        self._check_memory([("the working image", reduced[0] * reduced[1] * channels)], notes)
        # libjpeg's warnings become notes, as Pillow's do
        pixels, said = decode_dct(self._read_jpeg(notes), scale)
        if pixels is None or pixels.shape[:2] != (image.size[1], image.size[0]):
            return None
        notes.extend(f"WARNING: the JPEG decoder said: {line}" for line in dict.fromkeys(said))
        if factor > 1:
            pixels = _box_reduce(pixels, factor)
        pixels = upright(pixels, info.orientation)
        if alpha is AlphaPolicy.KEEP:
            pixels = _with_opaque_alpha(pixels)
        if reduced != tuple(info.stored_size):  # the same notes, in the same order, as Pillow's path
            notes.append(f"decoded at reduced size {reduced[0]}x{reduced[1]}")
        if info.orientation != 1:
            notes.append(f"EXIF orientation {info.orientation} applied")
        with _reading(info.name, "read the EXIF block", notes):
            exif = _exif_bytes(self._image, notes)
        return pixels, exif, scale * factor

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


def _draft_scale(stored: Size, decoded: Size) -> int:
    """The DCT scale (1, 2, 4 or 8) a decoder used to turn ``stored`` into ``decoded``:
    libjpeg rounds each side up, ``ceil(side / scale)``. When several scales give the same
    size (a side of one working pixel), any of them is the same grid for the pixels there."""
    for scale in DCT_SCALES:
        if (math.ceil(stored.width / scale), math.ceil(stored.height / scale)) == tuple(decoded):
            return scale
    raise AssertionError(f"a {stored} image decoded to {decoded}: not a DCT scale")


def _working_origin(size: Size, shape: tuple[int, ...], reduction: int,
                    orientation: int) -> tuple[float, float]:
    """Where working pixel 0 starts in upright source pixels (see :class:`LoadedImage`): the
    partial block of a reduced decode is at the stored right and bottom, so on an axis the
    orientation reversed the grid starts before 0 by the part of that block that is missing."""
    height, width = shape[:2]
    flip_x, flip_y = reversed_axes(orientation)
    return (float(size.width - width * reduction) if flip_x else 0.0,
            float(size.height - height * reduction) if flip_y else 0.0)


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
    formats = _open_formats()
    notes: list[str] = []
    try:
        with _reading(name, "read the image header", notes):
            try:
                image = Image.open(fp, formats=formats)
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

