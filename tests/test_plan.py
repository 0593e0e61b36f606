import pytest

from smartframe.analysis import Analysis
from smartframe.geometry import Box, Size
from smartframe.options import FrameOptions
from smartframe.plan import max_reduction_for, plan_frame
from smartframe.targets import Target, parse_target

NO_ANALYSIS = Analysis(importance=None, grid_scale=(1.0, 1.0))
SOURCE = Size(1600, 1000)


def plan(size="1280x720", source=SOURCE, working_scale=(1.0, 1.0), **options):
    return plan_frame(parse_target(size), source, FrameOptions(**options), NO_ANALYSIS,
                      working_scale=working_scale)


def test_centre_cover_window():
    p = plan(strategy="centre", working_scale=(0.5, 0.5))
    assert p.crop_box == Box(0, 50, 1600, 950)
    assert p.content_box == Box(0, 0, 1280, 720)
    assert p.scale == pytest.approx(0.8)
    assert p.reason.startswith("centre")


def test_focus_places_the_window_and_clamps_at_the_border():
    p = plan("1000x1000", strategy="focus", focus=(0.1, 0.5))
    assert p.crop_box == Box(0, 0, 1000, 1000)
    p = plan("1000x1000", focus=(0.6, 0.5))
    assert p.strategy.value == "focus" and p.crop_box.centre[0] == pytest.approx(960)


@pytest.mark.parametrize("position, content", [
    ("centre", Box(64, 0, 1216, 720)),  # 1600x1000 contained in 1280x720 is 1152x720
    ("left", Box(0, 0, 1152, 720)),
    ("right", Box(128, 0, 1280, 720)),
])
def test_pad_positions(position, content):
    p = plan(fit="pad", pad_position=position, background="blue")
    assert p.crop_box == Box(0, 0, 1600, 1000)
    assert p.content_box == content
    assert p.background == (0, 0, 255) and p.strategy is None


def test_pad_top_and_bottom_for_letterbox():
    top = plan("1000x1000", fit="pad", pad_position="top")
    bottom = plan("1000x1000", fit="pad", pad_position="bottom")
    assert top.content_box == Box(0, 0, 1000, 625)
    assert bottom.content_box == Box(0, 375, 1000, 1000)


def test_stretch_uses_the_whole_region():
    p = plan("500x500", fit="stretch")
    assert p.crop_box == Box(0, 0, 1600, 1000) and p.content_box == Box(0, 0, 500, 500)
    assert p.scale_xy == (pytest.approx(500 / 1600), pytest.approx(0.5))


def test_crop_bounds_limit_the_window():
    p = plan("1000x1000", strategy="centre", crop_bounds=(0.5, 0, 1, 1))
    assert p.region == Box(800, 0, 1600, 1000)
    assert p.region.contains(p.crop_box) and p.crop_box.width == 800


def test_shrinking_snaps_to_the_working_grid_enlarging_keeps_fractions():
    small = plan("160x90", source=Size(481, 321), strategy="centre")
    assert all(float(v).is_integer() for v in small.crop_box)
    assert abs(small.crop_box.width / small.crop_box.height - 16 / 9) < 0.5 / 90 * 16 / 9 + 0.01
    big = plan("1280x720", source=Size(481, 321), strategy="centre")
    assert big.crop_box.width == 481 and big.crop_box.height == pytest.approx(481 * 9 / 16)
    reduced = plan("400x300", source=Size(4000, 3000), working_scale=(0.25, 0.25), strategy="centre")
    assert all(float(v * 0.25).is_integer() for v in reduced.crop_box)


def test_upscale_warning():
    assert not plan("1280x720", source=Size(1000, 700), strategy="centre").warnings
    warned = plan("1280x720", source=Size(400, 300), strategy="centre")
    assert warned.upscale == pytest.approx(3.2) and "enlarged 3.20x" in warned.warnings[0]


def test_to_output_maps_the_crop_box_onto_the_content_box():
    p = plan(fit="pad")
    assert p.to_output(p.crop_box) == pytest.approx(p.content_box)
    c = plan(strategy="centre")
    assert c.to_output(c.crop_box) == pytest.approx(Box(0, 0, 1280, 720))


def test_report_has_the_documented_keys():
    data = plan(strategy="centre").to_dict()
    for key in ("crop_box", "source_size", "output_size", "fit", "strategy", "scale", "faces"):
        assert key in data
    assert data["crop_box"] == [0, 50, 1600, 950]
    assert data["source_size"] == [1600, 1000] and data["output_size"] == [1280, 720]
    assert data["fit"] == "cover" and data["strategy"] == "centre" and data["faces"] == []


def test_max_reduction_for_each_fit():
    region = Box(0, 0, 4000, 3000)
    assert max_reduction_for(region, Size(1280, 720), FrameOptions().fit) == pytest.approx(3.125)
    from smartframe.options import Fit

    assert max_reduction_for(region, Size(1280, 720), Fit.PAD) == pytest.approx(4000 / 960)
    assert max_reduction_for(region, Size(1280, 720), Fit.STRETCH) == pytest.approx(3.125)


def test_target_object_is_accepted():
    p = plan_frame(Target(size=Size(10, 10), name="t"), SOURCE, FrameOptions(strategy="centre"), NO_ANALYSIS)
    assert p.output_size == Size(10, 10)


@pytest.mark.parametrize("bounds, source, allowed", [
    ((0.5, 0.5, 0.5000001, 0.5000001), Size(1000, 1000), False),  # 0.0001 px: 3 200 000x enlargement
    ((0, 0, 0.0009, 1), Size(1000, 1000), False),
    ((0, 0, 1, 0.0009), Size(1000, 1000), False),
    ((0, 0, 0.001, 1), Size(1000, 1000), True),  # exactly one pixel wide
    ((0, 0, 0.002, 1), Size(4000, 3000), True),
    ((0.25, 0.25, 0.75, 0.75), Size(1, 1), False),  # half a pixel of a 1x1 image
])
def test_crop_bounds_below_one_source_pixel_are_refused(bounds, source, allowed):
    from smartframe.errors import OptionError

    if allowed:
        assert plan("1280x720", source=source, strategy="centre", crop_bounds=bounds).output_size == Size(1280, 720)
        return
    with pytest.raises(OptionError) as error:
        plan("1280x720", source=source, strategy="centre", crop_bounds=bounds)
    assert error.value.field == "crop_bounds" and "at least 1x1 source pixel" in str(error.value)


# --- every reported face: whole, cut or outside, whether it steered, and why ---------------
import numpy as np  # noqa: E402

from smartframe.analysis import Face  # noqa: E402
from smartframe.face_outcomes import (  # noqa: E402
    GROUP_RULE_ONLY,
    LARGER_THAN_WINDOW,
    NOT_KEPT_OUT,
    TOO_SMALL_TO_STEER,
)

SOURCE_FACES = Size(1600, 900)
BIG_A = Face(700, 300, 800, 400, 0.9)  # in the centred 9:16 window of 1600x900 (x 547..1053)
BIG_B = Face(900, 300, 1000, 400, 0.9)
SMALL_ON_EDGE = Face(1030, 300, 1060, 330, 0.9)  # 30 px: under 5% of 900; across the right edge
GROUP_ON_EDGE = Face(1030, 300, 1130, 400, 0.8, source="group")
WIDER_THAN_WINDOW = Face(500, 100, 1100, 700, 0.95)  # 600 px wide, the window 506


def face_plan(detected, steering, *, source=SOURCE_FACES, size="720x1280", **options):
    analysis = Analysis(importance=np.ones((90, source.width // 10), np.float32), grid_scale=(0.1, 0.1),
                        faces=tuple(detected), steering_faces=tuple(steering))
    return plan_frame(parse_target(size), source, FrameOptions(**options), analysis)


@pytest.mark.parametrize("faces, steering, options, reason, states", [
    # all kept
    ((BIG_A, BIG_B), (BIG_A, BIG_B), {}, "faces: kept 2 of 2 whole; centre",
     [("whole", True, ""), ("whole", True, "")]),
    # a face too small to steer, on the centred window's edge: spared (the window moves a
    # little to hold it whole rather than slice it)
    ((BIG_A, SMALL_ON_EDGE), (BIG_A,), {}, "faces: kept 2 of 2 whole; subject",
     [("whole", True, ""), ("whole", False, TOO_SMALL_TO_STEER)]),
    # a face accepted by the group rule only, on the edge: spared too (left outside, cheaper)
    ((BIG_A, GROUP_ON_EDGE), (BIG_A,), {},
     f"faces: kept 1 of 2 whole; 1 outside: {GROUP_RULE_ONLY}; subject",
     [("whole", True, ""), ("outside", False, GROUP_RULE_ONLY)]),
    # one larger than the window: it steers but cannot be whole
    ((WIDER_THAN_WINDOW,), (WIDER_THAN_WINDOW,), {},
     f"faces: kept 0 of 1 whole; 1 cut: {LARGER_THAN_WINDOW}; centre",
     [("cut", True, LARGER_THAN_WINDOW)]),
    # the centre strategy does not look at faces: it says so for the one it cuts
    ((BIG_A, SMALL_ON_EDGE), (BIG_A,), {"strategy": "centre"},
     "faces: kept 1 of 2 whole; 1 cut: strategy 'centre' does not look at faces; centre of the frame",
     [("whole", False, "strategy 'centre' does not look at faces"),
      ("cut", False, "strategy 'centre' does not look at faces")]),
])
def test_the_plan_says_what_happened_to_every_face(faces, steering, options, reason, states):
    plan = face_plan(faces, steering, **options)
    assert plan.reason == reason
    assert [(o.in_window, o.steers, o.why) for o in plan.face_outcomes] == states
    report = plan.to_dict()["faces"]
    assert [(f["in_window"], f["steers"], f["why"]) for f in report] == states
    for face, outcome in zip(faces, plan.face_outcomes):  # the states are the geometry's
        inside = face.box.intersection(plan.crop_box).area / face.box.area
        assert outcome.shown == pytest.approx(inside)
        assert (outcome.in_window == "whole") == plan.crop_box.contains(face.box)


def test_the_reason_says_why_a_smaller_face_was_cut_when_a_steering_face_placed_the_window():
    # the subject (a strong band at x 1000..1200) and the steering face (x 700..800) pin the
    # window at about x 690..1196; sparing the smaller face at x 1175..1215 would give up an
    # eighth of the band, more than the soft rule may: it is cut, and the reason says why
    importance = np.ones((90, 160), np.float32)
    importance[:, 100:120] = 50.0
    smaller = Face(1175, 300, 1215, 340, 0.9)
    analysis = Analysis(importance=importance, grid_scale=(0.1, 0.1), faces=(BIG_A, smaller),
                        steering_faces=(BIG_A,))
    plan = plan_frame(parse_target("720x1280"), SOURCE_FACES, FrameOptions(), analysis)
    assert plan.reason == (f"faces: kept 1 of 2 whole; 1 cut: {TOO_SMALL_TO_STEER}; subject; "
                           "1 of 1 smaller faces cut (sparing them cost too much of the subject)")
    assert [o.in_window for o in plan.face_outcomes] == ["whole", "cut"]


def test_avoid_says_which_faces_it_could_not_keep_out():
    in_every_window = Face(480, 300, 520, 340, 0.9)  # 1000x900 to 9:16: every window holds it
    avoidable = Face(900, 300, 960, 360, 0.9)
    plan = face_plan((in_every_window, avoidable), (), source=Size(1000, 900), faces="avoid")
    assert [(o.in_window, o.steers, o.why) for o in plan.face_outcomes] == [
        ("whole", True, NOT_KEPT_OUT), ("outside", True, "")]
    assert plan.reason.startswith(f"faces: kept 1 of 2 out of the window; 1 whole in it: {NOT_KEPT_OUT}; ")


def test_a_plan_without_faces_keeps_its_reason():
    plan = face_plan((), ())
    assert plan.face_outcomes == () and not plan.reason.startswith("faces")


def test_a_sliver_of_a_face_within_the_tolerance_counts_as_outside_not_cut():
    from smartframe.analysis import Face
    from smartframe.face_outcomes import face_outcomes
    from smartframe.geometry import Box, Size

    crop = Box(400.0, 0.0, 906.25, 900.0)
    faces = [Face(906.0, 100.0, 1006.0, 200.0, 0.9),   # 0.25 px inside: outside
             Face(880.0, 100.0, 980.0, 200.0, 0.9),  # 26 px inside: cut
             Face(500.0, 100.0, 600.0, 200.0, 0.9)]   # whole
    roles = [(False, "too small to steer")] * 3
    states = [o.in_window for o in face_outcomes(faces, roles, crop, Size(1600, 900), False, tolerance=1.0)]
    assert states == ["outside", "cut", "whole"]
