"""Targets (one output size plus the consumer's rules) and presets (a provider model's sizes).

Presets are data, in ``smartframe/data/presets.json``; this module only reads and
validates them. A *target spec* is what a user types:

* ``"1280x720"`` or ``(1280, 720)``: a plain size in pixels, with no provider rules;
* ``"sora-2"``: a preset; when it has several sizes, the one that suits the source is
  chosen by :func:`choose_preset_size` (``auto`` resolution);
* ``"sora-2:720x1280"``: one size of a preset, checked against the preset's list;
* ``"sora-2-pro:16:9"``: the preset's sizes of that aspect ratio (auto resolution among them).
  A ratio alone (``"16:9"``) is refused: it says nothing about the pixels.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

from .errors import OptionError
from .geometry import Size, parse_ratio, parse_size, refuse_non_ascii_digits

__all__ = [
    "OUTPUT_FORMATS",
    "Target",
    "Preset",
    "presets",
    "get_preset",
    "parse_target",
    "parse_targets",
    "split_sizes",
    "refuse_kept_alpha",
    "choose_preset_size",
    "resolve_target",
]

#: Formats smartframe writes, in its order of preference for a target that accepts several.
OUTPUT_FORMATS = ("jpeg", "png", "webp")


@dataclass(frozen=True)
class Target:
    """One exact output size and the rules the consumer applies to the image it receives.

    ``formats`` are the accepted encodings (the first is the default for writing);
    ``max_bytes`` is the largest accepted file (None: no limit); ``refuses_faces`` says the
    consumer rejects images that show identifiable human faces.
    """

    size: Size
    name: str
    preset: str | None = None
    formats: tuple[str, ...] = OUTPUT_FORMATS
    max_bytes: int | None = None
    refuses_faces: bool = False


@dataclass(frozen=True)
class Preset:
    """A provider model's accepted sizes and rules, as recorded in ``presets.json``."""

    name: str
    provider: str
    sizes: tuple[Size, ...]
    formats: tuple[str, ...]
    max_bytes: int | None
    refuses_faces: bool
    model: str = ""
    notes: str = ""
    deprecated: str | None = None
    #: Fields whose value is our conservative choice where the provider documents nothing.
    defaults: tuple[str, ...] = field(default=())
    sources: tuple[str, ...] = field(default=())
    #: ``"16:9"`` when the sizes were narrowed to one aspect ratio by a spec like ``sora-2-pro:16:9``.
    ratio: str | None = None

    def to_dict(self) -> dict:
        """The preset as JSON-ready data (``smartframe presets --json`` and ``/v1/presets``)."""
        return {"name": self.name, "provider": self.provider, "sizes": [str(s) for s in self.sizes],
                "formats": list(self.formats), "max_bytes": self.max_bytes,
                "refuses_faces": self.refuses_faces, "model": self.model, "defaults": list(self.defaults),
                "deprecated": self.deprecated, "notes": self.notes, "sources": list(self.sources)}

    @property
    def label(self) -> str:
        """The spec that names this choice of sizes: ``sora-2-pro`` or ``sora-2-pro:16:9``."""
        return self.name if self.ratio is None else f"{self.name}:{self.ratio}"

    def with_ratio(self, ratio: tuple[int, int], spec: str) -> Target | Preset:
        """The sizes of this preset whose aspect ratio is exactly ``ratio`` (w, h): one Target,
        or a Preset narrowed to them. OptionError lists the ratios it has when none matches."""
        w, h = ratio
        if w < 1 or h < 1:
            raise OptionError("size", spec, "a ratio of two positive whole numbers, like 16:9")
        sizes = tuple(s for s in self.sizes if s.width * h == s.height * w)
        if not sizes:
            have = ", ".join(dict.fromkeys(_ratio_text(s) for s in self.sizes))
            raise OptionError("size", spec, f"a ratio {self.name} has: {have} (or one of its sizes)")
        if len(sizes) == 1:
            return self.target(sizes[0])
        return replace(self, sizes=sizes, ratio=f"{w // math.gcd(w, h)}:{h // math.gcd(w, h)}")

    def target(self, size: Size) -> Target:
        """This preset's rules applied to one of its sizes."""
        if size not in self.sizes:
            allowed = ", ".join(str(s) for s in self.sizes)
            raise OptionError("size", f"{self.name}:{size}", f"{self.name} accepts {allowed}")
        return Target(
            size=size,
            name=f"{self.name}:{size}",
            preset=self.name,
            formats=self.formats,
            max_bytes=self.max_bytes,
            refuses_faces=self.refuses_faces,
        )


def _preset_from_record(record: dict) -> Preset:
    name = record["name"]
    formats = tuple(record["formats"])
    unknown = [f for f in formats if f not in OUTPUT_FORMATS]
    if unknown or not formats:
        raise ValueError(f"presets.json: {name}: formats {formats} must be among {OUTPUT_FORMATS}")
    sizes = tuple(parse_size(s, field=f"presets.json {name} size") for s in record["sizes"])
    return Preset(
        name=name,
        provider=record["provider"],
        sizes=sizes,
        formats=formats,
        max_bytes=record.get("max_bytes"),
        refuses_faces=bool(record.get("refuses_faces", False)),
        model=record.get("model", ""),
        notes=record.get("notes", ""),
        deprecated=record.get("deprecated"),
        defaults=tuple(record.get("defaults", ())),
        sources=tuple(record.get("sources", ())),
    )


@lru_cache(maxsize=1)
def presets() -> dict[str, Preset]:
    """Every preset by name, read once from the packaged ``presets.json``."""
    text = resources.files("smartframe").joinpath("data/presets.json").read_text("utf-8")
    records = json.loads(text)["presets"]
    table = {r["name"]: _preset_from_record(r) for r in records}
    if len(table) != len(records):
        raise ValueError("presets.json: preset names must be unique")
    return table


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`OptionError` lists the names when it is unknown."""
    table = presets()
    try:
        return table[name.strip().lower()]
    except KeyError:
        raise OptionError("size", name, "a size like 1280x720 or a preset: " + ", ".join(table)) from None


def _ratio_text(size: Size) -> str:
    divisor = math.gcd(size.width, size.height)
    return f"{size.width // divisor}:{size.height // divisor}"


def refuse_kept_alpha(target: Target | Preset) -> None:
    """OptionError for ``alpha="keep"`` when ``target`` is a preset's: a provider's images must
    be 8-bit RGB without an alpha channel (``check``'s ``mode`` rule), so an output that kept
    its transparency would be refused by the check and by the consumer. A plain size (no
    provider's rules) may keep it; the pipeline then warns that ``check`` fails the output."""
    name = target.name if isinstance(target, Preset) else target.preset
    if name is not None:
        raise OptionError("alpha", "keep", f"'flatten' for {name}", message=(
            f"alpha='keep' is not allowed for {name}: its images must be 8-bit RGB without an alpha "
            "channel (the mode rule of check); leave alpha at 'flatten', which flattens "
            "transparency onto alpha_background"))


def split_sizes(text: str, *, field: str = "size") -> list[str]:
    """The comma-separated size specs of one option value (``"sora-2,1280x720"``), each checked
    with :func:`parse_target` and none twice (:func:`parse_targets`). The one reading of a
    ``--size`` or ``size=`` value, for the CLI and the HTTP API alike."""
    sizes = [part.strip() for part in str(text).split(",") if part.strip()]
    if not sizes:
        raise OptionError(field, text, "at least one size like 1280x720 or a preset (several "
                          "separated by commas)")
    parse_targets(sizes, field=field, given=text)
    return sizes


def parse_targets(specs: object, *, field: str = "sizes", given: object = None) -> list[Target | Preset]:
    """:func:`parse_target` of each spec in the list ``specs``, refusing a spec given twice
    (``"1280x720"`` twice, or ``sora-2`` and ``sora-2``): two outputs of one call must differ.
    OptionError names ``field`` and ``given`` (default: ``specs``)."""
    given = specs if given is None else given
    if isinstance(specs, (str, bytes)) or not hasattr(specs, "__iter__"):
        raise OptionError(field, specs, "a list of sizes, e.g. ['1280x720']")
    parsed: list[Target | Preset] = []
    seen: dict[str, object] = {}
    for spec in specs:
        target = parse_target(spec)
        key = target.label if isinstance(target, Preset) else target.name
        if key in seen:
            raise OptionError(field, given, f"each size once; {seen[key]!r} and {spec!r} are the same")
        seen[key] = spec
        parsed.append(target)
    return parsed


def parse_target(spec: object) -> Target | Preset:
    """Read a target spec (see the module docstring).

    Returns a :class:`Target` when the spec fixes one size, or the :class:`Preset` when the
    size is left to :func:`choose_preset_size` (a preset with several sizes). Errors name
    the whole spec as given.
    """
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, Preset):
        return spec if len(spec.sizes) > 1 else spec.target(spec.sizes[0])
    if isinstance(spec, str):
        refuse_non_ascii_digits(spec, "size")
    if isinstance(spec, str) and spec.strip() and spec.strip()[0] not in "0123456789":
        name, _, size_text = spec.strip().partition(":")
        if not name.strip():
            raise OptionError("size", spec, 'a size like "1280x720", a preset name, or "preset:WxH"; '
                              "nothing may come before the name")
        try:
            preset = get_preset(name)
        except OptionError as error:
            raise OptionError("size", spec, error.allowed) from None
        if size_text:
            ratio = parse_ratio(size_text)
            if ratio is not None:
                return preset.with_ratio(ratio, spec)
            return preset.target(parse_size(size_text))
        return preset if len(preset.sizes) > 1 else preset.target(preset.sizes[0])
    size = parse_size(spec)
    return Target(size=size, name=str(size))


def choose_preset_size(preset: Preset, region: tuple[float, float]) -> Size:
    """Pick the preset size that suits a source region of ``(width, height)`` pixels.

    Each size costs what framing the region to it loses, aspect and enlargement together:

        cost = |log(size aspect / region aspect)| + log(max(1, enlargement))

    The first term is how far the aspect ratios are apart (in log ratio, so 2:1 and 1:2 are
    equally far from 1:1; a cover crop cuts about that share of the region); the second is
    how much a cover fit must enlarge the region, 0 when the region is large enough. The
    cheapest size wins; among equal costs, the largest. So 800x600 goes to 1280x720 (enlarged
    1.6x) rather than 1792x1024 (2.24x) although 1792x1024 is 1.6% closer in aspect.
    """
    region_aspect = region[0] / region[1]

    def enlargement(size: Size) -> float:
        return max(size.width / region[0], size.height / region[1])

    def cost(size: Size) -> float:
        return abs(math.log(size.aspect / region_aspect)) + math.log(max(1.0, enlargement(size)))

    # Rounded so that float noise cannot outrank the size tie-break.
    return min(preset.sizes, key=lambda s: (round(cost(s), 9), -s.area))


def resolve_target(spec: Target | Preset, region: tuple[float, float]) -> Target:
    """The target to frame a source region of ``(width, height)`` to: the spec itself, or the
    preset size :func:`choose_preset_size` picks for the region."""
    if isinstance(spec, Preset):
        return spec.target(choose_preset_size(spec, region))
    return spec
