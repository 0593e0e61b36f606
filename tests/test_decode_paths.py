"""The fast decode paths give the same picture as the general one, upright, on every path.

A plain JPEG is decoded straight into a NumPy array (see ``load._decode_plain_jpeg``); every
other input goes through Pillow. Both must agree bit for bit, at every DCT reduction and
every EXIF orientation, and framing must stay upright whichever render path follows
(INTER_AREA shrink after a reduced decode, Lanczos enlargement, pad).
"""

from __future__ import annotations

import importlib
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

load_module = importlib.import_module("smartframe.load")  # the module (smartframe.load is the function)
ORIENTATIONS = range(1, 9)


def upright_marker(width: int = 960, height: int = 640) -> Image.Image:
    return Image.fromarray(marker_image(60, 40)).resize((width, height), Image.BILINEAR)


@pytest.fixture
def paths_taken(monkeypatch):
    """Which decode path each load took: True for the direct JPEG path."""
    taken = []
    real = load_module._decode_plain_jpeg

    def spy(*args):
        result = real(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(load_module, "_decode_plain_jpeg", spy)
    return taken


def pillow_only(monkeypatch):
    monkeypatch.setattr(load_module, "_decode_plain_jpeg", lambda *args: None)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("max_reduction", [1.0, 2.5, 5.0, 9.0])
def test_direct_jpeg_decode_equals_pillow_bit_for_bit(orientation, max_reduction, monkeypatch, paths_taken):
    data = with_orientation(stored_for_orientation(upright_marker(), orientation), "JPEG", orientation,
                            quality=90)
    direct = load(data, max_reduction=max_reduction)
    assert paths_taken == [True]
    pillow_only(monkeypatch)
    general = load(data, max_reduction=max_reduction)
    assert np.array_equal(direct.pixels, general.pixels)
    assert direct.notes == general.notes and direct.exif == general.exif
    assert direct.pixels.flags.c_contiguous and not direct.pixels.flags.writeable
    assert direct.size == (960, 640)


def test_grey_and_srgb_tagged_jpegs_take_the_direct_path(monkeypatch, paths_taken):
    grey = encode_image(upright_marker().convert("L"), "JPEG", quality=90)
    srgb = encode_image(upright_marker(), "JPEG", quality=90, icc_profile=srgb_profile())
    results = [load(grey, max_reduction=2), load(srgb, max_reduction=2)]
    assert paths_taken == [True, True]
    pillow_only(monkeypatch)
    for data, direct in zip((grey, srgb), results):
        assert np.array_equal(direct.pixels, load(data, max_reduction=2).pixels)


def srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_other_jpegs_go_through_pillow(paths_taken):
    swapped = encode_image(Image.new("RGB", (64, 48), (200, 30, 30)), "JPEG", quality=95,
                           icc_profile=swapped_primaries_profile())
    cmyk = encode_image(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG", quality=95)
    red_as_blue = load(swapped).pixels[24, 32]
    assert red_as_blue[2] > 150 and red_as_blue[0] < 80  # the profile was applied
    assert load(cmyk).pixels.shape == (48, 64, 3)
    assert paths_taken == [False, False]


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
