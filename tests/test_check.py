import json

import numpy as np
import pytest
from PIL import Image

import smartframe
from smartframe.check import RULES, check
from smartframe.errors import OptionError
from smartframe.geometry import Size
from smartframe.targets import Target, presets

from conftest import encode_image, swapped_primaries_profile, with_orientation


def scene_bytes(width, height, fmt="JPEG", **params):
    from smartframe.scenes import landscape_with_subject

    return encode_image(Image.fromarray(landscape_with_subject(width, height)[0]), fmt, **params)


def rules(report):
    return {v.rule for v in report.violations}


@pytest.mark.parametrize("preset", sorted(presets()))
def test_frame_then_check_passes_for_every_preset_size(preset, tmp_path):
    source = scene_bytes(2000, 1400)
    for size in presets()[preset].sizes:
        result = smartframe.frame(source, f"{preset}:{size}", strategy="centre")
        report = check(result.to_bytes(), result.target.name, faces=False)
        assert report.ok, report.violations
        assert report.upscale == pytest.approx(1.0)


def test_each_rule_reports_its_violation():
    target = Target(size=Size(64, 48), name="t", formats=("jpeg",), max_bytes=500)
    png = check(scene_bytes(64, 48, "PNG"), target, faces=False)
    assert {"format", "bytes"} <= rules(png) and "dimensions" not in rules(png)
    wrong = check(scene_bytes(60, 48), target, faces=False)
    assert "dimensions" in rules(wrong)
    rgba = encode_image(Image.new("RGBA", (64, 48)), "PNG")
    assert "mode" in rules(check(rgba, "64x48", faces=False))
    grey = encode_image(Image.new("L", (64, 48)), "JPEG")
    assert "mode" in rules(check(grey, "64x48", faces=False))
    rotated = with_orientation(Image.new("RGB", (64, 48)), "JPEG", 6)
    assert "orientation" in rules(check(rotated, "48x64", faces=False))
    profiled = encode_image(Image.new("RGB", (64, 48)), "JPEG", icc_profile=swapped_primaries_profile())
    assert "profile" in rules(check(profiled, "64x48", faces=False))
    assert all(v.rule in RULES for r in (png, wrong) for v in r.violations)


def test_a_passing_image_passes():
    report = check(scene_bytes(1280, 720), "1280x720", faces=False)
    assert report.ok and report.violations == ()


def test_upscale_is_reported():
    report = check(scene_bytes(640, 360), "1280x720", faces=False)
    assert report.upscale == pytest.approx(2.0)
    assert any("enlarge it 2.00x" in w for w in report.warnings)


def test_preset_with_several_sizes_checks_against_the_size_it_has():
    assert check(scene_bytes(720, 1280), "sora-2", faces=False).target.size == Size(720, 1280)
    mismatch = check(scene_bytes(1000, 700), "sora-2", faces=False)
    assert mismatch.target.size == Size(1280, 720) and "dimensions" in rules(mismatch)


def test_report_json_shape():
    data = json.loads(json.dumps(check(scene_bytes(100, 100), "1280x720", faces=False).to_dict()))
    assert data["ok"] is False
    assert data["violations"][0].keys() == {"rule", "message"}
    assert data["faces"] == []


def test_arrays_have_no_format_or_bytes_rules():
    report = check(np.zeros((720, 1280, 3), np.uint8), "sora-2", faces=False)
    assert report.ok


def test_a_truncated_file_fails_the_check_even_without_face_detection():
    data = scene_bytes(1280, 720)
    assert check(data, "1280x720", faces=False).ok  # the whole file passes
    with pytest.raises(smartframe.CorruptImageError, match="truncated"):
        check(data[: len(data) // 2], "1280x720", faces=False)  # its header alone would


@pytest.mark.parametrize("tag, fragment", [(9, "invalid value 9"), (0, "invalid value 0"),
                                           (65535, "invalid value 65535"), (6, "6 is still pending")])
def test_the_orientation_rule_names_invalid_tags(tag, fragment):
    data = with_orientation(Image.new("RGB", (64, 48), (90, 90, 90)), "JPEG", tag)
    report = check(data, "64x48", faces=False)  # the rule reads the stored grid, as consumers do
    assert [v.rule for v in report.violations] == ["orientation"]
    assert fragment in report.violations[0].message


# --- frame, then check: what the library writes for a target passes that target's check -------

def _source(kind: str) -> bytes:
    """A small picture: RGB, or RGBA with a transparent band (PNG)."""
    pixels = np.zeros((48, 72, 4), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, 72, dtype=np.uint8)[None, :]
    pixels[..., 1] = 90
    pixels[..., 3] = 255
    pixels[:, :12, 3] = 0  # a transparent band at the left
    image = Image.fromarray(pixels, "RGBA")
    return encode_image(image if kind == "rgba" else image.convert("RGB"), "PNG")


@pytest.mark.parametrize("alpha", ["flatten", "keep"])
@pytest.mark.parametrize("fit", ["cover", "pad", "stretch"])
@pytest.mark.parametrize("preset", sorted(presets()))
def test_frame_then_check_passes_for_every_option_a_preset_allows(preset, fit, alpha):
    """Every fit x alpha policy x accepted format, from a source with transparency, at the
    preset's smallest size (every size is covered by test_frame_then_check_passes_for_every_preset_size)."""
    smallest = min(presets()[preset].sizes, key=lambda size: size.width * size.height)
    sizes = [f"{preset}:{smallest}"]
    options = {"fit": fit, "alpha": alpha, "faces": "keep", "strategy": "centre" if fit == "cover" else None}
    if alpha == "keep":  # refused before any work: the preset's images must not have an alpha channel
        refused = f"alpha='keep' is not allowed for {preset}: .* without an alpha channel \\(the mode rule of check\\)"
        with pytest.raises(OptionError, match=refused):
            smartframe.frame_sizes(_source("rgba"), sizes, **options)
        return
    for result in smartframe.frame_sizes(_source("rgba"), sizes, **options):
        for fmt in result.target.formats:
            report = smartframe.check(result.to_bytes(fmt), result.target.name, faces=False)
            assert report.ok, (result.target.name, fmt, report.violations)


def test_a_kept_alpha_channel_is_warned_about_and_named_by_check():
    result = smartframe.frame(_source("rgba"), "64x48", alpha="keep", strategy="centre")
    assert result.image.mode == "RGBA"
    assert any("keeps its alpha channel" in w and "check fails it" in w for w in result.warnings)
    (violation,) = smartframe.check(result.to_bytes("png"), "64x48", faces=False).violations
    assert violation.rule == "mode" and violation.message.startswith("has an alpha channel")
    # fully opaque: still an alpha channel (the rule is about the channel), and said so plainly
    opaque = np.full((48, 64, 4), 200, np.uint8)
    opaque[..., 3] = 255
    (violation,) = smartframe.check(encode_image(Image.fromarray(opaque, "RGBA"), "PNG"), "64x48",
                                    faces=False).violations
    assert "has an alpha channel (transparent or not)" in violation.message
    assert "transparency" not in violation.message
    flat = smartframe.frame(_source("rgb"), "64x48", alpha="keep", strategy="centre")
    assert flat.image.mode == "RGB" and not any("alpha" in w for w in flat.warnings)
