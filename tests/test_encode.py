import io

import numpy as np
import pytest
from PIL import Image

from smartframe.encode import encode, format_from_path, normalise_format
from smartframe.errors import ByteBudgetError, OptionError


def noise(width=640, height=360, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_round_trip(fmt):
    encoded = encode(noise(64, 48), fmt)
    decoded = Image.open(io.BytesIO(encoded.data))
    assert decoded.format.lower() == fmt and decoded.size == (64, 48) and decoded.mode == "RGB"
    assert encoded.quality == (None if fmt == "png" else 90)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_byte_budget_finds_the_highest_quality_that_fits(fmt):
    from smartframe.scenes import landscape_with_subject

    image = Image.fromarray(landscape_with_subject(640, 360)[0])
    full = len(encode(image, fmt).data)
    budget = full // 2
    encoded = encode(image, fmt, max_bytes=budget)
    assert len(encoded.data) <= budget and encoded.quality < 90
    one_better = encode(image, fmt, quality=encoded.quality + 1)
    assert len(one_better.data) > budget


def test_byte_budget_that_cannot_be_met_fails_clearly():
    with pytest.raises(ByteBudgetError, match="max_bytes=500"):
        encode(noise(), "jpeg", max_bytes=500)
    with pytest.raises(ByteBudgetError, match="JPEG or WebP"):
        encode(noise(), "png", max_bytes=1000)


def test_metadata_is_stripped_unless_given():
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    plain = Image.open(io.BytesIO(encode(noise(32, 32), "jpeg").data))
    assert not plain.getexif()
    kept = Image.open(io.BytesIO(encode(noise(32, 32), "jpeg", exif=exif.tobytes()).data))
    assert kept.getexif()[0x010F] == "CameraMaker"


def test_alpha_is_never_written_unless_the_image_has_it():
    assert Image.open(io.BytesIO(encode(noise(8, 8), "png").data)).mode == "RGB"
    rgba = Image.new("RGBA", (8, 8), (1, 2, 3, 4))
    assert Image.open(io.BytesIO(encode(rgba, "png").data)).mode == "RGBA"
    with pytest.raises(OptionError, match="transparency"):
        encode(rgba, "jpeg")


def test_format_names():
    assert normalise_format("JPG") == "jpeg" and normalise_format(".webp") == "webp"
    assert format_from_path("a/b.JPEG") == "jpeg" and format_from_path("x.png") == "png"
    with pytest.raises(OptionError, match=r"\.jpg, \.jpeg, \.png or \.webp"):
        format_from_path("out.gif")
    with pytest.raises(OptionError):
        normalise_format("gif")
    with pytest.raises(OptionError, match="quality"):
        encode(noise(8, 8), "jpeg", quality=0)
