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


@pytest.mark.parametrize("strategy, network_captions", [
    ("smart", ["subject network (weight 0.50)", "where people look (weight 0.10)"]),
    ("classic", ["subject network: not used (classic)", "where people look: not used (classic)"])])
@pytest.mark.parametrize("width, height", [(1600, 1000), (600, 1400)])
def test_the_maps_are_drawn_beside_the_overlay(monkeypatch, strategy, network_captions, width, height):
    captions = drawn(monkeypatch, "_caption")
    panels = drawn(monkeypatch, "_map_panel")
    image, _ = landscape_with_subject(width, height, subject_x=0.3)
    overlay, plans = explain(image, ["1280x720", "720x1280"], strategy=strategy, max_side=900)
    assert [args[1] for args, _, _ in captions] == ["classic cues", *network_captions]
    drawn_maps = [args[1] for args, _, _ in panels]
    analysis_maps = 4 if strategy == "smart" else 2  # the importance, classic, subject, fixation
    assert len(drawn_maps) == analysis_maps
    assert max(overlay.size) == 900
    main_w, main_h = panels[0][2].shape[1], panels[0][2].shape[0]
    if width >= height:  # the maps below a landscape overlay, side by side, a third of its size
        assert overlay.size == (main_w, main_h + main_h // 3)
    else:  # to the right of a portrait one, one above the other
        assert overlay.size == (main_w + main_w // 3, main_h)


def test_the_subject_panel_shows_the_subject_map():
    image, box = landscape_with_subject(1600, 1000, subject_x=0.2, subject_size=0.35)
    overlay, _ = explain(image, "720x1280", max_side=800)
    pixels = np.asarray(overlay)
    main_h = round(1000 * 800 / 1600 / 1.0)  # fit: min(800 / 1600, 800 / (4 / 3 * 1000)) -> 0.5
    panel = pixels[main_h:, 266:532].astype(np.float32)  # the subject panel: bottom middle
    bright = panel.sum(axis=2)
    columns = bright.mean(axis=0)
    # the heat is hottest over the subject (left fifth), not on the right
    assert columns[: len(columns) // 3].mean() > columns[2 * len(columns) // 3:].mean()
