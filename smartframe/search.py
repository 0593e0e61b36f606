"""Search: where the cover window goes, from the importance map and weighted face boxes.

Pure NumPy. A cover window spans the framing region along one axis, so each candidate is
one start ``t`` along the other (free) axis and the importance inside it comes from a 1-D
cumulative sum: O(pixels + candidates). The score of a start is

    J(t) = M(t) - shift_penalty * |t - t0| / n - cut_penalty * cut(t)

* ``M(t)``: the share of the prior-weighted importance inside the window. The prior is a
  Gaussian centred on the region centre (or on the focus point), std ``centre_sigma`` of
  each side: photographers centre their subjects.
* ``t0``: the anchor, the centred window (or the window centred on the focus point);
  ``n``: the region's length along the free axis.
* ``cut(t)``: the importance density under the window's two edges (0 at the border), so
  edges avoid slicing through a strong object.

Faces: a face that fits in the window is never cut (the positions that would cut it are
excluded); when not all fit, the set with the most face weight (area x score) is kept whole
and the others are left fully outside. Softer rules follow. When that costs at most
``spare_cost`` of the score, other detected faces (too small or too unsure to steer the
window) are *spared* (no window edge slices one) and a kept face keeps a ``face_margin`` of its
size on every side (a detector's box is tight on the brow, chin and ears); then, among those
placements, when that costs at most ``headroom_cost`` of the score, ``headroom`` face heights
above it stay in the window
(hair and hats, not a window top flush with the brow). Margin and headroom are dropped where
the window cannot hold them. With ``avoid_faces`` the rule flips:
positions that include the least face weight are preferred.

Confidence is how much more importance the best position holds than the anchor (scaled so
that 0.25 of the mass is full confidence); weak evidence keeps the window at the anchor
because moving costs ``shift_penalty``.

Coordinates: inside this module, the analysis grid (x = column, y = row, fractional
pixels); :func:`place_smart` converts to and from source pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .analysis import Analysis, Face
from .geometry import Box, place_window

__all__ = ["SearchParams", "Placement", "WindowChoice", "choose_window", "place_smart", "grown_faces",
           "with_headroom", "centre_prior", "window_mass", "brute_force_choose", "WINDOW_FILLS_TOLERANCE"]

_EPS = 1e-9
#: A cover window within this many source pixels of the region's width and height is the whole
#: region: there is nothing to place (and the pipeline runs no analysis for it).
WINDOW_FILLS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SearchParams:
    """Search constants, measured on the tune split (see ``benchmarks/README.md``)."""

    centre_sigma: float = 0.4  # Gaussian prior std, as a fraction of each side
    shift_penalty: float = 0.15  # mass share a shift by one whole side must win
    cut_penalty: float = 0.02  # cost of a window edge on the densest line of the map
    confidence_scale: float = 0.25  # mass-share advantage that means confidence 1
    face_margin: float = 0.1  # kept around a steering face, in face sizes (at spare_cost; dropped where it cannot fit)
    headroom: float = 0.5  # space kept above a steering face, in face heights (soft; less if it cannot fit)
    spare_cost: float = 0.05  # score a placement may lose so as to slice no spared face
    headroom_cost: float = 0.02  # score it may then lose to keep the headroom above a face


DEFAULT_SEARCH = SearchParams()


@dataclass(frozen=True)
class Placement:
    """Where a strategy put the cover window (source pixels), how sure it is (0..1), and why.

    ``basis`` is what decided the place when faces were weighed (``"faces"``: the face rule
    moved the window; else ``"subject"`` or the anchor, ``"centre"``/``"focus"``); empty when
    no face was weighed. ``note``: what the soft rule for smaller faces could not do (``"; 1 of
    2 smaller faces cut (...)"``, also at the end of ``reason``). The plan words its reason from
    the basis, the note and every reported face.
    """

    window: Box
    confidence: float | None
    reason: str
    basis: str = ""
    note: str = ""


@dataclass(frozen=True)
class WindowChoice:
    """The chosen window's top-left corner on the analysis grid, with confidence and reason."""

    left: float
    top: float
    confidence: float
    reason: str
    basis: str = ""  # see Placement.basis
    note: str = ""  # see Placement.note


def centre_prior(height: int, width: int, sigma: float, centre: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """A separable Gaussian around ``centre`` (fractions of width, height) at pixel centres,
    std ``sigma`` times each side. float64 H x W, peak 1."""
    rows = (np.arange(height) + 0.5) / height - centre[1]
    cols = (np.arange(width) + 0.5) / width - centre[0]
    return np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2) / (sigma * sigma))


def window_mass(profile: np.ndarray, length: float, starts: np.ndarray) -> np.ndarray:
    """The mass of a window of ``length`` (fractional pixels) at each start in ``starts``.

    ``profile`` holds the mass of each pixel along the axis, spread evenly over the pixel;
    the cumulative sum is interpolated linearly, which is exact for that model.
    """
    cumulative = np.concatenate([[0.0], np.cumsum(profile, dtype=np.float64)])
    knots = np.arange(len(cumulative), dtype=np.float64)
    return np.interp(starts + length, knots, cumulative) - np.interp(starts, knots, cumulative)


def _candidate_starts(n: int, length: float, extra: Sequence[float]) -> np.ndarray:
    """Every start where the objective can peak: it is piecewise linear between pixel
    edges and centres (offset by the window length), the anchor and the face edges."""
    last = max(0.0, n - length)
    knots = np.arange(0, n + 1, 0.5, dtype=np.float64)
    starts = np.concatenate([knots, knots - length, [0.0, last], np.asarray(extra, np.float64)])
    starts = starts[(starts >= 0.0) & (starts <= last)]
    return np.unique(np.round(starts, 9))


def _edge_cut(profile: np.ndarray, length: float, starts: np.ndarray) -> np.ndarray:
    """Mean normalised density under the window's two edges (an edge on the border is 0)."""
    peak = profile.max()
    if peak <= 0:
        return np.zeros(len(starts))
    centres = np.arange(len(profile)) + 0.5
    density = profile / peak
    near = np.interp(starts, centres, density)
    far = np.interp(starts + length, centres, density)
    near[starts <= _EPS] = 0.0
    far[starts + length >= len(profile) - _EPS] = 0.0
    return 0.5 * (near + far)


def choose_window(importance: np.ndarray, window: tuple[float, float], *,
                  focus: tuple[float, float] | None = None,
                  faces: Sequence[tuple[float, float, float, float, float]] = (),
                  avoid_faces: bool = False,
                  spare_faces: Sequence[tuple[float, float, float, float, float]] = (),
                  margins: Sequence[tuple[float, float, float, float, float]] = (),
                  headroom: Sequence[tuple[float, float, float, float, float]] = (),
                  params: SearchParams = DEFAULT_SEARCH) -> WindowChoice:
    """Place a cover window of ``window`` = (width, height) grid pixels on ``importance``.

    ``focus``: (x, y) fractions of the grid for the anchor and prior (default: centre).
    ``faces``: (x0, y0, x1, y1, score) boxes on the grid that the hard rule protects (or,
    with ``avoid_faces``, keeps out). ``spare_faces`` and ``margins`` (a kept face with its
    margin): boxes the window should not slice when that costs at most ``params.spare_cost`` of
    the score; ``headroom`` (a kept face, its margin and the space above it): boxes it should
    hold whole when that costs at most ``params.headroom_cost`` more (all ignored with
    ``avoid_faces``).
    """
    height, width = importance.shape
    window_w, window_h = min(window[0], width), min(window[1], height)
    free_x, free_y = width - window_w > 1e-6, height - window_h > 1e-6
    if not (free_x or free_y):
        return WindowChoice(0.0, 0.0, 1.0, "window covers the region")
    if free_x and free_y:
        raise ValueError("a cover window spans the region along one axis")
    fx, fy = focus if focus is not None else (0.5, 0.5)
    anchor_name = "centre" if focus is None else "focus"
    n, length, f_axis = (width, window_w, fx) if free_x else (height, window_h, fy)
    anchor = float(np.clip(f_axis * n - length / 2, 0.0, n - length))
    weighted = importance * centre_prior(height, width, params.centre_sigma, (fx, fy))
    profile = weighted.sum(axis=0 if free_x else 1)
    total = float(profile.sum())
    # Face extents along the free axis (a face always lies within the spanned axis).
    lo = np.array([f[0] if free_x else f[1] for f in faces], np.float64)
    hi = np.array([f[2] if free_x else f[3] for f in faces], np.float64)
    face_weight = np.array([(f[2] - f[0]) * (f[3] - f[1]) * f[4] for f in faces], np.float64)
    if total <= _EPS:
        if not len(faces):
            return _at(anchor, free_x, 0.0, f"flat importance: {anchor_name}")
        profile, total = np.ones(n), float(n)
    extra = np.concatenate([[anchor], lo, hi, lo - length, hi - length])
    starts = _candidate_starts(n, length, extra)
    mass = window_mass(profile, length, starts) / total
    score = (mass - params.shift_penalty * np.abs(starts - anchor) / n
             - params.cut_penalty * _edge_cut(profile, length, starts))
    anchor_index = int(np.argmin(np.abs(starts - anchor)))
    confidence = float(np.clip((mass.max() - mass[anchor_index]) / params.confidence_scale, 0.0, 1.0))
    reason = None
    if len(faces):
        allowed, reason = _face_rule(starts, length, lo, hi, face_weight, avoid_faces, anchor_index)
        score = np.where(allowed, score, -np.inf)
        if reason is not None:
            confidence = 1.0  # the faces, not the importance evidence, decided
    spare_note = ""
    if (len(spare_faces) or len(margins) or len(headroom)) and not avoid_faces:
        score, spare_note = _spare_rule(score, starts, length, spare_faces, margins, headroom, free_x, params)
    best = int(np.argmax(score))
    start = float(starts[best])
    moved = abs(start - anchor) > 0.5
    basis = ""
    if len(faces):
        basis = "faces" if reason is not None else ("subject" if moved else anchor_name)
        reason = _faces_outcome(start, length, lo, hi, avoid_faces) or reason or (
            ("faces kept out; " if avoid_faces else "faces kept; ") + ("subject" if moved else anchor_name))
    elif not moved:
        reason = f"weak evidence: {anchor_name}"
    else:
        reason = "subject (strong evidence)" if confidence >= 0.5 else "subject (moderate evidence)"
    return _at(start, free_x, confidence, reason + spare_note, basis, spare_note)


def _sliced(starts: np.ndarray, length: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """starts x boxes: the window at each start overlaps the box but does not hold it whole."""
    t = starts[:, None]
    inside = (t <= lo[None, :] + 1e-6) & (t + length >= hi[None, :] - 1e-6)
    overlap = (t < hi[None, :] - 1e-6) & (t + length > lo[None, :] + 1e-6)
    return overlap & ~inside


def _spare_rule(score: np.ndarray, starts: np.ndarray, length: float,
                spare: Sequence[tuple[float, float, float, float, float]],
                margins: Sequence[tuple[float, float, float, float, float]],
                headroom: Sequence[tuple[float, float, float, float, float]], free_x: bool,
                params: SearchParams) -> tuple[np.ndarray, str]:
    """The scores restricted, in two tiers, to the starts that break the fewest soft rules:
    first, among the starts within ``spare_cost`` of the best, the fewest spared faces and then
    face margins sliced; then, among those within ``headroom_cost`` of the best left, the fewest
    headroom boxes not held whole. A note for the reason when a spared face is sliced."""
    def cut(boxes) -> np.ndarray:
        if not len(boxes):
            return np.zeros(len(starts), np.int64)
        lo = np.array([f[0] if free_x else f[1] for f in boxes], np.float64)
        hi = np.array([f[2] if free_x else f[3] for f in boxes], np.float64)
        return _sliced(starts, length, lo, hi).sum(axis=1)

    faces_cut = cut(spare)
    near = np.isfinite(score) & (score >= float(score.max()) - max(params.spare_cost, 0.0))
    for count, cost in ((faces_cut, None), (cut(margins), None), (cut(headroom), params.headroom_cost)):
        if cost is not None:
            near &= score >= float(score[near].max()) - max(cost, 0.0)
        near &= count == int(count[near].min())
    kept = np.where(near, score, -np.inf)
    fewest_faces = int(faces_cut[near].min())
    if not fewest_faces:
        return kept, ""
    why = ("no placement spares them" if not (faces_cut == 0).any()
           else "sparing them cost too much of the subject")
    return kept, f"; {fewest_faces} of {len(spare)} smaller faces cut ({why})"


def _faces_outcome(start: float, length: float, lo: np.ndarray, hi: np.ndarray, avoid: bool) -> str | None:
    """What the chosen window did to the faces, when it is not what the policy wanted: faces
    cut by the window edges (a face longer than the window cannot be kept whole), or faces
    that ``avoid`` could not keep out. None when every face is whole inside (keep) or fully
    outside (avoid)."""
    inside = (start <= lo + 1e-6) & (start + length >= hi - 1e-6)
    overlap = (start < hi - 1e-6) & (start + length > lo + 1e-6)
    total = len(lo)
    if avoid:
        shown = int(overlap.sum())
        return f"faces: {shown} of {total} could not be kept out of the window" if shown else None
    cut = overlap & ~inside
    if not cut.any():
        return None
    too_long = int((cut & (hi - lo > length + 1e-6)).sum())
    why = f"{too_long} larger than the window" if too_long == int(cut.sum()) else "too many to keep whole"
    return f"faces: kept {int(inside.sum())} of {total} whole, {int(cut.sum())} cut ({why})"


def _at(start: float, free_x: bool, confidence: float, reason: str, basis: str = "", note: str = "") -> WindowChoice:
    return WindowChoice(start if free_x else 0.0, 0.0 if free_x else start, confidence, reason, basis, note)


def _face_rule(starts: np.ndarray, length: float, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray,
               avoid: bool, anchor_index: int) -> tuple[np.ndarray, str | None]:
    """Which starts the faces allow, and a reason when that moved the window off the anchor.

    Keep mode: exclude starts that cut a face that fits; among the rest keep those holding
    the most face weight. Avoid mode: keep the starts that include the least face weight.
    """
    t = starts[:, None]
    inside = (t <= lo[None, :] + 1e-6) & (t + length >= hi[None, :] - 1e-6)
    overlap = (t < hi[None, :] - 1e-6) & (t + length > lo[None, :] + 1e-6)
    if avoid:
        included = overlap @ weight
        allowed = included <= included.min() + _EPS
        return allowed, None if allowed[anchor_index] else "faces kept out of the window"
    fits = (hi - lo) <= length + 1e-6
    cut = ((overlap & ~inside) & fits[None, :]) @ weight
    allowed = cut <= _EPS
    if not allowed.any():  # faces too dense to avoid cutting: cut the least
        allowed = cut <= cut.min() + _EPS
    held = inside @ weight
    allowed &= held >= held[allowed].max() - _EPS
    if allowed[anchor_index]:
        return allowed, None
    best_kept = int(inside[allowed].sum(axis=1).max())
    return allowed, f"faces: kept {best_kept} of {len(lo)}" + ("" if best_kept == int(fits.sum()) else " (not all fit)")


def place_smart(region: Box, window: tuple[float, float], analysis: Analysis, *,
                focus: tuple[float, float] | None = None, faces: Sequence[Face] = (),
                avoid_faces: bool = False, spare_faces: Sequence[Face] = (),
                params: SearchParams = DEFAULT_SEARCH) -> Placement:
    """Place a cover ``window`` (width, height in source pixels) inside ``region``.

    ``focus`` is a point in source pixels; ``faces`` (source pixels) are the faces the hard
    rule protects, with a margin and ``params.headroom`` face heights above each kept when
    cheap (or keeps out with ``avoid_faces``); ``spare_faces`` the faces the window should not
    slice when that is cheap. Without an importance map the window goes to the focus point or the centre.
    """
    if window[0] >= region.width - WINDOW_FILLS_TOLERANCE and window[1] >= region.height - WINDOW_FILLS_TOLERANCE:
        # nothing to place, whatever the analysis (the pipeline skips it in this case)
        return Placement(Box(region.x0, region.y0, region.x0 + window[0], region.y0 + window[1]), 1.0,
                         "window covers the region")
    if analysis.importance is None:
        centre = focus if focus is not None else region.centre
        return Placement(place_window(region, window, centre), 0.0, "no importance map: centre")
    sx, sy = analysis.grid_scale
    ox, oy = analysis.grid_origin
    grid_focus = None
    if focus is not None:
        grid_focus = (float(np.clip((focus[0] - region.x0) / region.width, 0, 1)),
                      float(np.clip((focus[1] - region.y0) / region.height, 0, 1)))
    grid_faces = [((f.x0 - ox) * sx, (f.y0 - oy) * sy, (f.x1 - ox) * sx, (f.y1 - oy) * sy, f.score)
                  for f in faces]
    grid_window = (window[0] * sx, window[1] * sy)
    margins: list[tuple[float, float, float, float, float]] = []
    heads: list[tuple[float, float, float, float, float]] = []
    if not avoid_faces:
        margins = grown_faces(grid_faces, grid_window, analysis.importance.shape, params.face_margin)
        heads = with_headroom(margins, grid_window[1], params.headroom)
    grid_spare = [((f.x0 - ox) * sx, (f.y0 - oy) * sy, (f.x1 - ox) * sx, (f.y1 - oy) * sy, f.score)
                  for f in spare_faces]
    choice = choose_window(analysis.importance, grid_window, focus=grid_focus, faces=grid_faces,
                           avoid_faces=avoid_faces, spare_faces=grid_spare, margins=margins, headroom=heads,
                           params=params)
    left = min(max(ox + choice.left / sx, region.x0), region.x1 - window[0])
    top = min(max(oy + choice.top / sy, region.y0), region.y1 - window[1])
    return Placement(Box(left, top, left + window[0], top + window[1]), choice.confidence, choice.reason,
                     choice.basis, choice.note)


def grown_faces(boxes: Sequence[tuple[float, float, float, float, float]], window: tuple[float, float],
                shape: tuple[int, int], margin: float) -> list[tuple[float, float, float, float, float]]:
    """Face boxes (x0, y0, x1, y1, score; grid pixels) grown by ``margin`` x the face's size on
    every side, clipped to the grid (``shape`` rows, cols); along an axis where the grown box
    would not fit in the ``window`` (width, height), the face's own extent is kept."""
    grown = []
    for x0, y0, x1, y1, score in boxes:
        pad = margin * max(x1 - x0, y1 - y0)
        gx0, gx1 = max(0.0, x0 - pad), min(float(shape[1]), x1 + pad)
        gy0, gy1 = max(0.0, y0 - pad), min(float(shape[0]), y1 + pad)
        if gx1 - gx0 > window[0] + 1e-6:
            gx0, gx1 = x0, x1
        if gy1 - gy0 > window[1] + 1e-6:
            gy0, gy1 = y0, y1
        grown.append((gx0, gy0, gx1, gy1, score))
    return grown


def with_headroom(boxes: Sequence[tuple[float, float, float, float, float]], window_height: float,
                  headroom: float) -> list[tuple[float, float, float, float, float]]:
    """Face boxes (x0, y0, x1, y1, score; grid pixels) grown upwards by ``headroom`` face
    heights, as far as a window ``window_height`` tall can still hold the grown box (never
    less than the face itself), and not above row 0."""
    grown = []
    for x0, y0, x1, y1, score in boxes:
        top = max(y0 - headroom * (y1 - y0), y1 - window_height, 0.0)
        grown.append((x0, min(top, y0), x1, y1, score))
    return grown


def brute_force_choose(importance: np.ndarray, window: tuple[float, float], *,
                       focus: tuple[float, float] | None = None, step: float = 1 / 64,
                       params: SearchParams = DEFAULT_SEARCH) -> tuple[float, float, float]:
    """Reference search without faces, for tests: every start on a ``step`` grid, the mass
    by explicit per-pixel overlap. Returns (best score, left, top)."""
    height, width = importance.shape
    window_w, window_h = min(window[0], width), min(window[1], height)
    free_x = width - window_w > 1e-6
    fx, fy = focus if focus is not None else (0.5, 0.5)
    weighted = importance * centre_prior(height, width, params.centre_sigma, (fx, fy))
    n, length, f_axis = (width, window_w, fx) if free_x else (height, window_h, fy)
    anchor = float(np.clip(f_axis * n - length / 2, 0.0, n - length))
    profile = weighted.sum(axis=0 if free_x else 1)
    peak = profile.max()
    best = (-np.inf, 0.0, 0.0)
    for start in np.unique(np.append(np.arange(0, n - length + 1e-12, step), [n - length, anchor])):
        pixels = np.arange(n)
        overlap = np.clip(np.minimum(start + length, pixels + 1) - np.maximum(start, pixels), 0, 1)
        mass = float((profile * overlap).sum() / profile.sum())
        edges = 0.0
        if peak > 0:
            centres = pixels + 0.5
            near = 0.0 if start <= 1e-9 else float(np.interp(start, centres, profile / peak))
            far = 0.0 if start + length >= n - 1e-9 else float(np.interp(start + length, centres, profile / peak))
            edges = 0.5 * (near + far)
        score = mass - params.shift_penalty * abs(start - anchor) / n - params.cut_penalty * edges
        if score > best[0] + 1e-12:
            best = (score, float(start), 0.0) if free_x else (score, 0.0, float(start))
    return best
