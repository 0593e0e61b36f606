import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import smartframe
from smartframe.errors import OptionError
from smartframe.geometry import Box, Size
from smartframe.options import Strategy
from smartframe.targets import presets

from conftest import encode_image, marker_image, mean_abs_diff, stored_for_orientation, with_orientation

FITS = ["cover", "pad", "stretch"]
ODD_SOURCES = [(1, 1), (1, 5000), (5000, 1), (3, 7), (641, 479), (1001, 333), (333, 1001), (2, 3)]
ALL_PRESET_SIZES = sorted({size for p in presets().values() for size in p.sizes})


def flat(width, height, value=90):
    image = np.full((height, width, 3), value, np.uint8)
    image[: max(1, height // 2), : max(1, width // 2)] = (200, 40, 40)
    return image


#: Every strategy, read from the enum: a strategy added later is covered without editing this.
STRATEGIES = list(Strategy)
#: Thin strips and panoramas whose short side is below long/192: the analysis copy's
#: pre-shrink once trimmed that side to nothing (cv2.error in resize).
STRIPS = [(1, 5000), (5000, 1), (2, 3000), (1600, 7), (8000, 40), (20000, 100), (20000, 1), (1, 20000)]
#: Thin framing regions on an ordinary photo, as fractions (left, top, right, bottom).
THIN_BOUNDS = [(0, 0, 0.002, 1), (0, 0, 1, 0.002), (0.4, 0.1, 0.4005, 0.9), (0.998, 0, 1, 1)]


@st.composite
def source_sizes(draw):
    """(width, height) from 1x1 to 20000x1: small, ordinary, long and thin (at most 2 MP)."""
    long = draw(st.one_of(st.integers(1, 64), st.integers(65, 2500),
                          st.sampled_from([1536, 1600, 4999, 5000, 8000, 20000])))
    short_max = max(1, min(long, 2_000_000 // long))
    short = draw(st.one_of(st.integers(1, min(8, short_max)), st.integers(1, short_max)))
    return (long, short) if draw(st.booleans()) else (short, long)


fractions = st.floats(0, 1)
thin_or_any_bounds = st.one_of(
    st.none(), st.sampled_from(THIN_BOUNDS),
    st.tuples(fractions, fractions, fractions, fractions).filter(lambda b: b[0] < b[2] and b[1] < b[3]))
target_sides = st.one_of(st.integers(1, 64), st.integers(65, 2000))


def check_exact_frame(image, target, fit, strategy, focus, crop_bounds=None, background="black"):
    """Frame with faces on (``flag`` runs detection) and check the promises: exactly the
    target size, RGB, a crop box inside the framing region, the target's aspect for cover.
    A framing region smaller than one source pixel is refused, naming crop_bounds."""
    height, width = image.shape[:2]
    if strategy is Strategy.FOCUS and focus is None:
        focus = (0.5, 0.5)  # the focus strategy needs a point
    region = (0.0, 0.0, 1.0, 1.0) if crop_bounds is None else crop_bounds
    region_px = (region[2] * width - region[0] * width, region[3] * height - region[1] * height)
    kwargs = dict(fit=fit, strategy=strategy, focus=focus, crop_bounds=crop_bounds, faces="flag",
                  background=background)
    if min(region_px) < 1:
        with pytest.raises(OptionError) as error:
            smartframe.frame(image, target, **kwargs)
        assert error.value.field == "crop_bounds"
        return
    result = smartframe.frame(image, target, **kwargs)
    tw, th = target
    assert result.image.size == (tw, th)
    assert result.image.mode == "RGB"
    x0, y0, x1, y1 = result.crop_box
    rx0, ry0, rx1, ry1 = region[0] * width, region[1] * height, region[2] * width, region[3] * height
    assert rx0 - 1 - 1e-6 <= x0 < x1 <= rx1 + 1 + 1e-6 and ry0 - 1 - 1e-6 <= y0 < y1 <= ry1 + 1 + 1e-6
    if fit == "cover":  # no distortion: the crop keeps the target's aspect ratio
        assert abs((x1 - x0) / (y1 - y0) - tw / th) <= (tw / th) * (1.0 / min(th, tw) + 1e-9)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=source_sizes(), tw=target_sides, th=target_sides, fit=st.sampled_from(FITS),
       strategy=st.sampled_from(STRATEGIES), focus=st.one_of(st.none(), st.tuples(fractions, fractions)),
       crop_bounds=thin_or_any_bounds, background=st.sampled_from(["black", "blur"]))
def test_output_is_always_exactly_the_target_size(source, tw, th, fit, strategy, focus, crop_bounds,
                                                  background):
    check_exact_frame(flat(*source), (tw, th), fit, strategy, focus, crop_bounds, background)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("source", STRIPS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_strips_and_panoramas_frame_exactly_with_every_strategy_and_fit(source, strategy):
    image = flat(*source)
    for fit in FITS:
        for target in ((1280, 720), (720, 1280), (64, 64)):
            check_exact_frame(image, target, fit, strategy, None)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("bounds", THIN_BOUNDS, ids=str)
def test_thin_crop_bounds_frame_exactly_with_every_strategy_and_fit(bounds, strategy):
    image = flat(4000, 3000)
    for fit in FITS:
        for target in ((1280, 720), (720, 1280)):
            check_exact_frame(image, target, fit, strategy, None, bounds)


@pytest.mark.parametrize("source", ODD_SOURCES)
@pytest.mark.parametrize("fit", FITS)
def test_odd_sources_times_every_preset_size(source, fit):
    image = flat(*source)
    for size in ALL_PRESET_SIZES:
        result = smartframe.frame(image, size, fit=fit, strategy="centre")
        assert result.image.size == tuple(size), (source, size, fit)


def test_every_source_kind_gives_the_same_result(tmp_path):
    image = marker_image(320, 200)
    data = encode_image(Image.fromarray(image), "PNG")
    path = tmp_path / "in.png"
    path.write_bytes(data)
    results = [smartframe.frame(s, "160x90", strategy="centre") for s in
               (str(path), path, data, io.BytesIO(data), Image.fromarray(image), image)]
    first = np.asarray(results[0].image)
    for result in results[1:]:
        assert np.array_equal(np.asarray(result.image), first)
        assert result.crop_box == results[0].crop_box


def test_the_output_is_the_crop_box_of_the_upright_source():
    """Golden with tolerance: the output equals Pillow resampling the reported crop box."""
    upright = np.asarray(Image.fromarray(marker_image(64, 48)).resize((1200, 900), Image.BILINEAR))
    stored = stored_for_orientation(Image.fromarray(upright), 6)
    result = smartframe.frame(with_orientation(stored, "JPEG", 6, quality=95), "400x400",
                              strategy="focus", focus=(0.2, 0.5))
    assert result.source_size == Size(1200, 900)
    expected = Image.fromarray(upright).resize((400, 400), Image.LANCZOS, box=result.crop_box)
    assert mean_abs_diff(np.asarray(result.image), np.asarray(expected)) < 3.0


def test_framing_an_image_already_at_the_target_size_is_identity():
    image = marker_image(160, 90)
    result = smartframe.frame(image, "160x90", strategy="centre")
    assert result.crop_box == (0.0, 0.0, 160.0, 90.0)
    assert np.array_equal(np.asarray(result.image), image)


def test_mirroring_the_source_mirrors_a_centre_crop():
    image = marker_image(300, 200)
    a = np.asarray(smartframe.frame(image, "120x120", strategy="centre").image)
    b = np.asarray(smartframe.frame(image[:, ::-1].copy(), "120x120", strategy="centre").image)
    assert mean_abs_diff(a[:, ::-1], b) < 1.0


def test_several_sizes_from_one_call():
    results = smartframe.frame_sizes(flat(1600, 1000), ["1280x720", "720x1280", "sora-2"], strategy="centre")
    assert [r.image.size for r in results] == [(1280, 720), (720, 1280), (1280, 720)]
    assert results[2].target.preset == "sora-2"
    with pytest.raises(OptionError):
        smartframe.frame_sizes(flat(10, 10), "1280x720")
    with pytest.raises(OptionError):
        smartframe.frame_sizes(flat(10, 10), [])


def test_auto_resolution_picks_by_orientation_and_size_and_warns_on_upscale():
    big = smartframe.frame(flat(4000, 2250), "sora-2-pro", strategy="centre")
    assert big.output_size == Size(1920, 1080) and not big.warnings
    tall = smartframe.frame(flat(900, 1600), "sora-2", strategy="centre")
    assert tall.output_size == Size(720, 1280)
    tiny = smartframe.frame(flat(400, 225), "sora-2-pro", strategy="centre")
    assert tiny.output_size == Size(1280, 720)
    assert tiny.plan.upscale == pytest.approx(3.2)
    assert any("enlarged 3.20x" in w for w in tiny.warnings)


def test_crop_bounds_frame_only_the_region():
    result = smartframe.frame(flat(1000, 1000), "100x100", crop_bounds=(0.5, 0.25, 1, 0.75), strategy="centre")
    assert result.crop_box == (500.0, 250.0, 1000.0, 750.0)


def test_pad_and_stretch_report_the_whole_image():
    for fit in ("pad", "stretch"):
        result = smartframe.frame(flat(300, 100), "200x200", fit=fit)
        assert result.crop_box == (0.0, 0.0, 300.0, 100.0) and result.strategy is None
    padded = np.asarray(smartframe.frame(flat(300, 100), "300x300", fit="pad", background="#00ff00").image)
    assert padded[0, 150].tolist() == [0, 255, 0] and padded[299, 150].tolist() == [0, 255, 0]


def test_alpha_is_kept_only_when_asked():
    rgba = np.zeros((100, 200, 4), np.uint8)
    rgba[..., 3] = 128
    flattened = smartframe.frame(rgba, "100x100", strategy="centre")
    assert flattened.image.mode == "RGB"
    kept = smartframe.frame(rgba, "100x100", strategy="centre", alpha="keep")
    assert kept.image.mode == "RGBA" and kept.image.getpixel((5, 5))[3] == 128
    assert Image.open(io.BytesIO(kept.to_bytes("png"))).mode == "RGBA"
    assert Image.open(io.BytesIO(kept.to_bytes())).mode == "RGBA"  # default skips JPEG for alpha
    with pytest.raises(OptionError):
        kept.to_bytes("jpeg")
    opaque = smartframe.frame(flat(200, 100), "100x100", strategy="centre", alpha="keep")
    assert opaque.image.mode == "RGB"


def test_result_encodes_with_the_targets_rules(tmp_path):
    result = smartframe.frame(flat(2000, 1200), "instagram-square", strategy="centre")
    assert result.target.formats == ("jpeg",)
    data = result.to_bytes()
    assert data[:2] == b"\xff\xd8" and len(data) <= result.target.max_bytes
    saved = result.save(tmp_path / "out.jpg")
    assert saved.format == "jpeg" and Image.open(tmp_path / "out.jpg").size == (1080, 1080)
    with pytest.raises(OptionError, match="instagram-square accepts: jpeg"):
        result.save(tmp_path / "out.webp")  # the preset's formats bind the output


def test_report_is_json_ready():
    import json

    report = smartframe.frame(flat(640, 480), "320x180", strategy="centre").report()
    data = json.loads(json.dumps(report))
    assert data["crop_box"] == [0, 60, 640, 420]
    assert data["scale"] == 0.5 and data["fit"] == "cover" and data["strategy"] == "centre"
    assert data["source_size"] == [640, 480] and data["output_size"] == [320, 180]
    assert data["faces"] == []


@pytest.mark.parametrize("kwargs, field, fragment", [
    ({"options": {"fit": "pad"}}, "options", "FrameOptions"),
    ({"options": "pad"}, "options", "FrameOptions"),
    ({"fitt": "pad"}, "fitt", "did you mean 'fit'"),
    ({"stratgy": "centre"}, "stratgy", "did you mean 'strategy'"),
    ({"quality": 80}, "quality", "not an option"),  # an encoding setting, not a framing option
    ({"fit": "crop"}, "fit", "'cover', 'pad', 'stretch'"),
])
def test_bad_options_are_option_errors_naming_the_argument(kwargs, field, fragment):
    for call in (smartframe.frame, smartframe.make_plan):
        with pytest.raises(OptionError) as error:
            call(flat(10, 10), "64x36", **kwargs)
        assert error.value.field == field and fragment in str(error.value)


FLAT_IMAGES = {
    "black": np.zeros((1000, 1000, 3), np.uint8),
    "white": np.full((1000, 1000, 3), 255, np.uint8),
    "grey": np.full((900, 1200, 3), 128, np.uint8),
    "red": np.full((800, 1200, 3), (200, 30, 30), np.uint8),
    "black, noise of one level": np.random.default_rng(1).integers(0, 2, (1000, 1000, 3)).astype(np.uint8),
    "grey, noise of two levels": (126 + np.random.default_rng(2).integers(0, 5, (1000, 1000, 3))).astype(np.uint8),
    "black with one dim pixel": np.pad(np.ones((1, 1, 3), np.uint8), ((0, 999), (0, 999), (0, 0))),
    "a gradient of three levels": np.repeat(np.linspace(0, 3, 1000)[None, :, None], 1000, 0).repeat(3, 2).astype(np.uint8),
}


@pytest.mark.parametrize("name", list(FLAT_IMAGES))
@pytest.mark.parametrize("size", ["720x1280", "1280x720", "1000x1000"])
def test_flat_images_stay_centred_on_weak_evidence(name, size):
    image = FLAT_IMAGES[name]
    result = smartframe.frame(image, size, strategy="smart")
    centred = smartframe.frame(image, size, strategy="centre")
    assert result.plan.reason in ("weak evidence: centre", "window covers the region"), result.plan.reason
    assert result.crop_box == pytest.approx(centred.crop_box, abs=1.0)


def test_pad_is_opaque_with_a_colour_and_with_blur_when_alpha_is_kept():
    rgba = np.zeros((100, 200, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (200, 50, 50), 128
    rgba[:, :50] = (0, 255, 0, 0)  # green under fully transparent pixels must never show
    for background in ("black", "#ff00ff", "blur"):
        result = smartframe.frame(rgba, "200x200", fit="pad", background=background, alpha="keep")
        pixels = np.asarray(result.image)
        assert result.image.mode == "RGBA"
        pad = np.concatenate([pixels[:50], pixels[-50:]])  # letterbox bars above and below
        assert (pad[..., 3] == 255).all(), background
        assert pixels[100, 100, 3] == 128 and pixels[100, 10, 3] == 0  # the content keeps its alpha
        if background == "blur":
            assert pad[..., 1].max() < 100  # no green from under the transparent part


def test_constraint_errors_name_the_input(tmp_path):
    from smartframe.scenes import face_scene

    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)).save(path)
    result = smartframe.frame(path, "640x480", strategy="centre")
    with pytest.raises(smartframe.ByteBudgetError) as budget:
        result.to_bytes("jpeg", max_bytes=100)
    faces = tmp_path / "face.png"
    Image.fromarray(face_scene(1600, 900, 1100, 450, 260)).save(faces)
    with pytest.raises(smartframe.FacesFoundError) as found:
        smartframe.frame(faces, "1280x720", faces="reject")
    closeup = tmp_path / "closeup.png"
    Image.fromarray(face_scene(1600, 900, 800, 450, 1000)).save(closeup)  # the cover would fill the output
    with pytest.raises(smartframe.RedactionError) as redaction:
        smartframe.frame(closeup, "1280x720", faces="fill")
    for error, source in ((budget, path), (found, faces), (redaction, closeup)):
        assert error.value.source == str(source)
        assert str(error.value).startswith(f"{source}: ") and "\n" not in str(error.value)
    with pytest.raises(smartframe.ByteBudgetError) as from_bytes:
        smartframe.frame(path.read_bytes(), "640x480", strategy="centre").to_bytes("jpeg", max_bytes=100)
    assert from_bytes.value.source == "<bytes>"


def test_webp_beyond_16383_px_is_an_option_error_before_encoding():
    result = smartframe.frame(flat(40, 20), "16384x8", strategy="centre")
    with pytest.raises(OptionError) as error:
        result.to_bytes("webp")
    assert error.value.field == "format" and "16383" in str(error.value)
    assert len(result.to_bytes("png")) > 0
    assert Image.open(io.BytesIO(smartframe.frame(flat(40, 20), "16383x8", strategy="centre").to_bytes("webp"))).size == (16383, 8)


@pytest.mark.parametrize("preset", sorted(presets()))
def test_a_presets_formats_bind_the_output(preset, tmp_path):
    result = smartframe.frame(flat(400, 300), preset, strategy="centre")
    accepted = presets()[preset].formats
    assert result.encode().format == accepted[0]
    for fmt in ("jpeg", "png", "webp"):
        if fmt in accepted:
            assert result.encode(fmt).format == fmt
            continue
        with pytest.raises(OptionError) as error:
            result.to_bytes(fmt)
        assert error.value.field == "format" and f"a format {preset} accepts" in str(error.value)
        with pytest.raises(OptionError):
            result.save(tmp_path / f"out.{fmt}")
        assert not (tmp_path / f"out.{fmt}").exists()


# --- the face scale the options need ------------------------------------------------------------

PORTRAIT_12MP = Size(2828, 4242)


@pytest.mark.parametrize("options, size, expected", [
    # faces only steer the window (keep, or auto for a target that accepts faces): searched
    # from the steering size on, 5% of the shorter side (141.4 px), not from 20 output px (44.2)
    ({}, "1280x720", 0.05 * 2828),
    ({"faces": "keep"}, "1280x720", 0.05 * 2828),
    ({"strategy": "classic"}, "1280x720", 0.05 * 2828),
    # a policy acts on faces, or the target refuses them: every face of 20 output px matters
    ({"faces": "flag"}, "1280x720", 20 * 2828 / 1280),
    ({"faces": "reject"}, "1280x720", 20 * 2828 / 1280),
    ({"faces": "blur"}, "1280x720", 20 * 2828 / 1280),
    ({"faces": "avoid"}, "1280x720", 20 * 2828 / 1280),
    ({}, "sora-2:1280x720", 20 * 2828 / 1280),
    # a small output: 20 output px is larger than the steering size, and wins
    ({}, "160x90", 20 * 2828 / 160),
])
def test_faces_are_searched_at_the_scale_the_policy_needs(options, size, expected):
    from smartframe.pipeline import analysis_needs, make_options
    from smartframe.plan import framing_region
    from smartframe.targets import parse_target, resolve_target

    opts = make_options(None, options)
    region = framing_region(PORTRAIT_12MP, opts)
    target = resolve_target(parse_target(size), (region.width, region.height))
    maps, faces, min_face_px = analysis_needs(opts, region, [target], source_size=PORTRAIT_12MP)
    assert faces and min_face_px == pytest.approx(expected)


def test_a_face_too_small_to_steer_is_still_refused_in_a_portrait_made_landscape():
    from smartframe.errors import FacesFoundError
    from smartframe.scenes import face_scene

    # ~55 px in a 1800x2700 portrait: below the steering size (90 px), ~40 px in a 1280x720 output
    scene = face_scene(1800, 2700, 900, 2000, 50)
    with pytest.raises(FacesFoundError):
        smartframe.frame(scene, "1280x720", faces="reject")
    flagged = smartframe.frame(scene, "1280x720", faces="flag")
    assert len(flagged.faces) == 1
    # faces only guide the window by default; this one cannot, so it is not searched for
    kept = smartframe.frame(scene, "1280x720")
    assert kept.image.size == (1280, 720) and kept.faces == ()
    # a face large enough to steer is found by default and kept whole in the window
    large = smartframe.frame(face_scene(1800, 2700, 900, 2200, 300), "1280x720")
    assert len(large.faces) == 1 and large.plan.crop_box.contains(large.faces[0].box, tolerance=1.0)


def test_no_analysis_when_the_window_is_the_whole_region():
    from smartframe.analysis import Maps
    from smartframe.errors import FacesFoundError
    from smartframe.pipeline import analysis_needs, make_options
    from smartframe.scenes import face_scene
    from smartframe.targets import parse_target

    square = Box.from_size(Size(3464, 3464))
    needs = lambda size, **o: analysis_needs(make_options(None, o), square, [parse_target(size)],
                                             source_size=Size(3464, 3464))
    assert needs("1024x1024")[:2] == (None, False)  # nothing to place, no policy acting on faces
    assert needs("1024x1024", faces="reject")[:2] == (None, True)  # the policy still needs them
    assert needs("1280x720")[0] is Maps.SMART  # a window that can move
    # the output is the whole square either way, and a face is still refused
    scene = face_scene(900, 900, 450, 450, 200)
    smart = smartframe.frame(scene, "300x300")
    assert smart.plan.reason == "window covers the region" and smart.plan.confidence == 1.0
    assert smart.crop_box == (0.0, 0.0, 900.0, 900.0)
    assert smart.to_bytes("png") == smartframe.frame(scene, "300x300", strategy="centre").to_bytes("png")
    with pytest.raises(FacesFoundError):
        smartframe.frame(scene, "300x300", faces="reject")
