import numpy as np
import pytest

from smartframe.geometry import Box, Size
from smartframe.render import resample_box


def gradient(width=1000, height=500):
    row = np.linspace(0, 255, width, dtype=np.float64)
    image = np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)
    return np.rint(image).astype(np.uint8), row


@pytest.mark.parametrize("box", [Box(100, 0, 900, 450), Box(100.25, 0.5, 900.25, 450.5)])
def test_both_resampling_paths_match_the_exact_area_average(box):
    image, row = gradient()
    out = resample_box(image, box, Size(160, 90))
    assert out.shape == (90, 160, 3)
    # each output column averages 5 source columns starting at box.x0 + 5j
    expected = np.array([row[int(box.x0) + 5 * j: int(box.x0) + 5 * j + 5].mean() for j in range(160)])
    assert np.abs(out[45, :, 0].astype(float) - expected).max() <= 1.6


def test_enlarging_reads_the_fractional_box():
    image, row = gradient(100, 50)
    out = resample_box(image, Box(10.5, 0, 20.5, 5.625), Size(160, 90))
    assert out.shape == (90, 160, 3)
    assert out[45, 80, 0] == pytest.approx(np.interp(15.5, np.arange(100) + 0.5, row), abs=2)


def test_same_size_is_a_copy():
    image, _ = gradient(200, 100)
    out = resample_box(image, Box(50, 10, 150, 60), Size(100, 50))
    assert np.array_equal(out, image[10:60, 50:150])
    assert not np.shares_memory(out, image)  # a copy, never a view of the source


def test_transparent_pixels_do_not_darken_edges_when_shrinking():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[:, :50] = (255, 0, 0, 255)  # opaque red | fully transparent black
    for box in (Box(0, 0, 100, 100), Box(0.5, 0, 100, 99.5)):
        out = resample_box(rgba, box, Size(7, 7))
        partial = out[3, 3]  # straddles the edge: semi-transparent
        assert 0 < partial[3] < 255
        assert partial[0] >= 250 and partial[1] <= 3
