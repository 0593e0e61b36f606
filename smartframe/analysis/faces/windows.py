"""Model inputs: regions of an image rendered into square tensors, with exact pixel mapping.

A :class:`Window` is a region of the input image (input pixels, possibly past its border);
:func:`prepare_windows` renders windows into the model's square input with an antialiased
downscale cut from a per-call :class:`Pyramid` of whole-image resizes (cheap on 12 MP
inputs), and records how tile pixels map back to input pixels without rounding drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["as_rgb_uint8", "fast_downscale", "Pyramid", "Window", "letterbox_window",
           "window_tensor", "Prepared", "prepare_windows"]


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate and normalise an input array to contiguous (H, W, 3) uint8 RGB."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = np.ascontiguousarray(arr[:, :, :3])
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def fast_downscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased downscale that stays cheap for 12+ MP inputs.

    cv2.INTER_AREA costs 25-40 ms on a 12 MP image, so for large reductions we first
    subsample with INTER_LINEAR to 2x the target (reads only a fraction of the pixels)
    and then average with INTER_AREA (an exact 2x2 box).
    """
    h, w = img.shape[:2]
    if width >= w and height >= h:
        if (width, height) == (w, h):
            return img
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    if w > 4 * width and h > 4 * height:
        img = cv2.resize(img, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


class Pyramid:
    """Per-call cache of whole-image resizes of one input image.

    ``source(sx, sy)`` returns the smallest cached resize whose scale is at least twice
    (sx, sy) -- or the input itself -- with its exact per-axis scales, so that a window
    is cut from an image at most ~2x larger than needed (cheap on 12 MP inputs) and
    results map back without rounding drift.
    """

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self.h, self.w = rgb.shape[:2]
        self._levels: list[tuple[float, float, np.ndarray]] = []

    def source(self, sx: float, sy: float) -> tuple[np.ndarray, float, float]:
        best = (1.0, 1.0, self.rgb)
        for lsx, lsy, img in self._levels:
            if lsx >= 2 * sx and lsy >= 2 * sy and lsx * lsy < best[0] * best[1]:
                best = (lsx, lsy, img)
        return best[2], best[0], best[1]

    def add(self, img: np.ndarray) -> None:
        h, w = img.shape[:2]
        if (w, h) != (self.w, self.h):
            self._levels.append((w / self.w, h / self.h, img))


@dataclass(frozen=True)
class Window:
    """A region of the input (input pixels) resized to one square model tensor.

    ``w == h`` keeps the aspect ratio; ``w != h`` squashes the region (the full-range
    pass uses up to 1.5:1 so that one 192x192 tensor covers a 3:2 photo without
    letterbox padding).  The region may extend past the image (black padding).
    """

    x0: float
    y0: float
    w: float
    h: float

    @classmethod
    def square(cls, x0: float, y0: float, side: float) -> "Window":
        return cls(x0, y0, side, side)


def letterbox_window(w: int, h: int) -> Window:
    """Whole image centred in a square (mediapipe keep_aspect_ratio letterboxing)."""
    side = float(max(w, h))
    return Window.square((w - side) / 2.0, (h - side) / 2.0, side)


def window_tensor(
    pyr: Pyramid, win: Window, size: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Render ``win`` into a (size, size, 3) uint8 tile and return the pixel mapping.

    Only the part of the source image under the window is resized (antialiased), so
    small windows (verification) stay cheap on large inputs.  Returns the tile and
    (ox, oy, sx, sy) with input_x = ox + tile_x / sx and input_y = oy + tile_y / sy,
    exact for the integer crop actually used.  Padding is black (mediapipe letterboxes
    with zeros).
    """
    tile = np.zeros((size, size, 3), dtype=np.uint8)
    src, lsx, lsy = pyr.source(size / win.w, size / win.h)
    sh, sw = src.shape[:2]
    wx0, wy0 = win.x0 * lsx, win.y0 * lsy  # window in source pixels
    wx1, wy1 = (win.x0 + win.w) * lsx, (win.y0 + win.h) * lsy
    fx, fy = size / (wx1 - wx0), size / (wy1 - wy0)  # tile px per source px
    X0, Y0 = max(0, int(np.floor(wx0))), max(0, int(np.floor(wy0)))
    X1, Y1 = min(sw, int(np.ceil(wx1))), min(sh, int(np.ceil(wy1)))
    if X1 <= X0 or Y1 <= Y0:
        return tile, (win.x0, win.y0, size / win.w, size / win.h)
    tx0 = min(size - 1, max(0, int(round((X0 - wx0) * fx))))
    ty0 = min(size - 1, max(0, int(round((Y0 - wy0) * fy))))
    cw = max(1, min(size - tx0, int(round((X1 - X0) * fx))))
    ch = max(1, min(size - ty0, int(round((Y1 - Y0) * fy))))
    crop = fast_downscale(src[Y0:Y1, X0:X1], cw, ch)
    if (X0, Y0, X1, Y1) == (0, 0, sw, sh):
        pyr.add(crop)  # a whole-image resize: reusable as a source for smaller windows
    tile[ty0 : ty0 + ch, tx0 : tx0 + cw] = crop
    ex, ey = cw / (X1 - X0), ch / (Y1 - Y0)  # exact tile px per source px of this crop
    sx, sy = ex * lsx, ey * lsy  # tile px per input px
    return tile, ((X0 - tx0 / ex) / lsx, (Y0 - ty0 / ey) / lsy, sx, sy)


@dataclass(frozen=True)
class Prepared:
    """Model-input tiles rendered for some windows, with their pixel mappings."""

    tiles: np.ndarray  # (B, S, S, 3) uint8
    maps: np.ndarray  # (B, 4) float64: ox, oy, sx, sy (input = o + tile_px / s)


def prepare_windows(pyr: Pyramid, windows: Sequence[Window], size: int) -> Prepared:
    """Render the windows (in order, so the pyramid cache use is deterministic)."""
    tiles, maps = [], []
    for win in windows:
        t, m = window_tensor(pyr, win, size)
        tiles.append(t)
        maps.append(m)
    if not tiles:
        return Prepared(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 4)))
    return Prepared(np.stack(tiles), np.asarray(maps, dtype=np.float64))
