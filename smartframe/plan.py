"""Plan: decide the whole framing as plain data, before any pixel is touched.

A :class:`Plan` holds the crop box in source pixels, where it lands in the output, the fit,
the strategy that placed it and why. Rendering, redaction, the report and the explain
overlay all read the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .analysis import Analysis, Face
from .errors import OptionError
from .analysis.faces import is_identifiable
from .face_outcomes import FaceOutcome, face_outcomes, face_roles, faces_summary
from .geometry import (
    Box,
    Size,
    contain_size,
    cover_window_size,
    place_window,
    WorkingGrid,
)
from .options import Colour, FacePolicy, Fit, FrameOptions, Strategy
from .search import Placement, place_smart
from .targets import Target

__all__ = ["Plan", "Placement", "plan_frame", "framing_region", "max_reduction_for", "decode_reduction",
           "MIN_WORKING_SIDE"]

#: The fewest working pixels a cover window (or the framed region) spans along its shorter
#: side when the decode is reduced for a small output: a thumbnail is then an average over many
#: working pixels, never a resample of a handful (whose edges would be most of the picture).
MIN_WORKING_SIDE = 64


@dataclass(frozen=True)
class Plan:
    """Every decision for one output, as data.

    Frames: ``crop_box``, ``region`` and ``faces`` are in source pixels after EXIF
    orientation; ``content_box`` is in output pixels. ``crop_box`` is the part of the
    source that fills ``content_box``: the cover window, the whole region for pad and
    stretch. For pad, the rest of the output is ``background`` (a colour or ``"blur"``).
    """

    target: Target
    source_size: Size
    region: Box
    fit: Fit
    strategy: Strategy | None
    crop_box: Box
    content_box: Box
    background: Colour | str | None
    faces: tuple[Face, ...]
    confidence: float | None
    reason: str
    warnings: tuple[str, ...]
    #: One per face of ``faces``, in order: whether it is whole, cut or outside the crop box,
    #: whether it steered the window, and why not (see :mod:`smartframe.face_outcomes`).
    face_outcomes: tuple[FaceOutcome, ...] = ()

    @property
    def output_size(self) -> Size:
        return self.target.size

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Output pixels per source pixel, along x and along y."""
        return (self.content_box.width / self.crop_box.width,
                self.content_box.height / self.crop_box.height)

    @property
    def scale(self) -> float:
        """Output pixels per source pixel; for ``stretch`` (unequal axes) the geometric mean."""
        sx, sy = self.scale_xy
        return math.sqrt(sx * sy)

    @property
    def upscale(self) -> float:
        """How much the source is enlarged: the larger axis scale (below 1: shrunk)."""
        return max(self.scale_xy)

    def to_output(self, box: Box) -> Box:
        """Map a box from source pixels to output pixels (it may fall partly outside)."""
        sx, sy = self.scale_xy
        return Box(
            (box.x0 - self.crop_box.x0) * sx + self.content_box.x0,
            (box.y0 - self.crop_box.y0) * sy + self.content_box.y0,
            (box.x1 - self.crop_box.x0) * sx + self.content_box.x0,
            (box.y1 - self.crop_box.y0) * sy + self.content_box.y0,
        )

    def to_dict(self) -> dict:
        """The plan as JSON-ready data (the CLI's ``--report``)."""
        return {
            "target": self.target.name,
            "preset": self.target.preset,
            "source_size": list(self.source_size),
            "output_size": list(self.output_size),
            "fit": self.fit.value,
            "strategy": self.strategy.value if self.strategy else None,
            "crop_box": self.crop_box.rounded(3),
            "region": self.region.rounded(3),
            "content_box": self.content_box.rounded(3),
            "scale": round(self.scale, 6),
            "scale_xy": [round(v, 6) for v in self.scale_xy],
            "upscale": round(self.upscale, 6),
            "background": (list(self.background) if isinstance(self.background, tuple)
                           else self.background),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "reason": self.reason,
            "faces": [dict(face.to_dict(), **outcome.to_dict())
                      for face, outcome in zip(self.faces, self.face_outcomes)]
                     if len(self.face_outcomes) == len(self.faces) else [face.to_dict() for face in self.faces],
            "warnings": list(self.warnings),
        }


def framing_region(source_size: Size, options: FrameOptions) -> Box:
    """The part of the source that is framed: ``crop_bounds`` applied, in source pixels.

    Raises OptionError naming ``crop_bounds`` when the region is less than one source pixel
    wide or high: there is no picture to frame there, only an enlargement of a fraction of
    a pixel (a floor on how much the bounds can enlarge, whatever the output size).
    """
    if options.crop_bounds is None:
        return Box.from_size(source_size)
    region = options.crop_bounds.box(source_size)
    if region.width < 1 or region.height < 1:
        bounds = options.crop_bounds
        raise OptionError("crop_bounds", (bounds.left, bounds.top, bounds.right, bounds.bottom),
                          f"a region of at least 1x1 source pixel; on this {source_size} image it is "
                          f"{region.width:.3g}x{region.height:.3g} px")
    return region


def max_reduction_for(region: Box, target: Size, fit: Fit) -> float:
    """The largest factor by which the source may be shrunk at decode for this output.

    Decoding smaller than this would make the renderer enlarge pixels it could have had.
    """
    if fit is Fit.COVER:
        width, height = cover_window_size(region, target)
        return min(width / target.width, height / target.height)
    if fit is Fit.PAD:
        content = contain_size(region, target)
        return min(region.width / content.width, region.height / content.height)
    return min(region.width / target.width, region.height / target.height)


def decode_reduction(region: Box, targets: Sequence[Size], fit: Fit) -> float:
    """The reduction the decode may use for all of ``targets``: the smallest
    :func:`max_reduction_for`, but never so large that the window's shorter side spans fewer
    than :data:`MIN_WORKING_SIDE` working pixels (only small outputs are affected: a 12 MP
    photo framed to 1280x720 decodes exactly as small as before)."""
    reductions = []
    for target in targets:
        if fit is Fit.COVER:
            width, height = cover_window_size(region, target)
        else:
            width, height = region.width, region.height
        floor = max(1.0, min(width, height) / MIN_WORKING_SIDE)
        reductions.append(min(max_reduction_for(region, target, fit), floor))
    return min(reductions)


# --- strategies: each only chooses where the cover window goes -----------------------------
# A strategy takes the region and window size (source pixels), the upright source size, the
# analysis, the options and the output size, and returns a Placement. One table, one
# dispatch point.

def _place_centre(region: Box, window: tuple[float, float], source_size: Size,
                  analysis: Analysis, options: FrameOptions, output: Size) -> Placement:
    return Placement(place_window(region, window, region.centre), None, "centre of the frame")


def _place_focus(region: Box, window: tuple[float, float], source_size: Size,
                 analysis: Analysis, options: FrameOptions, output: Size) -> Placement:
    fx, fy = options.focus  # validated: the focus strategy requires a focus point
    point = (fx * source_size.width, fy * source_size.height)
    return Placement(place_window(region, window, point), None, f"focus point ({fx:g}, {fy:g})")


def _place_smart(region: Box, window: tuple[float, float], source_size: Size,
                 analysis: Analysis, options: FrameOptions, output: Size) -> Placement:
    focus = None
    if options.focus is not None:
        focus = (options.focus[0] * source_size.width, options.focus[1] * source_size.height)
    # Only the faces that steer bind the window (face_outcomes states the rule, and the plan
    # reports every face against it): tiny background faces must not pin it. Under
    # faces="avoid" every face identifiable in the output is kept out (a policy).
    avoid = options.faces is FacePolicy.AVOID
    roles = face_roles(analysis, options, options.resolved_strategy, Fit.COVER, window, output)
    faces = [face for face, (steers, _) in zip(analysis.faces, roles) if steers]
    # The other detected faces identifiable in the output (too small or too unsure to steer)
    # are spared when that is cheap: the window does not slice them.
    scale = output.width / window[0]
    spare = [] if avoid else [
        face for face, (steers, _) in zip(analysis.faces, roles)
        if not steers and is_identifiable(face.size * scale, face.score, min_face_px=options.min_face_px,
                                          min_face_score=options.min_face_score)]
    return place_smart(region, window, analysis, focus=focus, faces=faces, avoid_faces=avoid,
                       spare_faces=spare)


_STRATEGIES: dict[Strategy, Callable[..., Placement]] = {
    Strategy.CENTRE: _place_centre,
    Strategy.FOCUS: _place_focus,
    Strategy.SMART: _place_smart,
    Strategy.CLASSIC: _place_smart,  # the same search; the analysis made the classic map
}


def plan_frame(
    target: Target,
    source_size: Size,
    options: FrameOptions,
    analysis: Analysis,
    *,
    working_scale: tuple[float, float] = (1.0, 1.0),
    working_grid: WorkingGrid | None = None,
    notes: tuple[str, ...] = (),
) -> Plan:
    """Decide how the source becomes ``target``.

    ``working_grid`` is the pixel grid the renderer will read (``LoadedImage.grid``: below
    the source's resolution after a reduced decode); without it, the source scaled by
    ``working_scale`` (working pixels per source pixel). The crop box is
    exact: its aspect ratio is the target's and ``centre`` puts it in the middle of the
    region. When the output shrinks the source and moving the box onto whole working pixels
    keeps it exact within a source pixel (see :func:`_snap_when_exact_enough`), it is moved,
    so the renderer takes its fast path; otherwise the renderer reads the fractional box.
    """
    region = framing_region(source_size, options)
    size = target.size
    fit = options.fit
    strategy = options.resolved_strategy
    warnings = [n for n in notes if n.startswith("WARNING")] + list(options.unused())
    confidence: float | None = None
    reason = ""
    background = None
    window = None
    if fit is Fit.COVER:
        window = cover_window_size(region, size)
        placement = _STRATEGIES[strategy](region, window, source_size, analysis, options, size)
        crop_box, confidence, reason = placement.window, placement.confidence, placement.reason
        if analysis.faces:  # the reason tells every face's fate (below), then what placed the window
            basis = {"faces": "moved for the faces"}.get(placement.basis, placement.basis)
            reason = basis + placement.note if basis else reason
        content_box = Box.from_size(size)
    elif fit is Fit.PAD:
        content = contain_size(region, size)
        ax, ay = options.pad_position.alignment
        left = round((size.width - content.width) * ax)
        top = round((size.height - content.height) * ay)
        content_box = Box(left, top, left + content.width, top + content.height)
        crop_box = region
        background = options.background
        reason = f"whole region padded ({options.pad_position.value})"
    else:
        crop_box = region
        content_box = Box.from_size(size)
        reason = "whole region stretched"
    grid = working_grid if working_grid is not None else WorkingGrid.scaled(source_size, working_scale)
    crop_box = _snap_when_exact_enough(crop_box, content_box, region, grid, strategy)
    avoid = options.faces is FacePolicy.AVOID
    roles = face_roles(analysis, options, strategy, fit, window, size)
    # whole within one output pixel (one source pixel when enlarging): what a snap can move
    outcomes = face_outcomes(analysis.faces, roles, crop_box, source_size, avoid,
                             tolerance=max(1.0, crop_box.width / content_box.width))
    if outcomes:
        reason = f"{faces_summary(outcomes, avoid)}; {reason}"
    upscale = max(content_box.width / crop_box.width, content_box.height / crop_box.height)
    if upscale > options.upscale_warning:
        warnings.append(f"the source is enlarged {upscale:.2f}x (more than "
                        f"upscale_warning={options.upscale_warning:g}); the output may look soft")
    return Plan(target=target, source_size=source_size, region=region, fit=fit,
                strategy=strategy, crop_box=crop_box, content_box=content_box,
                background=background, faces=analysis.faces, confidence=confidence,
                reason=reason, warnings=tuple(warnings), face_outcomes=outcomes)


def _snap_when_exact_enough(crop_box: Box, content_box: Box, region: Box, grid: WorkingGrid,
                            strategy: Strategy | None) -> Box:
    """``crop_box`` moved onto whole working pixels when that keeps the plan's promises, else
    ``crop_box`` unchanged (the renderer then reads the fractional box).

    The promises, in source pixels: each side of the box within one source pixel of the exact
    box (so the aspect ratio is the target's within one source pixel of rounding), the box
    inside the region, and its centre within half a source pixel of where the strategy put it.
    ``smart`` and ``classic`` chose their place by reading the working image, so for them the
    centre may move by half a working pixel (the resolution of what they read). Enlarging
    never snaps: the renderer samples the exact box.
    """
    exact = grid.to_working(crop_box)
    if content_box.width > exact.width + 1e-9 or content_box.height > exact.height + 1e-9:
        return crop_box
    width, height = max(1, round(exact.width)), max(1, round(exact.height))
    gx0, gy0 = round((exact.x0 + exact.x1 - width) / 2), round((exact.y0 + exact.y1 - height) / 2)
    snapped = grid.to_source(Box(gx0, gy0, gx0 + width, gy0 + height))
    rx, ry = grid.reduction
    searched = strategy in (Strategy.SMART, Strategy.CLASSIC)
    shift_x, shift_y = (max(0.5, 0.5 * rx), max(0.5, 0.5 * ry)) if searched else (0.5, 0.5)
    (cx, cy), (snapped_cx, snapped_cy) = crop_box.centre, snapped.centre
    exact_enough = (abs(snapped.width - crop_box.width) <= 1 + 1e-9
                    and abs(snapped.height - crop_box.height) <= 1 + 1e-9
                    and abs(snapped_cx - cx) <= shift_x + 1e-9 and abs(snapped_cy - cy) <= shift_y + 1e-9
                    and region.contains(snapped, tolerance=1e-9))
    return snapped if exact_enough else crop_box
