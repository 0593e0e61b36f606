"""Small outputs keep their geometry: the cover crop has the target's aspect ratio within one
source pixel of rounding, ``centre`` is centred within half a source pixel, for every output
size down to 1x1 and through every decode path (a JPEG decoded reduced in the DCT domain and
box-reduced, in every EXIF orientation), and the pixels rendered are the ones the plan names.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import smartframe
from smartframe.geometry import Box, Size
from smartframe.load import load
from smartframe.options import Strategy

from conftest import mean_abs_diff, stored_for_orientation, with_orientation


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth picture with some texture (cheap to encode at any size)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = 128 + 60 * np.sin(x / 37.0 + seed) * np.cos(y / 23.0)
    noise = rng.normal(0, 8, (height, width))
    grey = np.clip(base + noise, 0, 255).astype(np.uint8)
    return np.stack([grey, np.roll(grey, 7, axis=1), 255 - grey], axis=2)


def jpeg_source(width: int, height: int, orientation: int = 1, seed: int = 0) -> bytes:
    """A JPEG whose *upright* size is ``width x height``, stored for ``orientation``."""
    upright = Image.fromarray(photo_like(width, height, seed))
    return with_orientation(stored_for_orientation(upright, orientation), "JPEG", orientation, quality=85)


def aspect_within_one_source_pixel(box: Box, target: Size) -> bool:
    """Some box of exactly the target's aspect differs from ``box`` by at most one source
    pixel on each side: (w-1)/(h+1) <= W/H <= (w+1)/(h-1)."""
    w, h = box.width, box.height
    aspect = target.width / target.height
    upper = (w + 1) / (h - 1) if h > 1 else math.inf
    return (w - 1) / (h + 1) - 1e-9 <= aspect <= upper + 1e-9


def check_plan(plan, source: Size, target: Size, strategy: Strategy) -> None:
    box = plan.crop_box
    assert Box.from_size(source).contains(box, tolerance=1e-6), box
    assert aspect_within_one_source_pixel(box, target), (box, box.width / box.height, target)
    # a cover window spans the source along one side, within one source pixel
    assert (abs(box.width - source.width) <= 1 + 1e-9) or (abs(box.height - source.height) <= 1 + 1e-9)
    if strategy is Strategy.CENTRE:
        cx, cy = box.centre
        assert abs(cx - source.width / 2) <= 0.5 + 1e-9 and abs(cy - source.height / 2) <= 0.5 + 1e-9, box


# The issue's exact cases: (source size, output size, the centred exact box).
ISSUE_CASES = [
    ((773, 512), "2x1", (0.0, 62.75, 773.0, 449.25)),
    ((773, 512), "1x1", (130.5, 0.0, 642.5, 512.0)),
    ((773, 512), "16x16", (130.5, 0.0, 642.5, 512.0)),
    ((773, 512), "64x36", (0.0, 38.59375, 773.0, 473.40625)),
    ((4000, 3000), "2x1", (0.0, 500.0, 4000.0, 2500.0)),
    ((4000, 3000), "16x16", (500.0, 0.0, 3500.0, 3000.0)),
    ((4000, 3000), "320x180", (0.0, 375.0, 4000.0, 2625.0)),
]


@pytest.mark.parametrize("source, size, expected", ISSUE_CASES)
def test_centre_thumbnails_of_the_issue_are_centred_and_undistorted(source, size, expected):
    result = smartframe.frame(jpeg_source(*source), size, strategy="centre")
    target = Size(*map(int, size.split("x")))
    assert result.image.size == tuple(target)
    for got, want in zip(result.crop_box, expected):
        assert abs(got - want) <= 0.5, (result.crop_box, expected)
    check_plan(result.plan, Size(*source), target, Strategy.CENTRE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.tuples(st.integers(2, 1100), st.integers(2, 1100)),
    target=st.tuples(st.integers(1, 400), st.integers(1, 400)) | st.sampled_from(
        [(1, 1), (2, 1), (1, 2), (16, 16), (64, 36), (36, 64), (320, 180), (160, 90)]),
    strategy=st.sampled_from(list(Strategy)),
    orientation=st.sampled_from([1, 3, 6, 8]),
    focus=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_every_output_size_keeps_the_aspect_and_centre(source, target, strategy, orientation, focus):
    """Any source x any output size (down to 1x1) x every strategy of the enum, through a
    reduced JPEG decode: the aspect within one source pixel, centre within half a pixel."""
    data = jpeg_source(*source, orientation=orientation)
    options = {"strategy": strategy.value, "faces": "keep"}
    if strategy is Strategy.FOCUS:
        options["focus"] = focus
    result = smartframe.frame(data, target, **options)
    assert result.image.size == target
    check_plan(result.plan, Size(*source), Size(*target), strategy)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("max_reduction", [8.0, 30.0, 100.0])
def test_the_working_grid_maps_source_pixels_exactly(orientation, max_reduction):
    """A reduced decode's pixels sit where ``LoadedImage.to_working`` says, in every
    orientation (a partial block lands first on a flipped axis)."""
    width, height = 773, 515  # neither a multiple of 8: partial blocks on both axes
    upright = np.zeros((height, width), np.uint8)
    upright[:, 301:389] = 255  # a white column band, source x in [301, 389)
    upright[97:170, :] = 255  # a white row band, source y in [97, 170)
    stored = stored_for_orientation(Image.fromarray(upright), orientation)
    loaded = load(with_orientation(stored, "JPEG", orientation, quality=95), max_reduction=max_reduction)
    assert loaded.reduction > 1
    pixels = loaded.pixels[..., 0].astype(np.float64)
    r = loaded.reduction
    ox, oy = loaded.working_origin

    def coverage(lo: float, hi: float, origin: float, n: int, side: int) -> np.ndarray:
        """Share of each working pixel (its part inside the source) that lies in [lo, hi)."""
        starts = origin + r * np.arange(n)
        a, b = np.maximum(starts, 0), np.minimum(starts + r, side)
        return np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0, None) / (b - a)

    n_rows, n_cols = pixels.shape
    col = coverage(301, 389, ox, n_cols, width)
    row = coverage(97, 170, oy, n_rows, height)
    # the two bands are white where either is: the union of their coverages
    expected = 255 * (col[None, :] + row[:, None] - col[None, :] * row[:, None])
    assert np.abs(pixels - expected).max() < 24, (loaded.reduction, loaded.working_origin)


@pytest.mark.parametrize("orientation", [1, 3, 6])
@pytest.mark.parametrize("size", ["16x16", "64x36", "9x31"])
def test_the_rendered_thumbnail_is_the_exact_centre_crop(orientation, size):
    """The output equals the exact centred crop of the full-resolution upright picture,
    resampled by Pillow (the reference), within JPEG and filter noise."""
    width, height = 773, 515
    upright = photo_like(width, height, seed=3)
    data = jpeg_source(width, height, orientation, seed=3)
    result = smartframe.frame(data, size, strategy="centre")
    target = Size(*map(int, size.split("x")))
    scale = max(target.width / width, target.height / height)
    w, h = target.width / scale, target.height / scale
    exact = ((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)
    reference = np.asarray(Image.fromarray(upright).resize(tuple(target), Image.Resampling.BOX, box=exact))
    got = np.asarray(result.image)
    assert got.shape == reference.shape
    assert mean_abs_diff(got, reference) < 6, mean_abs_diff(got, reference)
