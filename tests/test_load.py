import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from smartframe.errors import (
    CorruptImageError,
    ImageNotFoundError,
    ImageReadError,
    ImageTooLargeError,
    NotAnImageError,
    OptionError,
    UnsupportedImageError,
)
from smartframe.geometry import Size
from smartframe.load import load, open_source
from smartframe.options import AlphaPolicy, Limits

from conftest import (
    encode_image,
    marker_image,
    mean_abs_diff,
    png_declaring,
    stored_for_orientation,
    swapped_primaries_profile,
    with_orientation,
)

ORIENTATIONS = range(1, 9)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("fmt, params, tolerance", [
    ("PNG", {}, 0.0),
    ("JPEG", {"quality": 95}, 4.0),
    ("WEBP", {"lossless": True}, 0.0),
    ("TIFF", {}, 0.0),
])
def test_every_orientation_is_made_upright(orientation, fmt, params, tolerance):
    upright = marker_image(60, 40)
    stored = stored_for_orientation(Image.fromarray(upright), orientation)
    data = with_orientation(stored, fmt, orientation, **params)
    loaded = load(data)
    assert loaded.info.orientation == orientation
    assert loaded.size == Size(60, 40)
    assert mean_abs_diff(loaded.pixels, upright) <= tolerance
    if orientation != 1:
        assert any("orientation" in note for note in loaded.notes)


@pytest.mark.parametrize("orientation", [1, 6, 8, 3])
def test_reduced_jpeg_decode_keeps_orientation(orientation):
    upright = np.asarray(Image.fromarray(marker_image(64, 48)).resize((1600, 1200), Image.NEAREST))
    stored = stored_for_orientation(Image.fromarray(upright), orientation)
    data = with_orientation(stored, "JPEG", orientation, quality=90)
    loaded = load(data, max_reduction=4.0)
    assert loaded.size == Size(1600, 1200)
    assert loaded.pixels.shape == (300, 400, 3)  # decoded at 1/4 in the DCT domain
    assert loaded.working_scale == (0.25, 0.25)
    small = np.asarray(Image.fromarray(upright).resize((400, 300), Image.BOX))
    assert mean_abs_diff(loaded.pixels, small) < 6.0
    assert any("reduced" in note for note in loaded.notes)


def test_reduction_never_goes_below_what_is_allowed():
    data = encode_image(Image.new("RGB", (1000, 800), (10, 20, 30)), "JPEG")
    assert load(data, max_reduction=1.9).pixels.shape[:2] == (800, 1000)
    assert load(data, max_reduction=2.0).pixels.shape[:2] == (400, 500)
    assert load(data, max_reduction=7.9).pixels.shape[:2] == (200, 250)
    # Past 1/8 (the DCT limit) a whole-factor box reduction continues: 125x100 / 12.
    assert load(data, max_reduction=100).pixels.shape[:2] == (9, 11)
    png = encode_image(Image.new("RGB", (1000, 800)), "PNG")
    assert load(png, max_reduction=1.9).pixels.shape[:2] == (800, 1000)
    assert load(png, max_reduction=3.5).pixels.shape[:2] == (267, 334)  # every format: whole factors
    for fmt in ("JPEG", "PNG"):
        for factor in (1.0, 1.5, 2.0, 2.5, 3.0, 7.9, 8.0, 13.0, 100.0):
            height, width = load(data if fmt == "JPEG" else png, max_reduction=factor).pixels.shape[:2]
            assert width >= 1000 / factor and height >= 800 / factor  # never below what is allowed


@pytest.mark.parametrize("fmt, params", [
    ("JPEG", {}), ("PNG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {}), ("TIFF", {}),
    pytest.param("AVIF", {}, marks=pytest.mark.skipif(not features.check("avif"), reason="no AVIF")),
])
def test_every_input_format_reads(fmt, params):
    source = marker_image(50, 30)
    loaded = load(encode_image(Image.fromarray(source), fmt, **params))
    assert loaded.info.format == fmt.lower()
    assert loaded.pixels.shape == (30, 50, 3) and loaded.pixels.dtype == np.uint8
    assert mean_abs_diff(loaded.pixels, source) < 12  # lossy formats and GIF's palette


def test_heic_reads_through_the_optional_extra():
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    source = marker_image(64, 48)
    buffer = io.BytesIO()
    Image.fromarray(source).save(buffer, "HEIF", quality=95)
    loaded = load(buffer.getvalue())
    assert loaded.pixels.shape == (48, 64, 3)
    assert mean_abs_diff(loaded.pixels, source) < 10


def test_modes_convert_to_rgb_correctly():
    grey = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    assert np.array_equal(load(encode_image(grey, "PNG")).pixels[..., 1], np.asarray(grey))
    bilevel = grey.convert("1")
    assert set(np.unique(load(encode_image(bilevel, "PNG")).pixels)) <= {0, 255}
    palette = Image.fromarray(marker_image()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    assert mean_abs_diff(load(encode_image(palette, "PNG")).pixels, np.asarray(palette.convert("RGB"))) == 0


def test_sixteen_bit_is_scaled_not_clipped():
    values = np.array([[0, 257, 32896, 65535]], np.uint16).repeat(2, axis=0)
    image = Image.fromarray(values)  # mode I;16
    assert image.mode == "I;16"
    loaded = load(encode_image(image, "PNG"))
    assert loaded.pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    assert any("16-bit" in note for note in loaded.notes)


def test_int32_and_float_modes_are_scaled():
    ints = Image.fromarray(np.array([[0, 65535], [32768, 1000]], np.int32))
    assert ints.mode == "I"
    assert load(encode_image(ints, "TIFF")).pixels[:, :, 0].tolist() == [[0, 255], [128, 4]]
    floats = Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.25]], np.float32))
    assert load(encode_image(floats, "TIFF")).pixels[:, :, 0].tolist() == [[0, 255], [128, 64]]
    wide = Image.fromarray(np.array([[-10.0, 10.0], [0.0, 5.0]], np.float32))
    loaded = load(encode_image(wide, "TIFF"))
    assert loaded.pixels[:, :, 0].tolist() == [[0, 255], [128, 191]]
    assert any("stretched" in note for note in loaded.notes)


def test_cmyk_converts():
    red = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    pixels = load(encode_image(red, "JPEG", quality=95)).pixels
    assert pixels[4, 4, 0] > 200 and pixels[4, 4, 1] < 40 and pixels[4, 4, 2] < 40


def test_alpha_is_flattened_onto_the_chosen_colour_never_dropped():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :2, 3] = 255  # left half opaque red, right half fully transparent
    data = encode_image(Image.fromarray(rgba, "RGBA"), "PNG")
    white = load(data).pixels
    assert white[0, 0].tolist() == [255, 0, 0] and white[0, 3].tolist() == [255, 255, 255]
    black = load(data, alpha_background=(0, 0, 0)).pixels
    assert black[0, 3].tolist() == [0, 0, 0]
    kept = load(data, alpha=AlphaPolicy.KEEP).pixels
    assert kept.shape == (4, 4, 4) and kept[0, 3, 3] == 0
    assert any("flattened" in note for note in load(data).notes)


def test_palette_and_la_transparency():
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    palette.info["transparency"] = 0
    loaded = load(encode_image(palette, "PNG", transparency=0))
    assert loaded.info.has_alpha
    assert loaded.pixels[0, 0].tolist() == [255, 255, 255]
    la = Image.fromarray(np.dstack([np.full((2, 2), 50, np.uint8), np.full((2, 2), 0, np.uint8)]), "LA")
    assert load(encode_image(la, "PNG"), alpha_background=(9, 9, 9)).pixels[0, 0].tolist() == [9, 9, 9]


def test_icc_profile_is_converted_to_srgb():
    red = Image.new("RGB", (8, 8), (200, 0, 0))
    data = encode_image(red, "PNG", icc_profile=swapped_primaries_profile())
    loaded = load(data)
    assert loaded.info.icc_description == "Swapped primaries (test)" and loaded.info.icc_is_srgb is False
    r, g, b = loaded.pixels[0, 0].tolist()
    assert b > 150 and r < 30  # the file's 'red' channel is blue under its profile
    assert any("ICC" in note for note in loaded.notes)


def test_broken_icc_profile_is_reported_and_colours_kept():
    data = encode_image(Image.new("RGB", (8, 8), (200, 10, 10)), "PNG", icc_profile=b"not a profile at all")
    loaded = load(data)
    assert loaded.pixels[0, 0].tolist() == [200, 10, 10]
    assert any(note.startswith("WARNING") and "ICC" in note for note in loaded.notes)


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    loaded = load(buffer.getvalue())
    assert loaded.info.animated
    assert loaded.pixels[5, 5].tolist() == [255, 0, 0]
    assert any("first frame" in note for note in loaded.notes)


def test_every_source_kind(tmp_path: Path):
    source = marker_image(30, 20)
    data = encode_image(Image.fromarray(source), "PNG")
    path = tmp_path / "image.png"
    path.write_bytes(data)
    kinds = [str(path), path, data, bytearray(data), memoryview(data), io.BytesIO(data),
             Image.fromarray(source), source]
    with open(path, "rb") as stream:
        kinds.append(stream)
        for kind in kinds:
            loaded = load(kind)
            assert np.array_equal(loaded.pixels, source), type(kind)
    grey = load(source[..., 0])
    assert grey.pixels.shape == (20, 30, 3)


def test_a_pil_source_is_not_modified():
    stored = stored_for_orientation(Image.fromarray(marker_image(40, 20)), 6)
    image = Image.open(io.BytesIO(with_orientation(stored, "JPEG", 6)))
    before = (image.size, image.mode)
    loaded = load(image)
    assert loaded.size == Size(40, 20)
    assert (image.size, image.mode) == before


def test_pixels_are_read_only():
    loaded = load(marker_image())
    with pytest.raises(ValueError):
        loaded.pixels[0, 0, 0] = 1


@pytest.mark.parametrize("array, fragment", [
    (np.zeros((4, 4, 3), np.float32), "uint8"),
    (np.zeros((4, 4, 2), np.uint8), "HxWx3"),
    (np.zeros((4,), np.uint8), "HxWx3"),
])
def test_bad_arrays_are_refused_clearly(array, fragment):
    with pytest.raises(OptionError, match=fragment):
        load(array)


def test_header_errors_are_typed(tmp_path: Path):
    with pytest.raises(ImageNotFoundError):
        load(tmp_path / "missing.jpg")
    with pytest.raises(ImageReadError, match="directory"):
        load(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(NotAnImageError, match="empty"):
        load(empty)
    with pytest.raises(NotAnImageError):
        load(b"this is not an image, just some text pretending")
    jpeg = encode_image(Image.fromarray(marker_image(200, 200)), "JPEG")
    with pytest.raises(CorruptImageError):
        load(jpeg[: len(jpeg) // 2])


def test_limits_are_checked_before_decoding():
    with pytest.raises(ImageTooLargeError, match="max_pixels"):
        open_source(png_declaring(50000, 50000))
    with pytest.raises(ImageTooLargeError, match="13000x13000"):
        open_source(png_declaring(13000, 13000))  # below Pillow's own ceiling: smartframe's limit
    with pytest.raises(ImageTooLargeError, match="max_pixels"):
        load(np.zeros((100, 100, 3), np.uint8), limits=Limits(max_pixels=9999))
    data = encode_image(Image.new("RGB", (10, 10)), "PNG")
    with pytest.raises(ImageTooLargeError, match="max_file_bytes"):
        load(data, limits=Limits(max_file_bytes=len(data) - 1))
    with pytest.raises(OptionError):
        load(12345)


def test_the_decode_memory_limit_is_checked_before_decoding_and_names_the_parts():
    data = encode_image(Image.fromarray(marker_image(1000, 800)), "PNG")
    decoded = 1000 * 800 * 4  # Pillow keeps RGB in 4 bytes a pixel
    working = 1000 * 800 * 3
    with pytest.raises(ImageTooLargeError, match=r"the decoded image 3 MiB, the working image 2 MiB\), "
                                                 r"more than max_decode_bytes="):
        load(data, limits=Limits(max_decode_bytes=decoded + working - 1))
    assert load(data, limits=Limits(max_decode_bytes=decoded + working)).pixels.shape == (800, 1000, 3)
    # A smaller working image (a reduced decode) fits where the full one does not.
    assert load(data, limits=Limits(max_decode_bytes=decoded + working // 4), max_reduction=2).pixels.shape == (400, 500, 3)
    # check() decodes without a working image, under the same limit.
    from smartframe.check import check

    with pytest.raises(ImageTooLargeError, match="max_decode_bytes"):
        check(data, "1000x800", faces=False, limits=Limits(max_decode_bytes=decoded - 1))
    assert check(data, "1000x800", faces=False, limits=Limits(max_decode_bytes=decoded)).ok


def test_jpeg_draft_is_counted_at_its_reduced_size():
    data = encode_image(Image.fromarray(marker_image(1600, 1200)), "JPEG")
    small = Limits(max_decode_bytes=400 * 300 * 7)  # too small for the full image
    with pytest.raises(ImageTooLargeError):
        load(data, limits=small)
    assert load(data, limits=small, max_reduction=4).pixels.shape == (300, 400, 3)


# --- banded conversion: the decode never holds a second full-size copy --------------------------

def _reference(image: Image.Image, orientation: int, factor: int) -> np.ndarray:
    """What the banded decode must produce, by whole-image Pillow operations."""
    from conftest import UPRIGHT

    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    whole = image.convert(mode)
    if factor > 1:
        whole = whole.reduce(factor)
    if UPRIGHT[orientation] is not None:
        whole = whole.transpose(UPRIGHT[orientation])
    return np.asarray(whole)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("factor", [1, 3])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA"])
def test_banded_decode_equals_whole_image_conversion(monkeypatch, orientation, factor, mode):
    import sys

    # sys.modules: smartframe.load is also the name of the load() function.
    monkeypatch.setattr(sys.modules["smartframe.load.convert"], "_BAND_PIXELS", 37 * 5)  # many bands, not a multiple of 3 rows
    rng = np.random.default_rng(orientation * 10 + factor)
    rgba = rng.integers(0, 256, (41, 37, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA").convert(mode)
    data = with_orientation(image, "PNG", orientation)
    loaded = load(data, max_reduction=factor + 0.5, alpha="keep" if "A" in mode else "flatten")
    expected = _reference(Image.open(io.BytesIO(data)), orientation, factor)
    assert loaded.pixels.shape == expected.shape
    assert np.abs(loaded.pixels.astype(int) - expected.astype(int)).max() <= 1  # Pillow's own rounding


def test_banded_high_depth_uses_the_range_of_the_whole_image(monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["smartframe.load.convert"], "_BAND_PIXELS", 8)
    values = np.linspace(-5.0, 20.0, 16 * 12, dtype=np.float32).reshape(16, 12)
    values[3, 3] = np.nan
    values[9, 1] = np.inf
    loaded = load(encode_image(Image.fromarray(values), "TIFF"))
    grey = loaded.pixels[..., 0].astype(int)
    finite = np.where(np.isfinite(values), values, 0.0)
    expected = np.rint((finite + 5.0) * 255.0 / 25.0)
    assert np.abs(grey - expected).max() <= 0  # one stretch for every band, not one per band
    assert grey[0, 0] == 0 and grey[-1, -1] == 255
    assert any("non-finite" in note for note in loaded.notes)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "WEBP"])
def test_the_input_file_is_closed_and_only_file_warnings_become_notes(tmp_path: Path, fmt):
    import gc
    import warnings

    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(encode_image(Image.fromarray(marker_image(40, 30)), fmt))
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        loaded = load(path)
        with open_source(path) as opened:
            opened.verify()
        gc.collect()
    # Pillow drops a stream it was given after load() without closing it; smartframe closes it.
    assert not any(issubclass(w.category, ResourceWarning) for w in leaked), [str(w.message) for w in leaked]
    assert not any("unclosed" in note for note in loaded.notes), loaded.notes


def test_heic_without_the_extra_is_unsupported_and_names_the_extra(monkeypatch):
    """Without pillow-heif, a HEIC is an image smartframe cannot read yet (not a corrupt one):
    the error says which extra reads it. The extra is simulated away: the import fails and
    Pillow has no HEIF opener."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.fromarray(marker_image(64, 48)).save(buffer, "HEIF", quality=90)
    from smartframe.load import header

    monkeypatch.setattr(header, "_HEIF_AVAILABLE", None)  # look for the extra again
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif -> ImportError
    for registry in (Image.OPEN, Image.MIME, Image.SAVE, Image.EXTENSION):
        for key in [k for k in registry if k == "HEIF" or registry[k] == "HEIF"]:
            monkeypatch.delitem(registry, key)
    with pytest.raises(UnsupportedImageError, match=r"heif.*extra|extra.*heif") as caught:
        load(buffer.getvalue())
    assert "KeyError" not in str(caught.value)
