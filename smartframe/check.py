"""Check: an image against a target's rules, rule by rule, before anyone pays for a request.

The check reads the file as a consumer would receive it: the stored pixel grid, the stored
format, the byte count, the colour mode, the EXIF orientation tag and the ICC profile. Faces
are looked for on the decoded, upright image.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Face
from .analysis.faces import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, identifiable_faces
from .errors import OptionError
from .geometry import Box
from .load import Source, SourceInfo, open_source
from .options import Fit, Limits
from .plan import max_reduction_for
from .targets import Preset, Target, parse_target, resolve_target

__all__ = ["Violation", "CheckReport", "check", "RULES"]

#: Every rule ``check`` applies, in the order it reports them.
RULES = ("dimensions", "format", "bytes", "mode", "orientation", "profile", "faces")

# Pillow names some JPEG variants differently; consumers see JPEG bytes.
_FORMAT_ALIASES = {"mpo": "jpeg", "jpg": "jpeg"}


@dataclass(frozen=True)
class Violation:
    """A broken rule: its name (one of :data:`RULES`) and what is wrong, in words."""

    rule: str
    message: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check`.

    ``ok`` is True when no rule is broken. ``faces`` are the identifiable faces found, in
    source pixels after EXIF orientation (whether or not the target refuses faces).
    ``upscale`` is how much framing this image to the target would enlarge it (1.0 when it
    already has the target's size). ``warnings`` are worth knowing but break no rule.
    """

    ok: bool
    target: Target
    violations: tuple[Violation, ...]
    faces: tuple[Face, ...]
    upscale: float
    source: SourceInfo
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready data, the verdict first: ``ok``, ``violations``, ``faces``, then the facts
        (``smartframe check --json`` and ``/v1/check`` print it in this order)."""
        return {
            "ok": self.ok,
            "violations": [v.to_dict() for v in self.violations],
            "faces": [f.to_dict() for f in self.faces],
            "target": self.target.name,
            "upscale": round(self.upscale, 4),
            "size": list(self.source.stored_size),
            "format": self.source.format,
            "bytes": self.source.file_bytes,
            "mode": self.source.mode,
            "warnings": list(self.warnings),
        }


def check(
    source: Source,
    target: object,
    *,
    faces: bool = True,
    min_face_px: float = DEFAULT_MIN_SIZE_PX,
    min_face_score: float = DEFAULT_MIN_SCORE,
    limits: Limits = Limits(),
) -> CheckReport:
    """Check ``source`` against ``target`` (a size, a preset name or ``"preset:WxH"``).

    The pixel data is always decoded (as small as the format allows), so a truncated or
    corrupt file raises :class:`CorruptImageError` instead of passing on its header alone.
    With ``faces=False`` no face detection runs (the ``faces`` rule is skipped). A face is
    identifiable when its longer side is at least ``min_face_px`` pixels *of the target
    size* and its score at least ``min_face_score``. Raises an :class:`InputError` kind
    when the source cannot be read at all; a readable image always gets a report.
    """
    if not isinstance(faces, bool):
        raise OptionError("faces", faces, "True or False")
    violations: list[Violation] = []
    warnings: list[str] = []
    with open_source(source, limits=limits) as opened:
        info = opened.info
        spec = parse_target(target)
        resolved = _resolve(spec, info)
        violations += _header_rules(info, resolved)
        region = Box.from_size(info.size)
        upscale = max(resolved.size.width / info.size.width, resolved.size.height / info.size.height)
        if upscale > 1.0 + 1e-9:
            warnings.append(f"framing this image to {resolved.size} would enlarge it {upscale:.2f}x")
        found: tuple[Face, ...] = ()
        if faces:
            loaded = opened.decode(max_reduction=max_reduction_for(region, resolved.size, Fit.COVER))
            # Faces are judged at the size the consumer will see: the target size.
            output_scale = max(resolved.size.width / info.size.width,
                               resolved.size.height / info.size.height)
            found = identifiable_faces(loaded, min_face_px=min_face_px / output_scale,
                                       min_face_score=min_face_score)
            warnings += [n for n in loaded.notes if n.startswith("WARNING")]
            if found and resolved.refuses_faces:
                violations.append(Violation("faces", f"{len(found)} identifiable face(s) found; "
                                            f"{resolved.preset or resolved.name} refuses images "
                                            "with human faces"))
        else:
            # The header alone would pass a truncated or corrupt file that the consumer then
            # refuses: decode the pixel data (as small as the format allows) to prove it reads.
            warnings += [n for n in opened.verify() if n.startswith("WARNING")]
    return CheckReport(ok=not violations, target=resolved, violations=tuple(violations),
                       faces=found, upscale=upscale,
                       source=info, warnings=tuple(warnings))


def _resolve(spec: Target | Preset, info: SourceInfo) -> Target:
    """The target to check against; for a preset with several sizes, the one the image has
    (or, when it has none of them, the one it would be framed to)."""
    if isinstance(spec, Preset) and info.stored_size in spec.sizes:
        return spec.target(info.stored_size)
    return resolve_target(spec, info.size)


def _header_rules(info: SourceInfo, target: Target) -> list[Violation]:
    found: list[Violation] = []
    size = info.stored_size
    if size != target.size:
        found.append(Violation("dimensions", f"image is {size}, {target.name} needs exactly {target.size}"))
    fmt = _FORMAT_ALIASES.get(info.format or "", info.format)
    if fmt is not None and fmt not in target.formats:
        found.append(Violation("format", f"format is {fmt}; accepted: {', '.join(target.formats)}"))
    if target.max_bytes is not None and info.file_bytes is not None and info.file_bytes > target.max_bytes:
        found.append(Violation("bytes", f"file is {info.file_bytes} bytes; the limit is {target.max_bytes}"))
    # The rule is about the channel, not its values: a consumer that asks for RGB may refuse
    # a four-channel file even when every pixel is opaque, so a fully opaque alpha channel
    # breaks it too (flattening removes it).
    if info.has_alpha:
        found.append(Violation("mode", "has an alpha channel (transparent or not); 8-bit RGB "
                               "without an alpha channel is required"))
    elif info.mode != "RGB":
        found.append(Violation("mode", f"colour mode is {info.mode}; 8-bit RGB without alpha is required"))
    if info.orientation != 1:
        found.append(Violation("orientation", f"EXIF orientation {info.orientation} is still pending: "
                               "the consumer may see the image rotated or mirrored"))
    elif info.orientation_tag not in (None, 1):
        found.append(Violation("orientation", f"EXIF orientation tag has the invalid value "
                               f"{info.orientation_tag} (valid: 1..8): consumers may reject it or "
                               "read it differently"))
    if info.icc_description is not None and not info.icc_is_srgb:
        found.append(Violation("profile", f"embedded ICC profile '{info.icc_description}' is not sRGB"))
    return found
