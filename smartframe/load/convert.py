"""Normalisation: decoded pixels -> upright 8-bit sRGB RGB(A) arrays, in bands.

ICC profile to sRGB, every mode to 8-bit RGB (16-bit and float scaled, never clipped),
transparency flattened onto a colour (or kept as RGBA), a whole-factor box reduction, and EXIF
orientation written straight into the upright array. The conversion runs in bands of rows, so
its temporary copies stay about a megapixel whatever the image size.
"""

from __future__ import annotations

import io
import math
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageCms

from ..errors import UnsupportedImageError
from ..options import AlphaPolicy, Colour
from .header import _DECODER_ERRORS, _EXIF_ORIENTATION_TAG, SourceInfo

# Rows are converted in bands of about this many pixels: the temporary copies of a band
# (crop, mode change, ICC transform, float scaling) stay a few tens of megabytes.
_BAND_PIXELS = 1 << 20
_SRGB_PROFILE = None  # built on first use: ImageCms.createProfile is not free


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
