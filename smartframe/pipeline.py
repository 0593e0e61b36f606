"""The pipeline: load -> analyse -> plan -> render -> redact, and the result object.

``frame`` makes one output; ``frame_sizes`` makes several from one decode and one analysis.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from .analysis import Analysis, Face, Maps, analyse
from .analysis.fusion import steering_min_size
from .encode import Encoded, check_encode_settings, choose_format, encode, format_from_path
from .errors import OptionError, naming_the_source
from .geometry import Box, Size, cover_window_size
from .load import LoadedImage, Source, SourceInfo, open_source
from .options import AlphaPolicy, FacePolicy, FrameOptions, Strategy
from .outputs import refuse_clashes, write
from .plan import Plan, decode_reduction, framing_region, max_reduction_for, plan_frame
from .redact import apply_face_policy
from .render import render
from .search import WINDOW_FILLS_TOLERANCE
from .targets import Target, parse_targets, refuse_kept_alpha, resolve_target

__all__ = ["FrameResult", "frame", "frame_sizes", "make_plan", "make_plans", "make_options",
           "FROM_TARGET"]


class _FromTarget:
    """Sentinel: take the value from the target's rules."""

    def __repr__(self) -> str:
        return "FROM_TARGET"


#: Default for ``max_bytes`` and ``format``: use the target's limit / first accepted format.
FROM_TARGET = _FromTarget()


@dataclass(frozen=True)
class FrameResult:
    """One framed output and everything that was decided to make it.

    ``image`` is a PIL image of exactly the target size, RGB (RGBA only with
    ``alpha="keep"``). Boxes (``crop_box``, ``faces``) are in source pixels after EXIF
    orientation; ``redacted`` lists the face boxes redacted in the output, in output pixels.
    ``source_path`` is the input file when the source was a path (None otherwise): what
    :meth:`save` refuses to replace.
    """

    image: Image.Image
    plan: Plan
    source: SourceInfo
    notes: tuple[str, ...] = ()
    redacted: tuple[Face, ...] = ()
    exif: bytes | None = field(default=None, repr=False)
    source_path: str | None = field(default=None, repr=False)

    @property
    def crop_box(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)``: the source region that fills the output (source pixels)."""
        return tuple(float(v) for v in self.plan.crop_box)  # type: ignore[return-value]

    @property
    def target(self) -> Target:
        return self.plan.target

    @property
    def source_size(self) -> Size:
        return self.plan.source_size

    @property
    def output_size(self) -> Size:
        return self.plan.output_size

    @property
    def fit(self) -> str:
        return self.plan.fit.value

    @property
    def strategy(self) -> str | None:
        return self.plan.strategy.value if self.plan.strategy else None

    @property
    def scale(self) -> float:
        """Output pixels per source pixel (geometric mean of the axes for ``stretch``)."""
        return self.plan.scale

    @property
    def faces(self) -> tuple[Face, ...]:
        """Faces detected in the source (source pixels); empty when detection did not run.

        Faces are searched down to the size that matters for the options: ``min_face_px`` of
        the output when a face policy acts on them or the target refuses faces; when they only
        guide the window (``keep``, or ``auto`` for a target that accepts faces), down to the
        size from which a face steers it (see :func:`analysis_needs`)."""
        return self.plan.faces

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.plan.warnings

    def default_format(self) -> str:
        """The format :meth:`encode` writes when none is asked for: the target's first accepted
        format, or with transparency kept (RGBA) the first that can hold it."""
        return choose_format(self.target, None, alpha=self.image.mode == "RGBA")

    def encode(self, format: str | _FromTarget = FROM_TARGET, *, quality: int | None = None,
               max_bytes: int | None | _FromTarget = FROM_TARGET,
               metadata: str = "strip") -> Encoded:
        """Encode the image. ``format`` defaults to the target's first accepted format
        (:meth:`default_format`) and must be one the target accepts (a preset's formats bind
        the output: OptionError otherwise); ``max_bytes`` defaults to the target's limit
        (None: no limit). ``metadata="keep"`` writes the source's EXIF (orientation reset to
        1); the default strips it. A ByteBudgetError names the source."""
        requested = None if isinstance(format, _FromTarget) else format
        fmt = choose_format(self.target, requested, alpha=self.image.mode == "RGBA")
        limit = self.target.max_bytes if isinstance(max_bytes, _FromTarget) else max_bytes
        check_encode_settings(metadata=metadata)
        exif = self.exif if metadata == "keep" else None
        with naming_the_source(self.source.name):
            return encode(self.image, fmt, quality=quality, max_bytes=limit, exif=exif)

    def to_bytes(self, format: str | _FromTarget = FROM_TARGET, **encode_options) -> bytes:
        """The encoded bytes; see :meth:`encode` for the options."""
        return self.encode(format, **encode_options).data

    def save(self, path: str | os.PathLike, *, overwrite_input: bool = False, **encode_options) -> Encoded:
        """Write the image to ``path`` (format from the extension, which the target must
        accept), atomically; missing folders are created. Refuses (OptionError) to replace
        the input file, by path, symlink or hard link, unless ``overwrite_input=True``.
        OutputError when it cannot be written. The rules are :mod:`smartframe.outputs`'."""
        fmt = format_from_path(path)
        refuse_clashes([path], self.source_path, field="path", overwrite_input=overwrite_input,
                       allow_hint="overwrite_input=True")
        encoded = self.encode(fmt, **encode_options)
        write(path, encoded.data)
        return encoded

    def report(self) -> dict:
        """The plan and the source facts as JSON-ready data."""
        data = self.plan.to_dict()
        data["source"] = {
            "name": self.source.name,
            "format": self.source.format,
            "mode": self.source.mode,
            "stored_size": list(self.source.stored_size),
            "orientation": self.source.orientation,
            "icc_profile": self.source.icc_description,
        }
        data["notes"] = list(self.notes)
        data["redacted"] = [face.to_dict() for face in self.redacted]
        return data


def make_options(options: FrameOptions | None, values: dict) -> FrameOptions:
    """A FrameOptions from an optional base object and keyword overrides (validated).

    Raises OptionError naming the argument for an ``options`` that is not a FrameOptions
    (a dict, say) and for a keyword that is not an option (with the nearest option name).
    """
    if options is not None and not isinstance(options, FrameOptions):
        raise OptionError("options", options, "a smartframe.FrameOptions(...), or the options as keyword "
                          "arguments (fit='pad')")
    names = FrameOptions.field_names()
    for name in sorted(set(values) - names):
        near = difflib.get_close_matches(name, sorted(names), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise OptionError(name, values[name], f"{hint}not an option; the options are {', '.join(sorted(names))}")
    if options is None:
        return FrameOptions(**values)
    if values:
        return replace(options, **values)
    return options


def frame(source: Source, size: object, *, options: FrameOptions | None = None,
          **option_values) -> FrameResult:
    """Frame ``source`` to exactly ``size``.

    ``source``: a path, bytes, a binary file object, a PIL image, or an HxWx3 uint8 RGB
    array. ``size``: ``"1280x720"``, ``(1280, 720)``, a preset name (``"sora-2"``: the
    preset size that suits the source is chosen) or ``"preset:WxH"``. Options are keyword
    arguments of :class:`~smartframe.options.FrameOptions` (``fit``, ``strategy``,
    ``focus``, ``background``, ``faces``, ...), or ``options=FrameOptions(...)``.

    >>> import numpy as np, smartframe
    >>> r = smartframe.frame(np.zeros((300, 400, 3), np.uint8), "160x90", strategy="centre")
    >>> r.image.size, r.crop_box
    ((160, 90), (0.0, 38.0, 400.0, 263.0))
    """
    return frame_sizes(source, [size], options=options, **option_values)[0]


def frame_sizes(source: Source, sizes: Sequence[object], *, options: FrameOptions | None = None,
                **option_values) -> list[FrameResult]:
    """Frame ``source`` to each of ``sizes`` with one decode and one analysis.

    Returns one :class:`FrameResult` per size, in order; a size given twice is refused
    (OptionError). See :func:`frame` for the rest.
    """
    opts = make_options(options, option_values)
    loaded, analysis, plans = prepare(source, sizes, opts)
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    with naming_the_source(loaded.info.name):  # a constraint error names the input
        return [replace(_render(loaded, plan, opts), source_path=path) for plan in plans]


def make_plan(source: Source, size: object, *, options: FrameOptions | None = None,
         **option_values) -> Plan:
    """Decide how ``source`` would be framed to ``size`` without rendering it.

    The :class:`~smartframe.plan.Plan` holds the crop box (source pixels), the strategy,
    its confidence and reason, and the faces. Same arguments as :func:`frame`.
    """
    return make_plans(source, [size], options=options, **option_values)[0]


def make_plans(source: Source, sizes: Sequence[object], *, options: FrameOptions | None = None,
               **option_values) -> list[Plan]:
    """The plans for several sizes from one decode and one analysis (see :func:`make_plan`)."""
    return prepare(source, sizes, make_options(options, option_values))[2]


def prepare(source: Source, sizes: Sequence[object],
             opts: FrameOptions) -> tuple[LoadedImage, Analysis, list[Plan]]:
    """Load (decoding no more than the largest output needs), analyse once, plan each size.

    The one path from a source to plans: frame, make_plans, explain and batch all use it, so
    what they show is what was done. Not public API (``opts`` is already validated).
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise OptionError("sizes", sizes, "a list of sizes; use frame() for one size")
    specs = parse_targets(list(sizes))
    if opts.alpha is AlphaPolicy.KEEP:
        for spec in specs:
            refuse_kept_alpha(spec)  # before the source is read
    if not specs:
        raise OptionError("sizes", sizes, "at least one size")
    with open_source(source, limits=opts.limits) as opened, naming_the_source(opened.info.name):
        region = framing_region(opened.info.size, opts)
        targets = [resolve_target(spec, (region.width, region.height)) for spec in specs]
        reduction = decode_reduction(region, [t.size for t in targets], opts.fit)
        loaded = opened.decode(max_reduction=reduction, alpha=opts.alpha,
                               alpha_background=opts.alpha_background)
    # The analysis runs on the working image once the source is closed, whatever the threads
    # allowed, so a photo framed alone or by a batch of one or several workers gives the same
    # output byte for byte.
    analysis = analyse_for(loaded, region, opts, targets)
    notes = loaded.notes
    if opts.alpha is AlphaPolicy.KEEP and loaded.info.has_alpha:
        notes += (_ALPHA_KEPT,)
    plans = [plan_frame(target, loaded.size, opts, analysis, working_grid=loaded.grid,
                        notes=notes) for target in targets]
    return loaded, analysis, plans


#: The plan's warning for an output that keeps an alpha channel (only a plain size allows it).
_ALPHA_KEPT = ("WARNING: the output keeps its alpha channel (alpha='keep'), so check fails it: its mode "
               "rule asks for 8-bit RGB without an alpha channel")


def analyse_for(loaded: LoadedImage, region: Box, opts: FrameOptions,
                targets: Sequence[Target] = ()) -> Analysis:
    """Run the analysis the options need on the decoded image (see :func:`analysis_needs`)."""
    maps, faces, min_face_px = analysis_needs(opts, region, targets, source_size=loaded.size)
    return analyse(loaded.pixels, loaded.working_scale, region, maps=maps, faces=faces,
                   min_face_px=min_face_px, min_face_score=opts.min_face_score)


def analysis_needs(opts: FrameOptions, region: Box, targets: Sequence[Target] = (), *,
                   source_size: Size | None = None) -> tuple[Maps | None, bool, float]:
    """What the analysis must make for these options and targets.

    * the importance map: the fused map for ``smart``, the classic map for ``classic``, none
      for the other strategies and fits, nor when every target's cover window is the whole
      region (a square photo made square: the window cannot move);
    * whether to detect faces: for ``smart`` and ``classic`` (faces guide the window), for any
      face policy that acts on faces, and whenever a target refuses faces (so that even
      ``keep`` can warn about an image the target will refuse);
    * the smallest face that matters, in source pixels: ``min_face_px`` output pixels at the
      largest output scale among the targets (a face is identifiable from that size on).
      When faces are detected only to guide the window -- every target keeps faces (``keep``,
      or ``auto`` for a target that accepts them) -- only faces that steer the window matter:
      those at least :func:`~smartframe.analysis.fusion.steering_min_size` long on the upright
      ``source_size`` (a share of its shorter side), so the faces are searched from the larger
      of the two sizes on. A portrait photo made into a landscape output needs its whole
      height searched for faces of 20 output pixels only when a policy acts on them or the
      target refuses them; otherwise faces below the steering size could not move the window.
    """
    maps = {Strategy.SMART: Maps.SMART, Strategy.CLASSIC: Maps.CLASSIC}.get(opts.resolved_strategy)
    if maps is not None and targets and all(_window_is_region(region, t.size) for t in targets):
        maps = None  # every window is the whole region: there is nothing to place
    policy_acts = (any(t.refuses_faces for t in targets)
                   or any(opts.faces.for_target(t.refuses_faces) is not FacePolicy.KEEP for t in targets)
                   or (not targets and opts.faces not in (FacePolicy.KEEP, FacePolicy.AUTO)))
    want_faces = maps is not None or policy_acts
    # source pixels per output pixel of the most enlarging target (1 without targets)
    reduction = min((max_reduction_for(region, t.size, opts.fit) for t in targets), default=1.0)
    min_face_px = opts.min_face_px * reduction
    if want_faces and not policy_acts and source_size is not None:
        # Faces only steer the window: one smaller than the steering size cannot.
        min_face_px = max(min_face_px, steering_min_size(min(source_size)))
    return maps, want_faces, min_face_px


def _window_is_region(region: Box, size: Size) -> bool:
    """Whether the cover window for ``size`` is the whole ``region`` (both in source pixels):
    then no analysis can move it (see :func:`~smartframe.search.place_smart`)."""
    width, height = cover_window_size(region, size)
    return width >= region.width - WINDOW_FILLS_TOLERANCE and height >= region.height - WINDOW_FILLS_TOLERANCE


def _render(loaded: LoadedImage, plan: Plan, opts: FrameOptions) -> FrameResult:
    pixels = render(loaded.pixels, loaded.grid, plan)
    pixels, plan, redacted = apply_face_policy(pixels, plan, opts)
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    image = Image.fromarray(np.ascontiguousarray(pixels), mode)
    if opts.alpha is AlphaPolicy.KEEP and not loaded.info.has_alpha:
        image = image.convert("RGB")  # nothing was transparent: do not write an alpha channel
    return FrameResult(image=image, plan=plan, source=loaded.info, notes=loaded.notes,
                       redacted=redacted, exif=loaded.exif)
