"""The explain overlay: what it draws, on panoramas, strips and several sizes."""

import numpy as np
import pytest

import smartframe.explain as explain_module
from smartframe.errors import OptionError
from smartframe.explain import explain
from smartframe.scenes import landscape_with_subject

SIZES = ["1280x720", "720x1280", "1080x1080", "1584x672"]


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def drawn(monkeypatch, function_name):
    """Record the calls of one drawing helper of the explain module (and still draw)."""
    calls = []
    real = getattr(explain_module, function_name)

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append((args, kwargs, result))
        return result

    monkeypatch.setattr(explain_module, function_name, recording)
    return calls


@pytest.mark.parametrize("width, height", [(4000, 600), (8000, 400), (1600, 1000), (600, 4000)])
def test_labels_never_overlap(monkeypatch, width, height):
    labels = drawn(monkeypatch, "_label")
    overlay, plans = explain(landscape_with_subject(width, height)[0], SIZES)
    rects = [result for _, _, result in labels]
    assert len(rects) == len(SIZES) + len(plans[0].faces)
    assert not any(overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1:]), rects
    w, h = overlay.size
    assert all(0 <= r[0] and 0 <= r[1] and r[2] <= w + 4 and r[3] <= h for r in rects)


def test_each_centre_window_is_drawn_in_its_own_sizes_colour(monkeypatch):
    dashed = drawn(monkeypatch, "_dashed_rectangle")
    explain(landscape_with_subject(4000, 600)[0], SIZES)
    colours = [args[2] for args, _, _ in dashed]
    assert len(colours) == len(SIZES) and len(set(colours)) == len(SIZES)
    # and matches the colour of the size's chosen window
    assert colours == [explain_module._WINDOW_COLOURS[i] for i in range(len(SIZES))]


@pytest.mark.parametrize("shape, expected", [((5000, 1), (160, 1280)), ((1, 5000), (1280, 160)),
                                             ((40, 8000), (1280, 160)), ((900, 1600), (1280, 720))])
def test_a_strip_gives_a_visible_overlay(shape, expected):
    overlay, _ = explain(np.full(shape + (3,), 90, np.uint8), ["1280x720", "720x1280"], strategy="centre")
    assert overlay.size == expected


@pytest.mark.parametrize("max_side", [10, 63, 8193, 1.5, "big"])
def test_max_side_is_checked(max_side):
    with pytest.raises(OptionError) as error:
        explain(np.zeros((10, 10, 3), np.uint8), "64x36", max_side=max_side)
    assert error.value.field == "max_side"
