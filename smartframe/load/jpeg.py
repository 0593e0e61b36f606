"""JPEG in the DCT domain: a baseline JPEG decoded at 1/1, 1/2, 1/4 or 1/8 scale by OpenCV.

OpenCV's libjpeg-turbo (the library Pillow uses) writes RGB straight into a NumPy array with the
same DCT-domain reduction as Pillow's ``draft``, which saves Pillow's packing copy. Two users:
:meth:`~smartframe.load.OpenedSource.decode` (the working image the output is rendered from)
and :class:`ReducedJpeg`, a second, smaller decode of the same bytes for the analysis, which
may run on another thread while the first decode runs: it shares nothing with it but the
(read-only) bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import Size
from ..native import captured_stderr

__all__ = ["DCT_SCALES", "dct_scale", "decode_dct", "upright", "ReducedJpeg"]

#: The DCT-domain reductions libjpeg offers.
DCT_SCALES = (1, 2, 4, 8)
# OpenCV's flags for a DCT-domain reduction, by scale (the colour flag is added to them).
_CV2_REDUCED = {1: 0, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
# The upright array from the stored one, for each EXIF orientation (as Pillow's exif_transpose).
_UPRIGHT_ARRAY = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


def dct_scale(stored_size: Size, max_reduction: float) -> int:
    """The DCT-domain reduction Pillow's ``draft`` chooses for a JPEG of ``stored_size`` when
    the caller accepts shrinking by up to ``max_reduction``: the largest of 8, 4, 2, 1 that
    leaves at least ``ceil(side / max_reduction)`` pixels on both sides."""
    if max_reduction < 2:
        return 1
    width, height = stored_size
    wanted_w = max(1, math.ceil(width / max_reduction))
    wanted_h = max(1, math.ceil(height / max_reduction))
    allowed = min(width // wanted_w, height // wanted_h)
    return next(s for s in (8, 4, 2, 1) if allowed >= s)


def decode_dct(data: np.ndarray, scale: int) -> tuple[np.ndarray | None, list[str]]:
    """Decode JPEG ``data`` (uint8 bytes) at 1/``scale`` as stored (no EXIF rotation): the RGB
    array, or None when libjpeg cannot decode it, and the lines libjpeg printed."""
    flags = _CV2_REDUCED[scale] | cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
    with captured_stderr() as said:
        pixels = cv2.imdecode(data, flags)
    return pixels, said


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored array turned upright for EXIF ``orientation`` (a contiguous copy unless 1)."""
    if orientation == 1:
        return pixels
    return np.ascontiguousarray(_UPRIGHT_ARRAY[orientation](pixels))


@dataclass(frozen=True)
class ReducedJpeg:
    """A smaller decode of a baseline JPEG, for the analysis, made from bytes already read.

    ``scale`` is the DCT reduction (2, 4 or 8); :meth:`decode` gives the upright RGB array and
    its pixels per source pixel along x and y. Safe to run on another thread while the
    working image is decoded from the same bytes.
    """

    data: np.ndarray
    scale: int
    stored_size: Size
    orientation: int
    size: Size  # upright, source pixels

    def decode(self) -> tuple[np.ndarray, tuple[float, float]] | None:
        """``(pixels, pixel_scale)``, or None when libjpeg cannot decode the data (the working
        image's decode then reports why)."""
        pixels, _said = decode_dct(self.data, self.scale)  # the working decode notes what it says
        width, height = self.stored_size
        expected = (math.ceil(height / self.scale), math.ceil(width / self.scale))
        if pixels is None or pixels.shape[:2] != expected:
            return None
        pixels = upright(pixels, self.orientation)
        pixels.flags.writeable = False
        rows, cols = pixels.shape[:2]
        return pixels, (cols / self.size.width, rows / self.size.height)
