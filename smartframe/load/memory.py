"""Memory: what decoding an image will allocate, estimated from its header.

The estimate is checked against ``Limits.max_decode_bytes`` before any pixel is decoded
(:meth:`~smartframe.load.OpenedSource.decode`), and against measured peaks in
``tests/test_memory.py``.
"""

from __future__ import annotations

import math
import numbers

from PIL import Image

from .header import SourceInfo

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

