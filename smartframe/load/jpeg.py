"""JPEG in the DCT domain: a baseline JPEG decoded at 1/1, 1/2, 1/4 or 1/8 scale by OpenCV.

OpenCV's libjpeg-turbo (the library Pillow uses) writes RGB straight into a NumPy array with the
same DCT-domain reduction as Pillow's ``draft``, which saves Pillow's packing copy. Used by
:meth:`~smartframe.load.OpenedSource.decode` for the working image the output is rendered from
and the analysis runs on.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..geometry import Size
from ..native import captured_stderr

__all__ = ["DCT_SCALES", "dct_scale", "decode_dct", "upright", "reversed_axes"]

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

# Which upright axes (x, y) run against the stored ones, for each EXIF orientation (as above).
_REVERSED_AXES = {1: (False, False), 2: (True, False), 3: (True, True), 4: (False, True),
                  5: (False, False), 6: (True, False), 7: (True, True), 8: (False, True)}


def reversed_axes(orientation: int) -> tuple[bool, bool]:
    """Whether the upright x and y axes run backwards along the stored image's axes, for EXIF
    ``orientation``: a reduced decode's partial edge pixel (at the stored image's right and
    bottom) then lands at the upright image's left or top."""
    return _REVERSED_AXES[orientation]


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
