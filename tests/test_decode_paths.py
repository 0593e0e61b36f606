"""Decoding stays upright and exact on every path.

Baseline RGB/grey JPEGs are decoded by OpenCV, other inputs by Pillow (plain RGB in one
copy, other modes band by band); at every DCT reduction and EXIF orientation, and through
every render path (INTER_AREA shrink after a reduced decode, Lanczos enlargement, pad),
the pixels must agree with Pillow's own upright image.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

import smartframe
from smartframe.errors import CorruptImageError
from smartframe.load import load

from conftest import (
    encode_image,
    marker_image,
    mean_abs_diff,
    stored_for_orientation,
    swapped_primaries_profile,
    with_orientation,
)

ORIENTATIONS = range(1, 9)


def upright_marker(width: int = 960, height: int = 640) -> Image.Image:
    return Image.fromarray(marker_image(60, 40)).resize((width, height), Image.BILINEAR)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("max_reduction", [1.0, 2.5, 9.0])
def test_decoded_pixels_equal_pillows_upright_image_bit_for_bit(orientation, max_reduction):
    data = with_orientation(stored_for_orientation(upright_marker(), orientation), "JPEG", orientation,
                            quality=90)
    loaded = load(data, max_reduction=max_reduction)
    reference = Image.open(io.BytesIO(data))
    if max_reduction >= 2:
        stored_w, stored_h = reference.size
        reference.draft("RGB", (int(np.ceil(stored_w / max_reduction)), int(np.ceil(stored_h / max_reduction))))
    expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
    assert np.array_equal(loaded.pixels, expected)
    assert loaded.pixels.flags.c_contiguous and not loaded.pixels.flags.writeable
    assert loaded.size == (960, 640)


def test_progressive_and_baseline_jpegs_decode_alike():
    image = upright_marker()
    baseline = load(encode_image(image, "JPEG", quality=90), max_reduction=2.5).pixels
    progressive = load(encode_image(image, "JPEG", quality=90, progressive=True), max_reduction=2.5).pixels
    assert np.array_equal(baseline, progressive)  # OpenCV and Pillow: the same libjpeg output


def test_other_modes_agree_with_the_plain_rgb_path():
    colour = upright_marker()
    via_rgb = load(encode_image(colour, "PNG")).pixels
    via_rgba = load(encode_image(colour.convert("RGBA"), "PNG")).pixels  # the band path
    assert np.array_equal(via_rgb, via_rgba)
    swapped = encode_image(Image.new("RGB", (64, 48), (200, 30, 30)), "JPEG", quality=95,
                           icc_profile=swapped_primaries_profile())
    red_as_blue = load(swapped).pixels[24, 32]
    assert red_as_blue[2] > 150 and red_as_blue[0] < 80  # the profile was applied


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_a_truncated_jpeg_is_still_refused(cut):
    data = encode_image(upright_marker(), "JPEG", quality=90)
    with pytest.raises(CorruptImageError):
        load(data[: int(len(data) * cut)], max_reduction=2)


# --- orientation through every render path ---------------------------------------------------

@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("size, fit", [("240x135", "cover"),    # shrink after a 1/2 or 1/4 decode
                                       ("1600x900", "cover"),   # enlarge: Lanczos
                                       ("300x300", "pad"),
                                       ("200x100", "stretch")])
def test_framing_is_upright_on_every_path(orientation, size, fit):
    upright = upright_marker()
    data = with_orientation(stored_for_orientation(upright, orientation), "JPEG", orientation, quality=95)
    result = smartframe.frame(data, size, fit=fit, strategy="centre" if fit == "cover" else None)
    # Reference: Pillow's own upright image, framed from the reported box in one resample.
    reference_source = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert reference_source.size == result.source_size == (960, 640)
    content = result.plan.content_box
    expected = reference_source.resize((round(content.width), round(content.height)), Image.LANCZOS,
                                       box=result.crop_box)
    got = np.asarray(result.image)[round(content.y0):round(content.y1), round(content.x0):round(content.x1)]
    assert mean_abs_diff(got, np.asarray(expected)) < 4.0
