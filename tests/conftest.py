"""Shared fixtures: every image the tests use is made here, by code."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

# EXIF orientation -> the transpose that makes a stored image upright (the EXIF definition).
UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
}


def marker_image(width: int = 64, height: int = 48) -> np.ndarray:
    """An asymmetric RGB picture: red block top-left, green top-right, blue bottom-left,
    grey elsewhere, so every rotation and mirror is distinguishable."""
    image = np.full((height, width, 3), 128, np.uint8)
    h3, w3 = max(1, height // 3), max(1, width // 3)
    image[:h3, :w3] = (220, 30, 30)
    image[:h3, -w3:] = (30, 200, 30)
    image[-h3:, :w3] = (30, 30, 220)
    return image


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    """The image a camera would store so that applying ``orientation`` gives ``upright``."""
    method = UPRIGHT[orientation]
    if method is None:
        return upright.copy()
    return upright.transpose(_INVERSE.get(method, method))


def encode_image(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def with_orientation(image: Image.Image, fmt: str, orientation: int, **params) -> bytes:
    """``image`` encoded in ``fmt`` with an EXIF orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode_image(image, fmt, exif=exif.tobytes(), **params)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture
def scene():
    """A 1600x1000 landscape with a subject at the left third, and the subject's box."""
    from smartframe.scenes import landscape_with_subject

    return landscape_with_subject(1600, 1000, subject_x=0.22, subject_y=0.5)


def _s15(value: float) -> bytes:
    import struct

    return struct.pack(">i", round(value * 65536))


def rgb_profile(description: str, red_xyz, green_xyz, blue_xyz, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma), built byte by byte.

    Used to test colour management with a profile that is clearly not sRGB (for example
    with the red and blue primaries swapped). Colourants are D50-adapted XYZ triples.
    """
    import struct

    def xyz_tag(xyz) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in xyz)

    text = description.encode("ascii") + b"\0"
    desc = (b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz_tag((0.9642, 1.0, 0.8249))),
            (b"rXYZ", xyz_tag(red_xyz)), (b"gXYZ", xyz_tag(green_xyz)), (b"bXYZ", xyz_tag(blue_xyz)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_RED_D50 = (0.4361, 0.2225, 0.0139)
SRGB_GREEN_D50 = (0.3851, 0.7169, 0.0971)
SRGB_BLUE_D50 = (0.1431, 0.0606, 0.7141)


def swapped_primaries_profile() -> bytes:
    """An RGB profile whose 'red' channel is sRGB blue and whose 'blue' channel is sRGB red."""
    return rgb_profile("Swapped primaries (test)", SRGB_BLUE_D50, SRGB_GREEN_D50, SRGB_RED_D50)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width`` x ``height`` pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))
