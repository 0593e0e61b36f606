#!/usr/bin/env python
"""How the fixation map's weight and the soft face rules were chosen: the tune half only.

    python benchmarks/tune_fixation.py [--data ../shared/data] --val DIR [--cache FILE]

Analyses once (``smartframe``'s own ``prepare``, so the maps, the faces and the plans are the
ones users get) every photo of the **tune** half of the ground-truth folders of ``--data``, the
tune half of ``faces_wider_dev`` (for the sliced-faces share) and every photo of ``--val``: the
fixation student's own validation photos in ``quality.py``'s fixation layout (written by
``training/train_fixation_student.py prepare --val-folder DIR``; never trained on). Then, for
each candidate setting, re-fuses the cached maps and re-plans every (photo, aspect) case, and
prints the gain of each folder as ``quality.py`` computes it, the mean of the ground-truth
folders' gains (``MEAN``, without the validation folder), that mean with the validation folder
as an eighth (``ALL8``), and the share of WIDER cases that slice a labelled face of 40 px or
more where a placement slicing none exists (``cuts``). No holdout photo is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _images  # noqa: E402
import quality  # noqa: E402

from smartframe import plan as plan_module  # noqa: E402
from smartframe import search  # noqa: E402
from smartframe.analysis.fusion import FusionParams, face_grid_boxes, fused_importance  # noqa: E402
from smartframe.pipeline import make_options, parse_target, prepare, resolve_target  # noqa: E402
from smartframe.plan import plan_frame  # noqa: E402

#: (fusion, search) settings compared: the shipped one first, then the alternatives tried.
SETTINGS = [
    ("shipped", FusionParams(), search.SearchParams()),
    ("no fixation map", FusionParams(fixation_weight=0.0), search.SearchParams()),
    ("no fixation map, no soft face rules", FusionParams(fixation_weight=0.0),
     search.SearchParams(face_margin=0.0, headroom=0.0, spare_cost=0.0, headroom_cost=0.0)),
    *[(f"fixation {wf} subject {ws} gamma {gf}", FusionParams(subject_weight=ws, fixation_weight=wf,
                                                              fixation_gamma=gf), search.SearchParams())
      for wf, ws, gf in [(0.15, 0.5, 1.0), (0.2, 0.25, 1.0), (0.2, 0.5, 0.5), (0.35, 0.4, 1.0), (0.5, 0.25, 1.0)]],
    *[(f"margin {m} headroom {hr} spare {sc} headroom cost {hc}", FusionParams(),
       search.SearchParams(face_margin=m, headroom=hr, spare_cost=sc, headroom_cost=hc))
      for m, hr, sc, hc in [(0.0, 0.0, 0.05, 0.0), (0.1, 0.0, 0.05, 0.0), (0.1, 0.5, 0.05, 0.01),
                            (0.1, 0.5, 0.05, 0.03), (0.15, 0.5, 0.05, 0.02)]],
]


def tune_cases(data: Path, val: Path) -> list[quality.Case]:
    cases = [c for found in quality.discover(data).values() for c in found if c.split == "tune"]
    cases += [c for found in quality.discover(val).values() for c in found]
    cases += [c for c in quality.face_folder_cases(data) if c.folder == "faces_wider_dev" and c.split == "tune"]
    return cases


def analyse_all(cases: list[quality.Case]) -> list[dict]:
    """Each photo's analysis and plan inputs, with its per-window centre and best scores."""
    opts = make_options(None, {})
    items = []
    for case in cases:
        with Image.open(case.image) as image:
            rgb = np.asarray(image.convert("RGB"))
        height, width = rgb.shape[:2]
        windows = [(name, *quality.window_size(width, height, aw, ah)) for name, aw, ah in quality.ASPECTS]
        windows = [w for w in windows if w[1] * w[2] <= quality.MAX_COVER * width * height]
        if not windows:
            continue
        sizes = [f"{ww}x{wh}" for _, ww, wh in windows]
        loaded, analysis, _ = prepare(rgb, sizes, opts)
        item = {"case": case, "shape": (height, width), "windows": windows, "analysis": analysis,
                "size": loaded.size, "working_scale": loaded.working_scale, "notes": loaded.notes,
                "targets": [resolve_target(parse_target(s), (width, height)) for s in sizes]}
        if case.folder != "faces_wider_dev":
            scorer = quality.Scorer(quality.ground_truth_mass(case, width, height))
            item["scorer"] = scorer
            item["centre"] = [scorer.score(quality.centre(rgb, ww, wh)) for _, ww, wh in windows]
            item["best"] = [scorer.best(ww, wh)[0] for _, ww, wh in windows]
        items.append(item)
    return items


def evaluate(items: list[dict], fusion: FusionParams, params: search.SearchParams) -> dict[str, float]:
    opts = make_options(None, {})
    original = plan_module.place_smart

    def place(*args, **kwargs):
        return search.place_smart(*args, params=params, **kwargs)

    plan_module.place_smart = place  # the plan's one call to the search, with these constants
    try:
        scores: dict[str, list[tuple[float, float, float]]] = {}
        cuts = []
        for item in items:
            analysis, case = item["analysis"], item["case"]
            boxes = face_grid_boxes(analysis.framing_faces, analysis.grid_scale, analysis.grid_origin,
                                    analysis.classic.shape)
            fused = fused_importance(analysis.classic, analysis.subject, boxes, fixation=analysis.fixation,
                                     params=fusion)
            refused = dataclasses.replace(analysis, importance=fused.importance)
            height, width = item["shape"]
            for k, ((name, ww, wh), target) in enumerate(zip(item["windows"], item["targets"])):
                plan = plan_frame(target, item["size"], opts, refused, working_scale=item["working_scale"],
                                  notes=item["notes"])
                box = quality.checked(plan.crop_box, width, height, ww, wh, "smartframe")
                if case.folder == "faces_wider_dev":
                    cuts.append(_sliced_avoidably(case, box, width, height, ww, wh))
                    continue
                scores.setdefault(case.folder, []).append((item["scorer"].score(box), item["centre"][k],
                                                           item["best"][k]))
    finally:
        plan_module.place_smart = original
    gains = {}
    for folder, rows in scores.items():
        r = np.array(rows)
        gains[folder] = float((r[:, 0].mean() - r[:, 1].mean()) / (r[:, 2].mean() - r[:, 1].mean()))
    truth = [g for f, g in gains.items() if f != "fixation_val"]
    gains["MEAN"] = float(np.mean(truth))
    gains["ALL8"] = float(np.mean(truth + [gains.get("fixation_val", 0.0)]))
    gains["cuts"] = float(np.mean(cuts)) if cuts else float("nan")
    return gains


def _sliced_avoidably(case, box, width, height, ww, wh) -> bool:
    boxes = np.array([b for b in case.ground_truth if max(b[2], b[3]) >= quality.CUT_MIN_FACE_PX], np.float64)
    if not len(boxes):
        return False
    axis, length, n = (0, ww, width) if ww < width else (1, wh, height)
    every = quality.kept_shares(boxes, np.arange(n - length + 1, dtype=np.float64), length, axis)
    chosen = quality.kept_shares(boxes, np.array([float(box[axis])]), length, axis)[0]
    sliced = (chosen > 1e-9) & (chosen < quality.CUT_KEEP)
    return bool(sliced.any()) and bool((~((every > 1e-9) & (every < quality.CUT_KEEP)).any(axis=1)).any())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=_images.default_data())
    parser.add_argument("--val", type=Path, required=True, help="the fixation student's validation folder")
    parser.add_argument("--cache", type=Path, help="keep the analyses here between runs")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data DIR is required (../shared/data was not found)")
    if args.cache is not None and args.cache.is_file():
        with open(args.cache, "rb") as stream:
            items = pickle.load(stream)
    else:
        items = analyse_all(tune_cases(args.data, args.val))
        if args.cache is not None:
            with open(args.cache, "wb") as stream:
                pickle.dump(items, stream)
    for name, fusion, params in SETTINGS:
        gains = evaluate(items, fusion, params)
        print(f"{name}: " + " ".join(f"{k}={v:+.3f}" for k, v in gains.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
