import numpy as np
import pytest

from smartframe.errors import OptionError
from smartframe.options import (
    CropBounds,
    FacePolicy,
    Fit,
    FrameOptions,
    Limits,
    PadPosition,
    Strategy,
    parse_colour,
)


def test_defaults_resolve_to_smart_cover():
    options = FrameOptions()
    assert options.fit is Fit.COVER and options.resolved_strategy is Strategy.SMART
    assert FrameOptions(focus=(0.2, 0.3)).resolved_strategy is Strategy.FOCUS
    assert FrameOptions(fit="pad").resolved_strategy is None


def test_strings_become_enums():
    options = FrameOptions(fit="PAD", faces="blur", pad_position="top", strategy="centre")
    assert options.fit is Fit.PAD and options.faces is FacePolicy.BLUR
    assert options.pad_position is PadPosition.TOP and options.strategy is Strategy.CENTRE


@pytest.mark.parametrize("field, value, fragment", [
    ("fit", "crop", "'cover', 'pad', 'stretch'"),
    ("strategy", "center", "spells it 'centre'"),
    ("strategy", "attention", "'centre', 'focus', 'smart'"),
    ("focus", (1.5, 0.2), "fractions 0..1"),
    ("focus", "0.5", "fractions"),
    ("background", "not-a-colour", "colour"),
    ("background", (0, 0, 300), "0..255"),
    ("faces", "hide", "'blur'"),
    ("min_face_px", -1, ">= 0.0"),
    ("min_face_score", 2, "0.0..1.0"),
    ("upscale_warning", 0.5, ">= 1.0"),
    ("crop_bounds", (0.5, 0, 0.4, 1), "left < right"),
    ("crop_bounds", (0, 0, 1), "four fractions"),
    ("crop_bounds", (True, 0, 1, 1), "got bool, int, int, int"),
    ("crop_bounds", "\u0660,0,1,1", "ASCII digits"),
    ("crop_bounds", "nan,0,1,1", "four fractions"),
    ("focus", (np.bool_(True), 0.5), "got bool"),
    ("focus", "\uff10.5,0.5", "ASCII digits"),
    ("focus", "0.5,inf", "two fractions"),
    ("background", "\uff11,2,3", "ASCII digits"),
    ("background", (1.5, 2, 3), "got float, int, int"),
    ("min_face_px", "20", "got str"),
    ("min_face_score", None, "got NoneType"),
    ("alpha", "drop", "'flatten', 'keep'"),
])
def test_bad_values_name_the_field_the_value_and_what_is_allowed(field, value, fragment):
    with pytest.raises(OptionError) as error:
        FrameOptions(**{field: value})
    assert error.value.field == field
    assert fragment in str(error.value)
    assert repr(value) in str(error.value) or str(value) in str(error.value)


@pytest.mark.parametrize("field, value, stored", [
    ("focus", (np.float32(0.25), np.float64(0.5)), (0.25, 0.5)),
    ("crop_bounds", (np.float32(0.5), np.int64(0), np.float64(1.0), 1), CropBounds(0.5, 0.0, 1.0, 1.0)),
    ("background", (np.uint8(10), np.int64(20), 30), (10, 20, 30)),
    ("min_face_px", np.int64(24), 24.0),
    ("min_face_score", np.float32(0.5), 0.5),
    ("upscale_warning", np.float64(3), 3.0),
])
def test_numpy_scalars_are_accepted_and_stored_as_python_numbers(field, value, stored):
    options = FrameOptions(**{field: value})
    got = getattr(options, field)
    assert got == stored
    values = (got.left, got.top, got.right, got.bottom) if isinstance(got, CropBounds) else (
        got if isinstance(got, tuple) else (got,))
    assert all(type(v) in (int, float) for v in values)
    assert Limits(max_pixels=np.int64(1000)).max_pixels == 1000 and type(Limits(max_pixels=np.int64(5)).max_pixels) is int


def test_focus_strategy_needs_a_point():
    with pytest.raises(OptionError, match="needs a focus"):
        FrameOptions(strategy="focus")


def test_options_are_frozen():
    options = FrameOptions()
    with pytest.raises(AttributeError):
        options.fit = Fit.PAD  # type: ignore[misc]


def test_colours():
    assert parse_colour("white", field="c") == (255, 255, 255)
    assert parse_colour("#102030", field="c") == (16, 32, 48)
    assert parse_colour("1,2,3", field="c") == (1, 2, 3)
    assert parse_colour((9, 8, 7), field="c") == (9, 8, 7)
    assert FrameOptions(background="blur").background == "blur"


def test_crop_bounds_are_coordinates():
    bounds = CropBounds.coerce("0.1,0.2,0.9,1")
    assert bounds.box((1000, 500)) == (100.0, 100.0, 900.0, 500.0)


def test_limits_validate():
    with pytest.raises(OptionError):
        Limits(max_pixels=0)
    for field in ("max_pixels", "max_file_bytes", "max_decode_bytes"):
        with pytest.raises(OptionError, match=field):
            Limits(**{field: -1})
        with pytest.raises(OptionError, match=field):
            Limits(**{field: 2.5})
    assert Limits().max_decode_bytes == 1 << 30
    with pytest.raises(OptionError):
        FrameOptions(limits={"max_pixels": 5})


@pytest.mark.parametrize("values, fragment", [
    ({"background": "blur"}, "background='blur' does nothing with fit='cover'"),
    ({"background": "red", "fit": "stretch"}, "background=(255, 0, 0) does nothing with fit='stretch'"),
    ({"pad_position": "top"}, "pad_position='top' does nothing with fit='cover'"),
    ({"strategy": "smart", "fit": "pad"}, "strategy='smart' does nothing with fit='pad'"),
    ({"focus": (0.2, 0.2), "fit": "stretch"}, "does nothing with fit='stretch'"),
    ({"focus": (0.2, 0.2), "strategy": "centre"}, "does nothing with strategy='centre'"),
])
def test_options_that_do_nothing_are_named(values, fragment):
    from smartframe.analysis import Analysis
    from smartframe.geometry import Size
    from smartframe.plan import plan_frame
    from smartframe.targets import parse_target

    options = FrameOptions(**values)
    assert [u for u in options.unused() if fragment in u], options.unused()
    plan = plan_frame(parse_target("64x36"), Size(100, 100), options, Analysis(importance=None))
    assert any(fragment in w for w in plan.warnings)


@pytest.mark.parametrize("values", [{}, {"fit": "pad", "background": "blur", "pad_position": "top"},
                                    {"strategy": "focus", "focus": (0.1, 0.1)}, {"focus": (0.3, 0.3)},
                                    {"strategy": "smart", "focus": (0.3, 0.3)}])
def test_options_that_act_are_not_named(values):
    assert FrameOptions(**values).unused() == ()
