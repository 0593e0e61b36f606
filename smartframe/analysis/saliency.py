"""Saliency: the importance map, computed on a small copy of the framing region.

The map mixes three cues, each normalised to mean 1 (weights measured on the tune half of
the ground-truth sets; see ``benchmarks/README.md``):

* **open-border geodesic distance** (weight 2): how much colour change separates a pixel
  from the top, left and right borders. Background touches the border; the bottom is left
  open so that a subject standing on it is not treated as background.
* **border-colour contrast** (weight 1): colours common in a thin border strip are
  background (the "boundary prior").
* **spectral residual** (weight 1, Hou & Zhang 2007): what is unexpected in the image's
  log spectrum.

Confidently detected faces (score >= 0.8) are added as uniform blocks whose density is
half the map's peak times the score, so a face weighs with its area. (Every identifiable
face, confident or not, binds the window through the search's never-cut rule.) No
positional prior is applied here: the search applies the centre (or focus) prior, so one
map serves every target.

Arrays are indexed ``[row, col]``; boxes are ``(x0, y0, x1, y1)`` with x = column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..geometry import Box

__all__ = ["SaliencyParams", "SMALL_SIDE", "small_copy", "cue_maps", "content_map", "add_face_blocks",
           "importance_map", "is_flat", "ContentAnalysis", "region_pixels", "content_analysis", "box_coverage"]

#: Longer side of the analysis copy, in pixels. Quality was flat from 64 to 160 px on the
#: tune split; 96 costs about a third of 160.
SMALL_SIDE = 96
_EPS = 1e-9


@dataclass(frozen=True)
class SaliencyParams:
    """Cue weights and constants, measured on the tune split (not guessed)."""

    w_geodesic: float = 2.0  # geodesic distance to the top/left/right borders
    w_border_contrast: float = 1.0  # border-colour contrast
    w_spectral: float = 1.0  # spectral residual
    geodesic_noise: float = 0.5  # a Lab step below this is free (noise floor), Lab units
    face_density: float = 0.5  # a face block's density: this x the map's peak x the face score
    face_min_score: float = 0.8  # faces below this score add no mass (they still bind the window)


DEFAULT_PARAMS = SaliencyParams()


def small_copy(rgb: np.ndarray, side: int = SMALL_SIDE, *, prestep_from: int = 16) -> np.ndarray:
    """The analysis copy: ``rgb`` shrunk with an area average so its longer side is ``side``.

    For inputs at least ``prestep_from`` x ``side`` long a first integer-factor area step is
    taken (on a view that drops at most k-1 edge pixels), because OpenCV's INTER_AREA is
    several times faster with integer factors; the final size keeps the uncropped aspect ratio. Each axis has its own factor:
    the short side of a thin strip (20000x100, 5000x1) is stepped by less, or not at all, so
    the intermediate never has fewer pixels along an axis than the final copy.
    """
    height, width = rgb.shape[:2]
    longer = max(height, width)
    if longer <= side:
        return np.ascontiguousarray(rgb)
    scale = side / longer
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if longer >= prestep_from * side:
        k = longer // (2 * side)
        kx, ky = _step_factor(width, size[0], k), _step_factor(height, size[1], k)
        cropped = rgb[: height - height % ky, : width - width % kx]
        rgb = cv2.resize(cropped, (cropped.shape[1] // kx, cropped.shape[0] // ky),
                         interpolation=cv2.INTER_AREA)
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)


def _step_factor(length: int, final: int, k: int) -> int:
    """The integer pre-shrink factor along one axis of ``length`` pixels whose final copy has
    ``final`` pixels: ``k`` when that leaves at least ``final`` pixels (every ordinary photo),
    else the largest factor that leaves at least two per final pixel (1 for a 1-px strip)."""
    if length // k >= final:
        return k
    return max(1, length // (2 * final))


def _mean_one(values: np.ndarray) -> np.ndarray:
    values = np.maximum(values, 0).astype(np.float32)
    mean = float(values.mean())
    return values / mean if mean > _EPS else np.ones_like(values)


def _blur(values: np.ndarray, fraction: float) -> np.ndarray:
    """Gaussian blur with sigma = ``fraction`` x sqrt(pixel count)."""
    height, width = values.shape[:2]
    return cv2.GaussianBlur(values, (0, 0), max(0.5, fraction * np.sqrt(height * width)),
                            borderType=cv2.BORDER_REFLECT)


def _geodesic_sweeps(seed: np.ndarray, step_x: np.ndarray, step_y: np.ndarray,
                     iterations: int = 2) -> np.ndarray:
    """Approximate geodesic distance from the pixels where ``seed`` is 0.

    Along a row, d[j] = min_k(d[k] + sum_{k<=m<j} step_x[m]) = C[j] + cummin(d - C)[j] with C
    the cumulative step cost, so one sweep over the whole image is a single
    ``np.minimum.accumulate``. Four directions, ``iterations`` times, allow paths with a few
    turns, which is enough at 96 px. ``step_x``: H x (W-1) costs between horizontal
    neighbours; ``step_y``: (H-1) x W between vertical ones.
    """
    height, width = seed.shape
    cum_x = np.concatenate([np.zeros((height, 1), np.float32), np.cumsum(step_x, 1, dtype=np.float32)], 1)
    cum_y = np.concatenate([np.zeros((1, width), np.float32), np.cumsum(step_y, 0, dtype=np.float32)], 0)
    distance = seed
    for _ in range(iterations):
        distance = np.minimum(distance, cum_x + np.minimum.accumulate(distance - cum_x, axis=1))
        distance = np.minimum(distance, np.minimum.accumulate((distance + cum_x)[:, ::-1], axis=1)[:, ::-1] - cum_x)
        distance = np.minimum(distance, cum_y + np.minimum.accumulate(distance - cum_y, axis=0))
        distance = np.minimum(distance, np.minimum.accumulate((distance + cum_y)[::-1], axis=0)[::-1] - cum_y)
    return distance


def _border_contrast(lab: np.ndarray, strip: float = 0.07, bins=(8, 12, 12)) -> np.ndarray:
    """1 - P(the pixel's colour is a border colour), from colour histograms.

    background(c) = (share of colour c in the border strip) / (share of c in the image),
    clipped to 0..1; the strip is ``strip`` x the shorter side wide.
    """
    height, width = lab.shape[:2]
    q_l = np.clip((lab[..., 0] * (bins[0] / 100.0)).astype(np.int32), 0, bins[0] - 1)
    q_a = np.clip(((lab[..., 1] + 90) * (bins[1] / 180.0)).astype(np.int32), 0, bins[1] - 1)
    q_b = np.clip(((lab[..., 2] + 90) * (bins[2] / 180.0)).astype(np.int32), 0, bins[2] - 1)
    colour = (q_l * bins[1] + q_a) * bins[2] + q_b
    n_colours = bins[0] * bins[1] * bins[2]
    b = max(1, round(strip * min(height, width)))
    border = np.zeros((height, width), bool)
    border[:b] = border[-b:] = True
    border[:, :b] = border[:, -b:] = True
    in_image = np.bincount(colour.ravel(), minlength=n_colours).astype(np.float32) / colour.size
    in_border = np.bincount(colour[border], minlength=n_colours).astype(np.float32) / max(1, int(border.sum()))
    ratio = in_border / np.maximum(in_image, _EPS)
    return 1.0 - np.clip(ratio, 0, 1)[colour]


def _is_flat(lab: np.ndarray, noise: float) -> bool:
    """True when every pixel's Lab colour is within ``noise`` (Lab units) of the mean colour."""
    mean = lab.reshape(-1, 3).mean(axis=0)
    return float(np.sqrt(((lab - mean) ** 2).sum(axis=2)).max()) < noise


def _spectral_residual(grey: np.ndarray, work_side: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) on a copy of at most ``work_side`` px."""
    height, width = grey.shape
    scale = min(1.0, work_side / max(height, width))
    small = grey if scale >= 1 else cv2.resize(
        grey, (max(8, round(width * scale)), max(8, round(height * scale))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3), borderType=cv2.BORDER_REPLICATE)
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    return cv2.resize(saliency.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _lab(small_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The copy in CIE Lab (float32), and slightly blurred."""
    rgb = small_rgb if small_rgb.ndim == 3 else np.repeat(small_rgb[..., None], 3, axis=2)
    lab = cv2.cvtColor(rgb[..., :3].astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    return lab, _blur(lab, 0.01)


def is_flat(small_rgb: np.ndarray, params: SaliencyParams = DEFAULT_PARAMS) -> bool:
    """Whether the copy is flat: no (slightly blurred) pixel more than ``geodesic_noise`` Lab
    units from the mean colour (all black, one colour, a level or two of noise). There is
    nothing to find in such an image; every cue is uniform."""
    return _is_flat(_lab(small_rgb)[1], params.geodesic_noise)


def cue_maps(small_rgb: np.ndarray, params: SaliencyParams = DEFAULT_PARAMS) -> dict[str, np.ndarray]:
    """Each cue as a float32 H x W map with mean 1 (only the cues with a weight above 0)."""
    lab, smooth_lab = _lab(small_rgb)
    height, width = lab.shape[:2]
    cues: dict[str, np.ndarray] = {}
    if _is_flat(smooth_lab, params.geodesic_noise):
        # No colour differs from the mean by more than the noise floor: there is nothing to
        # find, and the cues would only amplify noise (the spectral residual of an all-black
        # image is a spike at its corner). Every cue is uniform; the window stays anchored.
        weights = {"geodesic": params.w_geodesic, "border_contrast": params.w_border_contrast,
                   "spectral": params.w_spectral}
        return {name: np.ones((height, width), np.float32) for name, w in weights.items() if w > 0}
    if params.w_geodesic > 0:
        step_x = np.maximum(np.linalg.norm(smooth_lab[:, 1:] - smooth_lab[:, :-1], axis=2)
                            - params.geodesic_noise, 0).astype(np.float32)
        step_y = np.maximum(np.linalg.norm(smooth_lab[1:] - smooth_lab[:-1], axis=2)
                            - params.geodesic_noise, 0).astype(np.float32)
        seed = np.full((height, width), np.float32(1e6), np.float32)
        seed[0] = 0
        seed[:, 0] = seed[:, -1] = 0  # top, left and right borders; the bottom stays open
        cues["geodesic"] = _mean_one(_blur(_geodesic_sweeps(seed, step_x, step_y), 0.02))
    if params.w_border_contrast > 0:
        cues["border_contrast"] = _mean_one(_blur(_border_contrast(smooth_lab), 0.02))
    if params.w_spectral > 0:
        cues["spectral"] = _mean_one(_blur(_spectral_residual(lab[..., 0] * (1.0 / 100.0)), 0.04))
    return cues


def box_coverage(box: Sequence[float], height: int, width: int) -> np.ndarray:
    """The fraction of each pixel of an H x W grid that a fractional box covers."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    cols = np.arange(width, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)
    cover_x = np.clip(np.minimum(x1, cols + 1) - np.maximum(x0, cols), 0, 1)
    cover_y = np.clip(np.minimum(y1, rows + 1) - np.maximum(y0, rows), 0, 1)
    return np.outer(cover_y, cover_x).astype(np.float32)


def content_map(small_rgb: np.ndarray, params: SaliencyParams = DEFAULT_PARAMS) -> np.ndarray:
    """The weighted sum of the cue maps: float32 H x W, non-negative, on the small copy.

    Faces are not in it; :func:`add_face_blocks` adds them, so the two can run at the same
    time as face detection.
    """
    cues = cue_maps(small_rgb, params)
    height, width = small_rgb.shape[:2]
    weights = {"geodesic": params.w_geodesic, "border_contrast": params.w_border_contrast,
               "spectral": params.w_spectral}
    total_weight = sum(weights[name] for name in cues)
    if total_weight <= 0:
        return np.ones((height, width), np.float32)
    return (sum(weights[name] * cue for name, cue in cues.items()) / total_weight).astype(np.float32)


def add_face_blocks(content: np.ndarray, boxes: Sequence[Sequence[float]],
                    params: SaliencyParams = DEFAULT_PARAMS) -> np.ndarray:
    """``content`` plus a uniform block per face box; a new array.

    ``boxes``: ``(x0, y0, x1, y1, weight)`` in pixels of the map (faces, weight = score); each
    with a weight of at least ``face_min_score`` adds density ``face_density x weight x``
    the content map's peak.
    """
    importance = content.copy()
    height, width = importance.shape
    peak = float(content.max())
    for box in boxes:
        weight = float(box[4]) if len(box) > 4 else 1.0
        if weight >= params.face_min_score and params.face_density > 0:
            importance += box_coverage(box, height, width) * (params.face_density * weight * peak)
    return importance


def importance_map(small_rgb: np.ndarray, *, boxes: Sequence[Sequence[float]] = (),
                   params: SaliencyParams = DEFAULT_PARAMS) -> np.ndarray:
    """Where the content that matters is: float32 H x W, non-negative, on the small copy.

    ``small_rgb``: uint8 H x W x 3 RGB (or H x W grey). ``boxes``: weighted face boxes in
    small-image pixels, as :func:`add_face_blocks` takes them.
    """
    return add_face_blocks(content_map(small_rgb, params), boxes, params)


@dataclass(frozen=True)
class ContentAnalysis:
    """The classic content map of a framing region on its analysis grid (face-free).

    The grid maps to source pixels by ``col = (x - origin[0]) * grid_scale[0]`` (rows alike).
    """

    content: np.ndarray
    grid_scale: tuple[float, float]
    origin: tuple[float, float]
    flat: bool = False  # the region is flat (see is_flat): the content map is uniform


def region_pixels(working: np.ndarray, working_scale: tuple[float, float], region: Box) -> np.ndarray:
    """The pixels of ``working`` (working pixels = source x ``working_scale``) that cover the
    framing ``region`` (source pixels), widened to whole working pixels; RGB, a view."""
    sx, sy = working_scale
    x0, y0 = int(np.floor(region.x0 * sx)), int(np.floor(region.y0 * sy))
    x1 = max(x0 + 1, int(np.ceil(region.x1 * sx)))
    y1 = max(y0 + 1, int(np.ceil(region.y1 * sy)))
    return working[y0:y1, x0:x1, :3]


def content_analysis(working: np.ndarray, working_scale: tuple[float, float], region: Box,
                     params: SaliencyParams = DEFAULT_PARAMS) -> ContentAnalysis:
    """The content map of the framing ``region`` (source pixels) of the working image.

    ``working`` is the decoded image (RGB, working pixels = source x ``working_scale``).
    The map covers exactly ``region``.
    """
    small = small_copy(region_pixels(working, working_scale, region))
    height, width = small.shape[:2]
    return ContentAnalysis(content_map(small, params), (width / region.width, height / region.height),
                           (region.x0, region.y0), flat=is_flat(small, params))
