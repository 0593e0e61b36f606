"""The window search: vectorised == brute force, and behaviour on synthetic maps and scenes."""

import numpy as np
import pytest

from smartframe.analysis import Analysis, Face
from smartframe.analysis.saliency import importance_map
from smartframe.geometry import Box
from smartframe.search import (
    SearchParams,
    brute_force_choose,
    centre_prior,
    choose_window,
    place_smart,
    window_mass,
)

NO_PENALTIES = SearchParams(shift_penalty=0.0, cut_penalty=0.0)


def random_map(rng, height, width):
    values = rng.random((height, width)) ** 3
    values[rng.random((height, width)) < 0.3] = 0
    return values


def objective(importance, left, top, window, params, focus=None):
    """J of one position, computed the slow way."""
    height, width = importance.shape
    free_x = width - window[0] > 1e-6
    fx, fy = focus if focus else (0.5, 0.5)
    weighted = importance * centre_prior(height, width, params.centre_sigma, (fx, fy))
    n, length, start = (width, window[0], left) if free_x else (height, window[1], top)
    profile = weighted.sum(axis=0 if free_x else 1)
    anchor = float(np.clip((fx if free_x else fy) * n - length / 2, 0, n - length))
    pixels = np.arange(n)
    overlap = np.clip(np.minimum(start + length, pixels + 1) - np.maximum(start, pixels), 0, 1)
    mass = (profile * overlap).sum() / profile.sum()
    centres, peak = pixels + 0.5, profile.max()
    near = 0.0 if start <= 1e-9 else np.interp(start, centres, profile / peak)
    far = 0.0 if start + length >= n - 1e-9 else np.interp(start + length, centres, profile / peak)
    return mass - params.shift_penalty * abs(start - anchor) / n - params.cut_penalty * 0.5 * (near + far)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("params", [NO_PENALTIES, SearchParams(shift_penalty=0.2, cut_penalty=0.0),
                                    SearchParams(shift_penalty=0.1, cut_penalty=0.05)])
def test_vectorised_search_matches_brute_force(seed, params):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(3, 12)), int(rng.integers(3, 12))
    importance = random_map(rng, height, width)
    if rng.random() < 0.5:
        window = (float(rng.uniform(1, width - 0.3)), float(height))
    else:
        window = (float(width), float(rng.uniform(1, height - 0.3)))
    focus = None if rng.random() < 0.5 else (float(rng.random()), float(rng.random()))
    choice = choose_window(importance, window, focus=focus, params=params)
    best, _, _ = brute_force_choose(importance, window, focus=focus, params=params, step=1 / 64)
    found = objective(importance, choice.left, choice.top, window, params, focus)
    # The candidates hold every knot of the piecewise-linear objective, so the vectorised
    # optimum is at least the dense grid's, and the grid is within half a step of slope.
    assert found >= best - 1e-9
    assert found <= best + 4 / 64
    assert 0 <= choice.left <= width - window[0] + 1e-9 and 0 <= choice.top <= height - window[1] + 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_integer_windows_match_brute_force_exactly(seed):
    rng = np.random.default_rng(300 + seed)
    height, width = int(rng.integers(3, 14)), int(rng.integers(3, 14))
    importance = random_map(rng, height, width)
    window = (float(rng.integers(1, width)), float(height))
    params = SearchParams(shift_penalty=0.2, cut_penalty=0.05)
    choice = choose_window(importance, window, params=params)
    best, _, _ = brute_force_choose(importance, window, params=params, step=0.5)
    assert objective(importance, choice.left, choice.top, window, params) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_window_mass_matches_explicit_overlap(seed):
    rng = np.random.default_rng(100 + seed)
    profile = rng.random(int(rng.integers(2, 12)))
    length = float(rng.uniform(0.5, len(profile)))
    starts = rng.uniform(0, len(profile) - length, size=7)
    pixels = np.arange(len(profile))
    expected = [(profile * np.clip(np.minimum(t + length, pixels + 1) - np.maximum(t, pixels), 0, 1)).sum()
                for t in starts]
    np.testing.assert_allclose(window_mass(profile, length, starts), expected, rtol=1e-9, atol=1e-12)


def scene(height=96, width=144, background=(255, 255, 255)):
    return np.full((height, width, 3), background, np.uint8)


def decide(image, window, faces=(), **options):
    importance = importance_map(image, boxes=faces)
    return choose_window(importance, window, faces=faces, **options)


def test_red_square_near_the_left_edge_is_kept_by_a_9_16_window():
    image = scene()
    image[36:60, 6:30] = (220, 20, 20)
    window = (96 * 9 / 16, 96.0)
    choice = decide(image, window)
    assert choice.left <= 6 and choice.left + window[0] >= 30
    assert choice.confidence > 0.5 and "subject" in choice.reason


def test_subject_near_the_bottom_is_kept_by_a_16_9_window():
    image = scene(144, 96)
    image[110:134, 60:84] = (200, 30, 30)
    window = (96.0, 96 * 9 / 16)
    choice = decide(image, window)
    assert choice.top <= 110 and choice.top + window[1] >= 134


def test_flat_image_stays_centred_with_low_confidence():
    window = (96 * 9 / 16, 96.0)
    choice = decide(scene(background=(120, 130, 140)), window)
    assert choice.left == pytest.approx((144 - window[0]) / 2)
    assert choice.confidence < 0.2 and "centre" in choice.reason


def test_noise_stays_near_the_centre():
    image = np.random.default_rng(0).integers(0, 256, (96, 144, 3)).astype(np.uint8)
    window = (96 * 9 / 16, 96.0)
    assert abs(decide(image, window).left - (144 - window[0]) / 2) < 0.1 * 144


def test_focus_is_the_anchor_when_evidence_is_weak():
    choice = decide(scene(background=(90, 90, 90)), (54.0, 96.0), focus=(0.1, 0.5))
    assert choice.left == pytest.approx(0.0) and "focus" in choice.reason


def test_a_face_is_never_cut_even_against_a_strong_subject():
    image = scene()
    image[20:80, 100:140] = (10, 10, 200)
    face = (8.0, 30.0, 26.0, 50.0, 0.9)
    window = (54.0, 96.0)
    choice = decide(image, window, faces=(face,))
    assert choice.left <= face[0] and choice.left + window[0] >= face[2]
    assert choice.reason.startswith("faces") and choice.confidence == 1.0


def test_faces_that_cannot_all_fit_keep_the_heavier_whole_and_the_other_outside():
    small, big = (2.0, 40.0, 12.0, 50.0, 1.0), (110.0, 30.0, 140.0, 60.0, 1.0)
    window = (54.0, 96.0)
    choice = decide(scene(), window, faces=(small, big))
    assert choice.left <= big[0] and choice.left + window[0] >= big[2]
    assert choice.left >= small[2]
    assert "not all fit" in choice.reason


def test_faces_that_all_fit_are_all_kept():
    faces = ((30.0, 20.0, 40.0, 30.0, 1.0), (60.0, 50.0, 72.0, 62.0, 1.0))
    window = (54.0, 96.0)
    choice = decide(scene(), window, faces=faces)
    assert all(choice.left <= f[0] and choice.left + window[0] >= f[2] for f in faces)


def test_avoid_keeps_faces_out_when_it_can():
    face = (60.0, 30.0, 80.0, 50.0, 0.9)  # in the middle
    window = (54.0, 96.0)
    choice = decide(scene(), window, faces=(face,), avoid_faces=True)
    assert choice.left + window[0] <= face[0] or choice.left >= face[2]
    assert "kept out" in choice.reason


def test_window_covering_the_region():
    assert choose_window(np.ones((10, 10)), (10.0, 10.0)).reason == "window covers the region"


def test_place_smart_maps_grid_to_source_pixels_inside_the_region():
    importance = np.zeros((48, 96), np.float32)
    importance[:, 80:90] = 1.0  # mass near the right edge of the region
    region = Box(1000, 0, 2000, 500)
    analysis = Analysis(importance=importance, grid_scale=(96 / 1000, 48 / 500), grid_origin=(1000, 0))
    placement = place_smart(region, (281.25, 500.0), analysis)
    assert region.contains(placement.window)
    assert placement.window.x1 >= 1000 + 90 / 0.096 - 1
    faces = [Face(1100, 100, 1150, 160, 0.9)]
    kept = place_smart(region, (281.25, 500.0), analysis, faces=faces)
    assert kept.window.x0 <= 1100 and kept.window.x1 >= 1150


@pytest.mark.parametrize("window, faces, avoid, reason", [
    # a face longer than the window along the free axis cannot be kept whole: say it is cut
    ((30.0, 54.0), ((10.0, 10.0, 60.0, 40.0, 0.9),), False,
     "faces: kept 0 of 1 whole, 1 cut (1 larger than the window)"),
    ((30.0, 54.0), ((10.0, 10.0, 60.0, 40.0, 0.9), (70.0, 10.0, 80.0, 20.0, 0.9)), False,
     "faces: kept 1 of 2 whole, 1 cut (1 larger than the window)"),
    # a face in every position of the window: avoid cannot keep it out, and says so
    ((60.0, 54.0), ((40.0, 10.0, 56.0, 30.0, 0.9),), True, "faces: 1 of 1 could not be kept out of the window"),
    # what the rules wanted happened: the reasons stay as they were
    ((30.0, 54.0), ((40.0, 10.0, 56.0, 30.0, 0.9),), False, "faces kept; centre"),
    ((30.0, 54.0), ((40.0, 10.0, 56.0, 30.0, 0.9),), True, "faces kept out of the window"),
])
def test_the_reason_says_what_happened_to_the_faces(window, faces, avoid, reason):
    choice = choose_window(np.ones((54, 96)), window, faces=faces, avoid_faces=avoid)
    assert choice.reason == reason
    start, length = choice.left, window[0]
    inside = [start <= f[0] + 1e-6 and start + length >= f[2] - 1e-6 for f in faces]
    if "whole" in reason:
        assert sum(inside) == int(reason.split("kept ")[1].split(" ")[0])


def test_a_steering_face_keeps_headroom_above_it_when_that_is_cheap():
    # A portrait seen through a short window that moves vertically: the mass below the face
    # pulls the window down to the face's brow; the space above the face (half a face) is kept
    # when that costs less than the allowed share, and not when it may cost nothing.
    importance = np.ones((100, 60), np.float32)
    importance[40:100, 10:50] = 1.1  # the body, below the face
    region = Box(0, 0, 60, 100)
    analysis = Analysis(importance=importance)
    face = Face(20, 30, 40, 50, 0.95)  # 20 px tall
    placement = place_smart(region, (60.0, 40.0), analysis, faces=[face], params=SearchParams(spare_cost=0.2, headroom_cost=0.2))
    assert placement.window.y0 <= 30 - 0.5 * 20 + 1e-6 and placement.window.y1 >= 50
    strict = place_smart(region, (60.0, 40.0), analysis, faces=[face], params=SearchParams(headroom_cost=0.0))
    assert strict.window.y0 > 30 - 0.5 * 20 + 1  # the headroom was not free: the window sits lower
    assert strict.window.y0 <= 30 + 1e-6  # but the face stays whole (the hard rule)


def test_a_face_keeps_a_margin_where_the_window_can_hold_it():
    from smartframe.search import grown_faces

    assert grown_faces([(20.0, 30.0, 40.0, 50.0, 0.9)], (60.0, 40.0), (100, 60), 0.1) == [
        (18.0, 28.0, 42.0, 52.0, 0.9)]
    # too tall for a 22-row window with the margin: the face's own rows are kept
    assert grown_faces([(20.0, 30.0, 40.0, 50.0, 0.9)], (60.0, 22.0), (100, 60), 0.1) == [
        (18.0, 30.0, 42.0, 50.0, 0.9)]
    assert grown_faces([(0.0, 0.0, 10.0, 10.0, 0.9)], (60.0, 40.0), (100, 60), 0.1)[0][:2] == (0.0, 0.0)


@pytest.mark.parametrize("window_height, top", [(30.0, 20.0), (24.0, 26.0), (20.0, 30.0)])
def test_headroom_shrinks_to_what_the_window_can_hold(window_height, top):
    from smartframe.search import with_headroom

    grown = with_headroom([(20.0, 30.0, 40.0, 50.0, 0.9)], window_height, 0.5)
    assert grown[0][1] == pytest.approx(top) and grown[0][3] == 50.0
    assert with_headroom([(0.0, 4.0, 10.0, 14.0, 0.9)], 100.0, 0.5)[0][1] == 0.0  # not above row 0


def test_a_spared_face_is_not_sliced_when_sparing_it_is_cheap():
    importance = np.ones((54, 96), np.float32)
    importance[:, 50:70] = 3.0  # the subject: the window wants to start near 33
    spare = (30.0, 10.0, 40.0, 20.0, 0.7)  # a small face the best window would slice
    window = (40.0, 54.0)
    plain = choose_window(importance, window)
    assert plain.left < spare[2] < plain.left + window[0] and plain.left > spare[0]  # sliced
    spared = choose_window(importance, window, spare_faces=(spare,))
    inside = spared.left <= spare[0] and spared.left + window[0] >= spare[2]
    outside = spared.left >= spare[2] or spared.left + window[0] <= spare[0]
    assert inside or outside
    # too expensive: the window keeps the subject and says which face it cut, and why
    costly = choose_window(importance, window, spare_faces=(spare,), params=SearchParams(spare_cost=0.0))
    assert costly.left == plain.left
    assert costly.reason.endswith("; 1 of 1 smaller faces cut (sparing them cost too much of the subject)")
