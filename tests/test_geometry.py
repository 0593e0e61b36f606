import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartframe.errors import OptionError
from smartframe.geometry import (
    Box,
    Size,
    contain_size,
    cover_window_size,
    parse_size,
    place_window,
)

sides = st.integers(min_value=1, max_value=20000)


@pytest.mark.parametrize("text, expected", [
    ("1280x720", Size(1280, 720)),
    ("1280X720", Size(1280, 720)),
    ("1280\u00d7720", Size(1280, 720)),
    ((np.int64(1280), np.int32(720)), Size(1280, 720)),
    (" 720 x 1280 ", Size(720, 1280)),
    ((1024, 1792), Size(1024, 1792)),
    ([1, 1], Size(1, 1)),
])
def test_parse_size_accepts_the_documented_spellings(text, expected):
    size = parse_size(text)
    assert size == expected and all(type(v) is int for v in size)


@pytest.mark.parametrize("bad, fragment", [
    ("16:9", "aspect ratio, not pixels"),
    ("1280:720", "aspect ratio, not pixels"),
    ("\uff11\uff12\uff18\uff10x720", "ASCII digits"),  # full-width digits
    ("\u0661\u0662x\u0663", "ASCII digits"),  # Arabic-Indic digits
    ((np.float32(1280), 720), "got float32, int"),
    ((1280.0, 720), "got float, int"),
    (("1280", "720"), "got str, str"),
    ((np.bool_(True), 3), "got bool"),
])
def test_parse_size_says_why_and_what_was_given(bad, fragment):
    with pytest.raises(OptionError) as error:
        parse_size(bad)
    assert error.value.field == "size" and fragment in str(error.value)


@pytest.mark.parametrize("bad", ["1280", "0x720", "1280x0", "-5x5", "axb", (1.5, 2), (True, 3),
                                 (0, 3), (20000, 10), "1280x720x3", None])
def test_parse_size_rejects_with_the_field_named(bad):
    with pytest.raises(OptionError) as error:
        parse_size(bad, field="size")
    assert error.value.field == "size"
    assert "size=" in str(error.value)


@given(sides, sides, sides, sides)
def test_cover_window_has_target_aspect_and_fits(sw, sh, tw, th):
    region = Box.from_size((sw, sh))
    w, h = cover_window_size(region, Size(tw, th))
    assert w <= sw + 1e-9 and h <= sh + 1e-9
    assert math.isclose(w / h, tw / th, rel_tol=1e-9)
    # it is the largest: it spans the region along at least one axis
    assert w == sw or h == sh


@given(sides, sides, st.integers(1, 4000), st.integers(1, 4000))
def test_contain_size_fits_and_touches_one_side(sw, sh, tw, th):
    size = contain_size(Box.from_size((sw, sh)), Size(tw, th))
    assert 1 <= size.width <= tw and 1 <= size.height <= th
    assert size.width == tw or size.height == th


@given(sides, sides, st.floats(-1000, 30000), st.floats(-1000, 30000))
def test_place_window_stays_inside_the_region(sw, sh, cx, cy):
    region = Box.from_size((sw, sh))
    window = cover_window_size(region, Size(16, 9))
    box = place_window(region, window, (cx, cy))
    assert region.contains(box, tolerance=1e-6)
    assert math.isclose(box.width, window[0]) and math.isclose(box.height, window[1])


def test_box_helpers():
    a, b = Box(0, 0, 10, 10), Box(5, 5, 15, 15)
    assert a.intersection(b) == Box(5, 5, 10, 10)
    assert a.iou(b) == pytest.approx(25 / 175)
    assert Box(0, 0, 1, 1).intersection(Box(2, 2, 3, 3)).area == 0
    assert a.contains(Box(1, 1, 9, 9)) and not a.contains(b)
    assert a.scaled(2, 0.5) == Box(0, 0, 20, 5)
    assert a.centre == (5, 5)


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 300), st.booleans(), st.booleans(),
       st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_working_grid_maps_edges_to_edges_and_lines_both_ways(sw, sh, reduction, flip_x, flip_y, fractions):
    """A reduced decode's grid (blocks of ``reduction`` source pixels, the last one partial,
    first when flipped): the source's edges are the working image's, whole grid lines map
    back and forth exactly, and the map is monotonic."""
    from smartframe.geometry import WorkingGrid

    n_w, n_h = math.ceil(sw / reduction), math.ceil(sh / reduction)
    origin = (sw - n_w * reduction if flip_x else 0.0, sh - n_h * reduction if flip_y else 0.0)
    grid = WorkingGrid(Size(sw, sh), Size(n_w, n_h), (float(reduction),) * 2, origin)
    assert grid.to_working(Box.from_size((sw, sh))) == Box(0, 0, n_w, n_h)
    lines = Box(0, 0, n_w, n_h)
    for k in range(0, n_w + 1, max(1, n_w // 7)):
        x = grid.to_source(Box(k, 0, k, 0)).x0
        assert grid.to_working(Box(x, 0, x, 0)).x0 == pytest.approx(k, abs=1e-9)
    a, b, c, d = fractions
    x0, x1 = sorted((a * sw, b * sw))
    y0, y1 = sorted((c * sh, d * sh))
    mapped = grid.to_working(Box(x0, y0, x1, y1))
    assert lines.contains(mapped) and mapped.x0 <= mapped.x1 + 1e-9 and mapped.y0 <= mapped.y1 + 1e-9
    if not (flip_x or n_w == 1) and x1 <= reduction * (n_w - 1):  # uniform inside the full blocks
        assert mapped.x1 - mapped.x0 == pytest.approx((x1 - x0) / reduction)
