#!/usr/bin/env python
"""Quality benchmark: how much of what matters does each method's cover window keep?

    python benchmarks/quality.py [--data DIR] [--split all|tune|holdout] [--both-splits]
                                 [--methods smartframe,vips_attention,...] [--per-aspect]
                                 [--limit N] [--json OUT] [--markdown OUT]

For every photo with ground truth (GT) and each aspect ratio (16:9, 9:16, 1:1) the window
is the largest of that aspect that fits the photo; a method only chooses where it goes.
Score = the share of the GT mass inside the window: mask pixels for mask folders, fixation
density for fixation folders, labelled face-box area for face folders. Cases whose window
covers more than 95% of the photo are skipped. Per folder and over all cases the table
gives the mean centre-crop score, the best possible score (window placed knowing the GT),
each method's mean score, the gain ``(method - centre) / (best - centre)`` on those means,
the share of cases where the method keeps at least 5 points less than the centre crop,
and the median milliseconds per call (from the decoded RGB array; for smartframe this
includes face detection).

Folders are recognised by layout, so ``--data`` can point at your own data:
``pairs.csv`` with image,mask columns (mask folder); ``stimuli/`` + ``fixation_maps/``
(fixation folder); ``faces.json`` with ``images/<name>/face_boxes`` (face folder).

Split: a photo is in the *tune* half when int(sha1(lower-case file stem)[:8], 16) is even,
else in the *holdout* half. smartframe's constants were measured on the tune half only.
The stem (not the path) is hashed because the same photo appears in several folders.

Methods: ``smartframe`` (the default, ``strategy="smart"``: the subject network fused with
the classic cues and the faces), ``classic`` (``strategy="classic"``: the classic cues and the
faces, the map before the subject network), libvips' ``smartcrop`` attention and entropy, and
smartcrop.py; every table also gives the centre crop and the best placement.

Every returned window is checked (size within 1 px, inside the photo): a method that
returns a wrong box fails the run instead of scoring. The targets for smartframe (issue 10:
a gain of at least +0.55 on SOD300, SalBenchmark, GrabCut50 and Berkeley100, +0.30 on the
fixation folder, +0.40 on the face folder, +0.25 on COCO, a mean of the folder gains of at
least +0.45, and at most 8% of cases 5+ points worse than centre in every folder) print as
PASS/FAIL with the gap, over all photos and over the holdout half (and the tune half, for
information, with --both-splits); exit code 0 when all pass over all photos and the holdout
half, 1 when one fails.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _images  # noqa: E402 -- the benchmarks' shared helpers, next to this file
ASPECTS = (("16:9", 16, 9), ("9:16", 9, 16), ("1:1", 1, 1))
MAX_COVER = 0.95
WORSE = 0.05
#: Issue 10's bars: the gain each folder must reach (a folder not listed has no gain bar), the
#: mean of the folder gains, and the share of cases 5+ points worse than centre in any folder.
TARGET_GAIN = {
    "sod_berkeley_SOD300": 0.55, "sod_salbenchmark": 0.55, "objmask_grabcut50": 0.55,
    "objmask_berkeley100": 0.55, "fixation_mit1003_subset100": 0.30, "faces_dlib_examples": 0.40,
    "objmask_coco_mval400": 0.25,
}
TARGET_MEAN_GAIN, TARGET_WORSE = 0.45, 0.08
MEAN = "mean of folders"


@dataclass(frozen=True)
class Case:
    folder: str
    kind: str  # "mask" | "fixation" | "faces"
    image: Path
    ground_truth: object  # a mask/map path, or a list of (x, y, w, h) boxes

    @property
    def split(self) -> str:
        return split_of(self.image)


def split_of(path: Path) -> str:
    """'tune' or 'holdout', from the hash of the lower-case file stem."""
    digest = hashlib.sha1(path.stem.lower().encode()).hexdigest()
    return "tune" if int(digest[:8], 16) % 2 == 0 else "holdout"


def discover(data: Path) -> dict[str, list[Case]]:
    """Every ground-truth folder directly under ``data``, by its layout."""
    folders: dict[str, list[Case]] = {}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        cases: list[Case] = []
        if (folder / "pairs.csv").is_file():
            with open(folder / "pairs.csv", newline="") as stream:
                for row in csv.DictReader(stream):
                    if "image" in row and "mask" in row:
                        cases.append(Case(folder.name, "mask", folder / row["image"], folder / row["mask"]))
        elif (folder / "faces.json").is_file():
            meta = json.loads((folder / "faces.json").read_text())
            for name, entry in sorted(meta.get("images", {}).items()):
                boxes = [(b["x"], b["y"], b["w"], b["h"]) for b in entry.get("face_boxes", [])]
                if boxes:
                    cases.append(Case(folder.name, "faces", folder / name, boxes))
        elif (folder / "stimuli").is_dir() and (folder / "fixation_maps").is_dir():
            maps = {p.stem: p for p in (folder / "fixation_maps").iterdir()}
            for image in sorted((folder / "stimuli").iterdir()):
                found = maps.get(image.stem) or maps.get(image.stem + "_fixMap")
                if found:
                    cases.append(Case(folder.name, "fixation", image, found))
        if cases:
            folders[folder.name] = cases
    return folders


def ground_truth_mass(case: Case, width: int, height: int) -> np.ndarray:
    """The GT mass map, float64 H x W, in the photo's pixel frame."""
    if case.kind == "faces":
        mass = np.zeros((height, width))
        for x, y, w, h in case.ground_truth:
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(height, round(y + h))
            mass[y0:y1, x0:x1] += 1.0
        return mass
    with Image.open(case.ground_truth) as image:
        values = np.asarray(image.convert("L"))
    if values.shape != (height, width):
        raise ValueError(f"{case.ground_truth}: GT is {values.shape[::-1]}, photo is {(width, height)}")
    return (values > 127).astype(np.float64) if case.kind == "mask" else values.astype(np.float64)


def window_size(width: int, height: int, aw: int, ah: int) -> tuple[int, int]:
    """The largest whole-pixel window of aspect aw:ah inside the photo (spans one axis)."""
    if width * ah >= height * aw:
        return min(width, max(1, round(height * aw / ah))), height
    return width, min(height, max(1, round(width * ah / aw)))


class Scorer:
    """Window scores from an integral image of the GT mass."""

    def __init__(self, mass: np.ndarray):
        self.height, self.width = mass.shape
        self.total = float(mass.sum())
        self.integral = np.zeros((self.height + 1, self.width + 1))
        self.integral[1:, 1:] = mass.cumsum(0).cumsum(1)

    def score(self, box: tuple[int, int, int, int]) -> float:
        x0, y0, x1, y1 = box
        s = self.integral
        return float(s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]) / self.total

    def best(self, ww: int, wh: int) -> tuple[float, tuple[int, int, int, int]]:
        """Exhaustive over every whole-pixel position: the oracle."""
        s = self.integral
        ys, xs = np.meshgrid(np.arange(self.height - wh + 1), np.arange(self.width - ww + 1), indexing="ij")
        sums = s[ys + wh, xs + ww] - s[ys, xs + ww] - s[ys + wh, xs] + s[ys, xs]
        k = int(np.argmax(sums))
        y0, x0 = int(ys.flat[k]), int(xs.flat[k])
        return float(sums.flat[k]) / self.total, (x0, y0, x0 + ww, y0 + wh)


def checked(box, width: int, height: int, ww: int, wh: int, method: str) -> tuple[int, int, int, int]:
    """The box on whole pixels, after asserting it is the requested window inside the photo."""
    values = [float(v) for v in box]
    if not all(math.isfinite(v) for v in values):
        raise AssertionError(f"{method}: non-finite box {box}")
    x0, y0, x1, y1 = (round(v) for v in values)
    if abs((x1 - x0) - ww) > 1 or abs((y1 - y0) - wh) > 1:
        raise AssertionError(f"{method}: box {box} is not the requested {ww}x{wh} window")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise AssertionError(f"{method}: box {box} lies outside the {width}x{height} photo")
    # Score the requested window at the method's position (its size may differ by rounding).
    x0, y0 = min(x0, width - ww), min(y0, height - wh)
    return x0, y0, x0 + ww, y0 + wh


# --- methods: (rgb, ww, wh) -> (x0, y0, x1, y1) in source pixels -------------------------------

def centre(rgb: np.ndarray, ww: int, wh: int):
    height, width = rgb.shape[:2]
    x0, y0 = (width - ww) // 2, (height - wh) // 2
    return x0, y0, x0 + ww, y0 + wh


def smartframe_method(rgb: np.ndarray, ww: int, wh: int):
    """smartframe's default: the smart strategy with face detection, planned at the window size
    (scale 1, so the crop box is the window itself)."""
    import smartframe

    return smartframe.make_plan(rgb, (ww, wh)).crop_box


def classic_method(rgb: np.ndarray, ww: int, wh: int):
    """smartframe with ``strategy="classic"``: the classic cues and the faces, no network."""
    import smartframe

    return smartframe.make_plan(rgb, (ww, wh), strategy="classic").crop_box


def _vips(interesting: str) -> Callable:
    def method(rgb: np.ndarray, ww: int, wh: int):
        import pyvips

        height, width = rgb.shape[:2]
        image = pyvips.Image.new_from_memory(np.ascontiguousarray(rgb).data, width, height, 3, "uchar")
        out = image.smartcrop(ww, wh, interesting=interesting)
        # libvips reports the crop's left/top as minus the output's x/y offset.
        x0, y0 = -out.xoffset, -out.yoffset
        return x0, y0, x0 + out.width, y0 + out.height

    return method


def smartcrop_py(rgb: np.ndarray, ww: int, wh: int):
    import smartcrop

    # At the full window size there is no prescale: the result is in source pixels.
    crop = smartcrop.SmartCrop().crop(Image.fromarray(rgb), ww, wh)["top_crop"]
    return crop["x"], crop["y"], crop["x"] + crop["width"], crop["y"] + crop["height"]


METHODS: dict[str, Callable] = {
    "smartframe": smartframe_method,
    "classic": classic_method,
    "vips_attention": _vips("attention"),
    "vips_entropy": _vips("entropy"),
    "smartcrop_py": smartcrop_py,
}


def run(data: Path, methods: list[str], *, split: str, folders: list[str], limit: int,
        progress: bool) -> list[dict]:
    rows: list[dict] = []
    found = discover(data)
    if folders:
        found = {k: v for k, v in found.items() if k in folders}
    if not found:
        raise SystemExit(f"no ground-truth folders found under {data}")
    for folder, cases in found.items():
        cases = [c for c in cases if split == "all" or c.split == split][: limit or None]
        for index, case in enumerate(cases):
            with Image.open(case.image) as image:
                rgb = np.asarray(image.convert("RGB"))
            height, width = rgb.shape[:2]
            scorer = Scorer(ground_truth_mass(case, width, height))
            if scorer.total <= 0:
                continue
            for aspect, aw, ah in ASPECTS:
                ww, wh = window_size(width, height, aw, ah)
                if ww * wh > MAX_COVER * width * height:
                    continue
                best, best_box = scorer.best(ww, wh)
                row = {"folder": folder, "image": str(case.image.relative_to(data)), "split": case.split,
                       "aspect": aspect, "window": [ww, wh], "best": best,
                       "centre": scorer.score(checked(centre(rgb, ww, wh), width, height, ww, wh, "centre")),
                       "scores": {}, "ms": {}}
                checked(best_box, width, height, ww, wh, "best")
                for name in methods:
                    start = time.perf_counter()
                    box = METHODS[name](rgb, ww, wh)
                    row["ms"][name] = (time.perf_counter() - start) * 1000.0
                    row["scores"][name] = scorer.score(checked(box, width, height, ww, wh, name))
                rows.append(row)
            if progress and (index + 1) % 50 == 0:
                print(f"  {folder}: {index + 1}/{len(cases)}", file=sys.stderr)
    return rows


# --- faces the window slices, and headroom above a face ----------------------------------------

#: A labelled face of at least this many pixels (longer side) counts.
CUT_MIN_FACE_PX = 40
#: A face is sliced when the window keeps more than 0 and less than this share of its box.
CUT_KEEP = 0.90
#: Issue 19's bar: at most this share of (photo, aspect) cases slice a face that could be spared.
TARGET_SLICED = 0.02
#: Folders measured: the face folders, and WIDER FACE's development boxes (``faces.json`` with
#: ``images/<name>/faces/[{bbox_xywh}]``).
CUT_FOLDERS = ("faces_dlib_examples", "faces_wider_dev")


def face_folder_cases(data: Path) -> list[Case]:
    """Every photo of :data:`CUT_FOLDERS` with its labelled boxes (x, y, w, h), both layouts."""
    cases = []
    for folder in CUT_FOLDERS:
        meta_path = data / folder / "faces.json"
        if not meta_path.is_file():
            continue
        for name, entry in sorted(json.loads(meta_path.read_text()).get("images", {}).items()):
            boxes = [(b["x"], b["y"], b["w"], b["h"]) for b in entry.get("face_boxes", [])]
            boxes += [tuple(f["bbox_xywh"]) for f in entry.get("faces", [])]
            if boxes:
                cases.append(Case(folder, "faces", data / folder / name, boxes))
    return cases


def kept_shares(boxes: np.ndarray, starts: np.ndarray, length: int, axis: int) -> np.ndarray:
    """The share of each box (x, y, w, h rows) inside a window starting at each of ``starts``
    along ``axis`` (0: x, 1: y) with ``length`` px, the window spanning the other axis whole:
    array starts x boxes."""
    lo, size = boxes[:, axis], np.maximum(boxes[:, axis + 2], 1e-9)
    overlap = np.clip(np.minimum(starts[:, None] + length, lo + size) - np.maximum(starts[:, None], lo), 0, None)
    return overlap / size


def face_cut_row(case: Case, rgb: np.ndarray, aspect: tuple[str, int, int], method: str) -> dict | None:
    """One (photo, aspect) case of the sliced-faces measure: whether ``method`` slices a labelled
    face of CUT_MIN_FACE_PX or more, whether some placement slices none, and the headroom above
    the largest such face when the window moves vertically and keeps it whole."""
    height, width = rgb.shape[:2]
    name, aw, ah = aspect
    ww, wh = window_size(width, height, aw, ah)
    if ww * wh > MAX_COVER * width * height:
        return None
    boxes = np.array([b for b in case.ground_truth if max(b[2], b[3]) >= CUT_MIN_FACE_PX], np.float64)
    if not len(boxes):
        return None
    box = checked(METHODS[method](rgb, ww, wh), width, height, ww, wh, method)
    axis, length, n = (0, ww, width) if ww < width else (1, wh, height)
    sliced = lambda kept: (kept > 1e-9) & (kept < CUT_KEEP)  # noqa: E731
    every = kept_shares(boxes, np.arange(n - length + 1, dtype=np.float64), length, axis)
    chosen = kept_shares(boxes, np.array([float(box[axis])]), length, axis)[0]
    row = {"folder": case.folder, "image": case.image.name, "split": case.split, "aspect": name,
           "sliced": bool(sliced(chosen).any()), "avoidable": bool((~sliced(every).any(axis=1)).any()),
           "headroom": None}
    largest = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
    x, y, w, h = boxes[largest]
    if axis == 1 and chosen[largest] >= 1 - 1e-9 and y >= 0.5 * h and wh >= 2.5 * h:
        row["headroom"] = float((y - box[1]) / h)  # face heights between the window top and the face
    return row


def face_cut_table(data: Path, method: str, split: str) -> tuple[str, float]:
    """The sliced-faces table (markdown) over :data:`CUT_FOLDERS` and the worst share."""
    rows = []
    for case in face_folder_cases(data):
        if split != "all" and case.split != split:
            continue
        with Image.open(case.image) as image:
            rgb = np.asarray(image.convert("RGB"))
        rows += [r for r in (face_cut_row(case, rgb, aspect, method) for aspect in ASPECTS) if r]
    lines = [f"### Faces sliced by the window ({method}, split={split})", "",
             f"A labelled face of {CUT_MIN_FACE_PX} px or more is *sliced* when the window keeps more than 0% and "
             f"less than {CUT_KEEP:.0%} of its box; *avoidable*: some placement of the same window slices none. "
             "Headroom: the window's space above the largest face, in face heights, where the window moves "
             "vertically, keeps the face whole and there is half a face of room above it.", "",
             "| folder | cases | sliced | sliced where avoidable | headroom cases | median headroom | "
             "headroom < 0.25 |", "|---|---:|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for folder in sorted({r["folder"] for r in rows}):
        group = [r for r in rows if r["folder"] == folder]
        avoidable = float(np.mean([r["sliced"] and r["avoidable"] for r in group]))
        worst = max(worst, avoidable)
        heads = [r["headroom"] for r in group if r["headroom"] is not None]
        lines.append(f"| {folder} | {len(group)} | {_pct(np.mean([r['sliced'] for r in group]))}% | "
                     f"{_pct(avoidable)}% | {len(heads)} | "
                     + (f"{statistics.median(heads):.2f} | {_pct(np.mean(np.array(heads) < 0.25))}% |"
                        if heads else "- | - |"))
    verdict_line = (f"{'PASS' if worst <= TARGET_SLICED + 1e-12 else 'FAIL'} sliced faces where avoidable: "
                    f"worst folder {_pct(worst)}% (bar {100 * TARGET_SLICED:.0f}%)")
    return "\n".join(lines) + "\n\n" + verdict_line + "\n", worst


def summarise(rows: list[dict], methods: list[str]) -> dict:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["folder"], []).append(row)
    groups["ALL"] = rows
    summary = {}
    for name, group in groups.items():
        if not group:
            continue
        centre_mean = float(np.mean([r["centre"] for r in group]))
        best_mean = float(np.mean([r["best"] for r in group]))
        entry = {"cases": len(group), "centre": centre_mean, "best": best_mean, "methods": {}}
        for method in methods:
            scores = np.array([r["scores"][method] for r in group])
            centres = np.array([r["centre"] for r in group])
            mean = float(scores.mean())
            entry["methods"][method] = {
                "score": mean,
                "gain": (mean - centre_mean) / (best_mean - centre_mean) if best_mean - centre_mean > 1e-12 else float("nan"),
                "worse": float(np.mean(scores - centres <= -WORSE + 1e-12)),
                "ms": float(statistics.median(r["ms"][method] for r in group)),
            }
        summary[name] = entry
    folders = [name for name in summary if name != "ALL"]
    if folders:  # the mean of the folder gains (each folder counts once, whatever its size)
        summary[MEAN] = {"cases": sum(summary[f]["cases"] for f in folders), "centre": float("nan"),
                         "best": float("nan"), "methods": {
                             method: {"score": float("nan"),
                                      "gain": float(np.mean([summary[f]["methods"][method]["gain"] for f in folders])),
                                      "worse": max(summary[f]["methods"][method]["worse"] for f in folders),
                                      "ms": float("nan")} for method in methods}}
    return summary


def table(summary: dict, methods: list[str], title: str) -> str:
    lines = [f"### {title}", "",
             "score / gain / share of cases 5+ points worse than centre / median ms per image "
             "(gains rounded down, shares up)", "",
             "| folder | cases | centre | best | " + " | ".join(methods) + " |",
             "|---|---:|---:|---:|" + "---|" * len(methods)]
    for name, entry in summary.items():
        if name == MEAN:
            cells = [f"{_signed_down(m['gain'], 2)} / worst folder {_pct(m['worse'], 0)}%"
                     for m in (entry["methods"][method] for method in methods)]
            lines.append(f"| **{name}** | | | | " + " | ".join(cells) + " |")
            continue
        cells = [f"{m['score']:.3f} / {_signed_down(m['gain'], 2)} / {_pct(m['worse'], 0)}% / {m['ms']:.1f}"
                 for m in (entry["methods"][method] for method in methods)]
        label = f"**{name}**" if name == "ALL" else name
        lines.append(f"| {label} | {entry['cases']} | {entry['centre']:.3f} | {entry['best']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def verdict(summary: dict, method: str) -> list[str]:
    """Issue 10's targets for ``method``: PASS/FAIL lines with the measured figure and the gap.

    Each folder: its gain bar (when it has one) and at most 8% of cases 5+ points worse; then
    the mean of the folder gains. Figures are truncated, never rounded up, so a PASS is never
    shown for a figure that missed its bar.
    """
    lines = []
    for name, entry in summary.items():
        if name in ("ALL", MEAN):
            continue
        m = entry["methods"][method]
        bar = TARGET_GAIN.get(name)
        gain_ok = bar is None or m["gain"] >= bar
        worse_ok = m["worse"] <= TARGET_WORSE + 1e-12
        gap = [] if gain_ok else [f"gain short by {_gap(bar - m['gain'])}"]
        gap += [] if worse_ok else [f"{_pct(m['worse'] - TARGET_WORSE)} points too many worse"]
        bar_text = "no gain bar" if bar is None else f"bar {bar:+.2f}"
        lines.append(f"{'PASS' if gain_ok and worse_ok else 'FAIL'} {name}: gain {_signed_down(m['gain'])} "
                     f"({bar_text}), worse {_pct(m['worse'])}% (bar {100 * TARGET_WORSE:.0f}%)"
                     + (f" -- {', '.join(gap)}" if gap else ""))
    if MEAN in summary:
        mean = summary[MEAN]["methods"][method]["gain"]
        ok = mean >= TARGET_MEAN_GAIN
        lines.append(f"{'PASS' if ok else 'FAIL'} {MEAN}: gain {_signed_down(mean)} (bar {TARGET_MEAN_GAIN:+.2f})"
                     + ("" if ok else f" -- short by {_gap(TARGET_MEAN_GAIN - mean)}"))
    return lines


def _gap(value: float, digits: int = 3) -> str:
    """A shortfall rounded up to ``digits`` decimals: a gap is never shown smaller than it is."""
    factor = 10 ** digits
    return f"{math.ceil(value * factor - 1e-9) / factor:.{digits}f}"


def _signed_down(value: float, digits: int = 3) -> str:
    """A gain rounded towards minus infinity: a gain is never shown larger than it is."""
    factor = 10 ** digits
    return f"{math.floor(value * factor + 1e-9) / factor:+.{digits}f}"


def _pct(share: float, digits: int = 1) -> str:
    """A share of cases as a percentage rounded up: a worse share is never shown smaller."""
    factor = 10 ** digits
    return f"{math.ceil(share * 100 * factor - 1e-9) / factor:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=_images.default_data())
    parser.add_argument("--split", choices=["all", "tune", "holdout"], default="all")
    parser.add_argument("--both-splits", action="store_true", help="also print the tune and holdout tables")
    parser.add_argument("--methods", default="smartframe,classic,vips_attention,vips_entropy,smartcrop_py")
    parser.add_argument("--folders", default="", help="comma-separated folder names (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="at most N photos per folder")
    parser.add_argument("--per-aspect", action="store_true")
    parser.add_argument("--json", type=Path, help="write every case and the summaries here")
    parser.add_argument("--markdown", type=Path, help="write the tables here too")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--face-cuts", action="store_true",
                        help="also measure faces sliced by smartframe's window on " + ", ".join(CUT_FOLDERS))
    parser.add_argument("--face-cuts-only", action="store_true", help="only the sliced-faces measure")
    parser.add_argument("--results-section", default="quality",
                        help="the section of benchmarks/RESULTS.md the tables go to (not written when "
                             "--limit or --folders restrict the run, or with --no-results)")
    parser.add_argument("--no-results", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data DIR is required (../shared/data was not found)")
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    output, summaries, failed, rows = [], {}, False, []
    if not args.face_cuts_only:
        rows = run(args.data, methods, split=args.split, folders=[f for f in args.folders.split(",") if f],
                   limit=args.limit, progress=args.progress)
        views = [(f"split={args.split}", rows)]
        if args.both_splits and args.split == "all":
            views += [(f"split={s}", [r for r in rows if r["split"] == s]) for s in ("tune", "holdout")]
        for title, subset in views:
            summary = summarise(subset, methods)
            summaries[title] = summary
            output.append(table(summary, methods, f"{title}, 16:9 + 9:16 + 1:1 pooled"))
            if args.per_aspect:
                for aspect, _, _ in ASPECTS:
                    part = [r for r in subset if r["aspect"] == aspect]
                    output.append(table(summarise(part, methods), methods, f"{title}, {aspect} only"))
            if "smartframe" in methods:
                verdicts = verdict(summary, "smartframe")
                judged = title != "split=tune"  # the bars are judged over all photos and the holdout half
                failed = failed or (judged and any(line.startswith("FAIL") for line in verdicts))
                note = "" if judged else " -- for information: the bars are judged on all photos and the holdout half"
                output.append(f"Targets for smartframe ({title}){note}:\n" + "\n".join(verdicts) + "\n")
    if args.face_cuts or args.face_cuts_only:
        splits = [args.split] + (["holdout"] if args.both_splits and args.split == "all" else [])
        for split in splits:
            text, worst = face_cut_table(args.data, "smartframe", split)
            output.append(text)
            failed = failed or worst > TARGET_SLICED + 1e-12
    text = "\n".join(output)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summaries": summaries}))
    if not (args.no_results or args.limit or args.folders):  # a partial run does not replace the tables
        import os

        from _results import write_section  # the tables (not the verdicts) go to benchmarks/RESULTS.md

        load, cpus = os.getloadavg(), os.cpu_count() or 1
        busy = (f"Load average at the end {load[0]:.2f} (1 min), {load[2]:.2f} (15 min), {cpus} CPUs."
                + (" The machine was shared with other work: the ms are inflated and noisy (the scores"
                   " and gains do not depend on it)." if max(load) > cpus else ""))
        write_section(args.results_section,
                      "\n".join([busy, ""] + [part for part in output if not part.startswith("Targets for")]),
                      argv=[sys.argv[0], *(sys.argv[1:] if argv is None else argv)],
                      title="Framing quality (quality.py)" if args.results_section == "quality"
                      else f"Framing quality (quality.py), {args.results_section}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
