"""Render: apply a plan to the pixels. Exactly the target size, one resampling pass.

The crop box goes from the working image to the output size in a single resample:

* shrinking, with a box on whole working pixels (the planner snaps it so): OpenCV
  ``INTER_AREA``, an exact area average and several times faster than a Lanczos filter;
* enlarging, or a fractional box: Pillow's Lanczos filter reading the fractional ``box``
  directly (``Image.resize(size, box=...)``), so no intermediate crop rounds anything.

Pad frames paste the content onto a colour or onto a blurred cover-crop of the image; the
pad area is opaque in both cases, also when transparency is kept in the content.
The output size is asserted before returning.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from .geometry import Box, Size, WorkingGrid
from .plan import Plan

__all__ = ["render", "resample_box"]

# Pillow's Lanczos kernel reaches 3 input pixels (times the shrink factor) from each output
# sample; the margin keeps that support when only the neighbourhood of the box is handed over.
_LANCZOS_SUPPORT = 3


def render(pixels: np.ndarray, grid: WorkingGrid, plan: Plan) -> np.ndarray:
    """The output of ``plan`` as an HxWxC uint8 array (C as in ``pixels``).

    ``pixels`` is the working image (HxWx3 RGB or HxWx4 RGBA, upright) and ``grid`` the
    exact map of its pixels on the source (``LoadedImage.grid``); ``plan`` boxes are in
    source pixels.
    """
    size = plan.output_size
    box = grid.to_working(plan.crop_box)
    content = plan.content_box
    content_size = Size(round(content.width), round(content.height))
    body = resample_box(pixels, box, content_size)
    if content_size == size:
        out = body
    else:
        out = _background(pixels, size, plan.background)
        x0, y0 = round(content.x0), round(content.y0)
        out[y0:y0 + content_size.height, x0:x0 + content_size.width] = body
    expected = (size.height, size.width, pixels.shape[2])
    if out.shape != expected:  # the one promise smartframe never breaks
        raise AssertionError(f"rendered {out.shape}, expected {expected}")
    return out


def resample_box(pixels: np.ndarray, box: Box, size: Size) -> np.ndarray:
    """Resample the region ``box`` (working pixels, may be fractional) of ``pixels`` to ``size``.

    One resampling pass; returns a new HxWxC uint8 array of exactly ``size``.
    """
    height, width = pixels.shape[:2]
    shrinking = size.width <= box.width + 1e-9 and size.height <= box.height + 1e-9
    on_grid = all(abs(v - round(v)) < 1e-6 for v in box)
    if on_grid:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if (x1 - x0, y1 - y0) == tuple(size):
            return pixels[y0:y1, x0:x1].copy()
        if shrinking:
            return _area_shrink(pixels[y0:y1, x0:x1], size)
    return _lanczos(pixels, box, size)


def _area_shrink(region: np.ndarray, size: Size) -> np.ndarray:
    if region.shape[2] == 4:
        # Average colours weighted by opacity, so transparent pixels do not darken edges.
        alpha = region[..., 3:4].astype(np.float32) / 255.0
        premultiplied = np.concatenate([region[..., :3] * alpha, alpha * 255.0], axis=2)
        small = cv2.resize(premultiplied, tuple(size), interpolation=cv2.INTER_AREA)
        a = small[..., 3:4] / 255.0
        rgb = np.divide(small[..., :3], a, out=np.zeros_like(small[..., :3]), where=a > 0)
        return np.clip(np.rint(np.concatenate([rgb, small[..., 3:4]], axis=2)), 0, 255).astype(np.uint8)
    return cv2.resize(region, tuple(size), interpolation=cv2.INTER_AREA)


def _lanczos(pixels: np.ndarray, box: Box, size: Size) -> np.ndarray:
    """Pillow Lanczos from a fractional box, handing Pillow only the box's neighbourhood."""
    height, width = pixels.shape[:2]
    reach = _LANCZOS_SUPPORT * max(1.0, box.width / size.width, box.height / size.height) + 1
    x0 = max(0, math.floor(box.x0 - reach))
    y0 = max(0, math.floor(box.y0 - reach))
    x1 = min(width, math.ceil(box.x1 + reach))
    y1 = min(height, math.ceil(box.y1 + reach))
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    neighbourhood = Image.fromarray(np.ascontiguousarray(pixels[y0:y1, x0:x1]), mode)
    local = (box.x0 - x0, box.y0 - y0, box.x1 - x0, box.y1 - y0)
    # Pillow premultiplies RGBA itself during resize.
    resized = neighbourhood.resize(tuple(size), Image.Resampling.LANCZOS, box=local)
    return np.asarray(resized).copy()


def _background(pixels: np.ndarray, size: Size, background) -> np.ndarray:
    channels = pixels.shape[2]
    if background == "blur":
        return _blurred_cover(pixels, size)
    colour = tuple(background) + ((255,) if channels == 4 else ())
    return np.full((size.height, size.width, channels), colour, np.uint8)


def _blurred_cover(pixels: np.ndarray, size: Size) -> np.ndarray:
    """A heavily blurred centre cover-crop of the image, at ``size``: the pad background.

    Opaque, as a colour background is: for an RGBA image (``alpha="keep"``) the visible
    colours are blurred (weighted by opacity, so what lies under transparent pixels never
    shows) and the alpha channel is 255; only the content keeps its transparency.
    """
    if pixels.shape[2] == 4:
        alpha = pixels[..., 3:4].astype(np.float32) / 255.0
        weighted = np.concatenate([pixels[..., :3] * alpha, alpha * 255.0], axis=2)  # float32
        blurred = _blur_cover_crop(weighted, size)
        coverage = blurred[..., 3:4] / 255.0
        rgb = np.divide(blurred[..., :3], coverage, out=np.zeros_like(blurred[..., :3]), where=coverage > 1e-3)
        opaque = np.full(coverage.shape, 255.0, np.float32)
        return np.clip(np.rint(np.concatenate([rgb, opaque], axis=2)), 0, 255).astype(np.uint8)
    return _blur_cover_crop(pixels, size)


def _blur_cover_crop(pixels: np.ndarray, size: Size) -> np.ndarray:
    """The centre cover-crop of ``pixels`` at ``size``, heavily blurred (every channel alike)."""
    height, width = pixels.shape[:2]
    scale = max(size.width / width, size.height / height)
    crop_w, crop_h = min(width, size.width / scale), min(height, size.height / scale)
    x0, y0 = int((width - crop_w) / 2), int((height - crop_h) / 2)
    crop = pixels[y0:y0 + max(1, int(crop_h)), x0:x0 + max(1, int(crop_w))]
    # Blur at 1/16 of the output: cheap, and the enlargement back smooths it further.
    small_size = (max(1, size.width // 16), max(1, size.height // 16))
    small = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, tuple(size), interpolation=cv2.INTER_LINEAR)
