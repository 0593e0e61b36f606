import pytest

from smartframe.errors import OptionError
from smartframe.geometry import Size
from smartframe.targets import OUTPUT_FORMATS, Preset, Target, choose_preset_size, parse_target, presets

REQUIRED = {
    "sora-2": {"1280x720", "720x1280"},
    "sora-2-pro": {"1280x720", "720x1280", "1792x1024", "1024x1792", "1920x1080", "1080x1920"},
    "runway-gen4-turbo": {"1280x720", "720x1280", "1104x832", "832x1104", "960x960", "1584x672"},
}


def test_presets_cover_the_required_providers():
    table = presets()
    for name, sizes in REQUIRED.items():
        assert {str(s) for s in table[name].sizes} >= sizes
    veo = [p for p in table.values() if p.provider == "Google"]
    assert veo, "a Google Veo preset"
    assert any({"1280x720", "720x1280", "1920x1080", "1080x1920"} <= {str(s) for s in p.sizes} for p in veo)
    social = {str(s) for p in table.values() for s in p.sizes if p.name.startswith("instagram-")}
    assert {"1080x1080", "1080x1350", "1080x1920"} <= social


def test_every_preset_is_well_formed():
    for preset in presets().values():
        assert preset.sizes and all(isinstance(s, Size) for s in preset.sizes)
        assert preset.formats and set(preset.formats) <= set(OUTPUT_FORMATS)
        assert preset.max_bytes is None or preset.max_bytes > 0
        assert preset.sources, f"{preset.name} must say where its rules come from"


def test_sora_refuses_faces():
    assert presets()["sora-2"].refuses_faces


def test_parse_target_forms():
    assert parse_target("1280x720") == Target(size=Size(1280, 720), name="1280x720")
    assert parse_target((720, 1280)).size == Size(720, 1280)
    assert isinstance(parse_target("sora-2"), Preset)
    one = parse_target("sora-2:720x1280")
    assert isinstance(one, Target) and one.size == Size(720, 1280) and one.preset == "sora-2"
    assert one.refuses_faces
    single = parse_target("instagram-square")
    assert isinstance(single, Target) and single.size == Size(1080, 1080)


@pytest.mark.parametrize("bad", ["sora-3", "sora-2:1000x1000", "", "banana:1x1", ":1280x720", ":", "16:9",
                                 "sora-2-pro:4:3", "\uff53ora-2", "sora-2:\uff11\uff12\uff18\uff10x720"])
def test_parse_target_errors_name_the_whole_spec_and_what_is_allowed(bad):
    with pytest.raises(OptionError) as error:
        parse_target(bad)
    assert error.value.field == "size" and error.value.value == bad
    assert f"size={bad!r}" in str(error.value)


@pytest.mark.parametrize("spec, sizes", [
    ("sora-2-pro:16:9", {"1280x720", "1920x1080"}),
    ("sora-2-pro:9:16", {"720x1280", "1080x1920"}),
    ("sora-2-pro:7:4", {"1792x1024"}),
    ("sora-2:16:9", {"1280x720"}),
    ("runway-gen4-turbo:1:1", {"960x960"}),
    ("veo-3.1: 16 : 9", {"1280x720", "1920x1080"}),
])
def test_a_preset_with_a_ratio_keeps_the_sizes_of_that_aspect(spec, sizes):
    parsed = parse_target(spec)
    got = {str(s) for s in parsed.sizes} if isinstance(parsed, Preset) else {str(parsed.size)}
    assert got == sizes
    if isinstance(parsed, Preset):
        assert parsed.label == spec.split(":")[0] + ":" + spec.split(":", 1)[1].replace(" ", "")


def test_a_ratio_without_a_preset_is_refused_saying_what_a_ratio_means():
    with pytest.raises(OptionError, match="aspect ratio, not pixels.*sora-2-pro:16:9"):
        parse_target("16:9")


@pytest.mark.parametrize("preset, region, expected", [
    # 800x600 (4:3): 1792x1024 is 1.6% closer in aspect but enlarges 2.24x; 1280x720 needs 1.6x.
    ("sora-2-pro", (800, 600), "1280x720"),
    ("sora-2-pro", (1600, 1200), "1280x720"),  # 1792x1024 would enlarge 1.12x for that 1.6%
    ("sora-2-pro", (4000, 3000), "1792x1024"),  # nothing enlarges: the closest aspect
    ("sora-2-pro", (1792, 1024), "1792x1024"),
    ("sora-2-pro", (4000, 2250), "1920x1080"),  # equal aspect and no enlargement: the largest
    ("sora-2-pro", (1400, 790), "1280x720"),
    ("sora-2-pro", (600, 800), "720x1280"),
    ("sora-2-pro", (3000, 4000), "1024x1792"),
    ("sora-2", (800, 600), "1280x720"),
    ("runway-gen4-turbo", (800, 600), "1104x832"),
    ("runway-gen4-turbo", (500, 500), "960x960"),
])
def test_auto_resolution_ranks_aspect_and_enlargement_together(preset, region, expected):
    assert str(choose_preset_size(presets()[preset], region)) == expected


def test_auto_resolution_follows_orientation_and_size():
    pro = presets()["sora-2-pro"]
    assert choose_preset_size(pro, (4000, 2250)) == Size(1920, 1080)  # large 16:9: the larger
    assert choose_preset_size(pro, (1400, 790)) == Size(1280, 720)  # too small for 1080p
    assert choose_preset_size(pro, (800, 450)) == Size(1280, 720)  # smallest: least upscale
    assert choose_preset_size(pro, (1000, 2000)) in {Size(1080, 1920), Size(1024, 1792), Size(720, 1280)}
    assert choose_preset_size(pro, (3600, 2000)).width > choose_preset_size(pro, (3600, 2000)).height
    sora = presets()["sora-2"]
    assert choose_preset_size(sora, (3000, 2000)) == Size(1280, 720)
    assert choose_preset_size(sora, (2000, 3000)) == Size(720, 1280)
