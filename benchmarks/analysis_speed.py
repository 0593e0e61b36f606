"""Time of the content-aware analysis alone: importance maps + window search, faces excluded.

    python benchmarks/analysis_speed.py [--data ../shared/data] [--megapixels 1,12,50,100] [--repeat 31]

The issue's bar is under 15 ms per image at any input size, because the analysis runs on a
small copy. For each test JPEG (made from a real photo, as in speed.py) the file is opened and
decoded exactly as ``smartframe.frame_sizes(path, TARGETS)`` would (so a 50 MP JPEG arrives
reduced in the DCT domain); then, timed, the importance map is built from that working image
and the cover windows for 1280x720, 720x1280 and 1080x1080 are searched, the multi-target
case. Both maps are timed: ``classic`` (the classic cues) and ``smart`` (the classic cues, the
subject network on a 160-px copy and their fusion). A PNG of the 12 MP photo is timed too: PNG has no DCT-domain reduction (the loader
box-reduces it while converting instead). Face detection is not part of this time (it is timed in faces.py).

Every run is checked: the map must be finite and non-negative with a longest side of at most
96 cells, and every window must have the target's aspect ratio and lie inside the photo.
Exit code 0 when every median is under the bar, 1 when one is not, 2 on a wrong result.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BAR_MS = 15.0
TARGETS = ["1280x720", "720x1280", "1080x1080"]


class WrongResult(AssertionError):
    pass


def load_like_frame(path: Path):
    """Open and decode ``path`` as ``frame_sizes(path, TARGETS)`` does; returns
    (loaded, region, targets). Planned with the centre strategy, so nothing is analysed."""
    from smartframe import FrameOptions
    from smartframe.pipeline import prepare

    loaded, _, plans = prepare(path, TARGETS, FrameOptions(strategy="centre"))
    return loaded, plans[0].region, [plan.target for plan in plans]


def analyse_and_search(loaded, region, targets, options, maps):
    """The timed part: importance map on the small copy, then one window search per target."""
    from smartframe.analysis import analyse
    from smartframe.plan import plan_frame

    analysis = analyse(loaded.pixels, loaded.working_scale, region, maps=maps, faces=False)
    plans = [plan_frame(t, loaded.size, options, analysis, working_scale=loaded.working_scale)
             for t in targets]
    return analysis, plans


def check(analysis, plans, loaded, label: str) -> None:
    import numpy as np
    from smartframe.analysis.saliency import SMALL_SIDE

    importance = analysis.importance
    if importance is None or not np.isfinite(importance).all() or (importance < 0).any():
        raise WrongResult(f"{label}: importance map missing, non-finite or negative")
    if max(importance.shape) != SMALL_SIDE:
        raise WrongResult(f"{label}: importance map {importance.shape} is not the {SMALL_SIDE}-px small copy")
    if np.ptp(importance) <= 0:
        raise WrongResult(f"{label}: importance map is flat")
    width, height = loaded.size
    for plan in plans:
        box, region = plan.crop_box, plan.region
        tw, th = plan.target.size
        if not (0 <= box.x0 < box.x1 <= width + 1e-6 and 0 <= box.y0 < box.y1 <= height + 1e-6):
            raise WrongResult(f"{label}: window {tuple(box)} outside the {width}x{height} photo")
        if abs(box.width / box.height - tw / th) > 0.01 * tw / th:
            raise WrongResult(f"{label}: window {tuple(box)} is not {tw}:{th}")
        if not (abs(box.width - region.width) < 1 or abs(box.height - region.height) < 1):
            raise WrongResult(f"{label}: window {tuple(box)} is not the largest {tw}:{th} window "
                              f"of the region {tuple(region)}")


def measure(path: Path, label: str, repeat: int, maps_name: str) -> dict:
    import smartframe
    from smartframe.analysis import Maps

    maps = Maps(maps_name)
    options = smartframe.FrameOptions(strategy=maps_name)
    loaded, region, targets = load_like_frame(path)
    check(*analyse_and_search(loaded, region, targets, options, maps), loaded, label)  # untimed warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        analysis, plans = analyse_and_search(loaded, region, targets, options, maps)
        times.append((time.perf_counter() - started) * 1000.0)
        check(analysis, plans, loaded, label)
    ordered = sorted(times)
    return {"maps": maps_name, "source": f"{loaded.size[0]}x{loaded.size[1]}",
            "working": f"{loaded.pixels.shape[1]}x{loaded.pixels.shape[0]}",
            "median_ms": statistics.median(times), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
            "max_ms": ordered[-1]}


def write_results(results: list[dict], label: str, repeat: int, load_start: float, load_end: float,
                  argv) -> None:
    """The table, into this benchmark's section of benchmarks/RESULTS.md."""
    from _results import load_note, markdown_table, write_section

    by_case: dict[str, dict] = {}
    for r in results:
        by_case.setdefault(r["case"], {"decoded": r["working"], "source": r["source"]})[r["maps"]] = r
    rows = [[f"{case} ({row['source']})", row["decoded"],
             f"{row['classic']['median_ms']:.2f} ({row['classic']['p95_ms']:.2f})",
             f"{row['smart']['median_ms']:.2f} ({row['smart']['p95_ms']:.2f})"]
            for case, row in by_case.items()]
    body = "\n\n".join([
        f"The analysis alone (importance map and the cover-window searches for {', '.join(TARGETS)}; "
        f"faces excluded), on test images made from {label}; median of {repeat} runs per input, "
        f"p95 in brackets. " + load_note(load_start, load_end),
        markdown_table(["input", "decoded as", "classic, median ms (p95)", "smart, median ms (p95)"], rows),
    ])
    write_section("analysis_speed", body, argv=argv, title="Analysis time (analysis_speed.py)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="evaluation photos (default ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None, help="where the test images are written")
    parser.add_argument("--megapixels", default="1,12,50,100", help="sizes of the test JPEGs")
    parser.add_argument("--repeat", type=int, default=31, help="timed runs per file")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    argv = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]

    import _images
    from PIL import Image

    data = args.data if args.data is not None else _images.default_data()
    cache = args.cache or _images.DEFAULT_CACHE
    source, label = _images.pick_source(data)
    files = {f"{float(m):g} MP JPEG": _images.make_jpeg(source, label, float(m), cache)
             for m in args.megapixels.split(",")}
    jpeg12 = _images.make_jpeg(source, label, 12.0, cache)
    png12 = jpeg12.with_suffix(".png")
    if not png12.exists():
        with Image.open(jpeg12) as image:
            image.save(png12.with_suffix(".tmp.png"), "PNG", compress_level=1)
        os.replace(png12.with_suffix(".tmp.png"), png12)
    files["12 MP PNG"] = png12
    print(f"source: {label}; targets: {', '.join(TARGETS)} (one analysis, three searches)")
    load_start = os.getloadavg()[0]
    print(f"cpus: {os.cpu_count()}; load average at start: {load_start:.2f}; repeat: {args.repeat}\n")
    results = []
    try:
        for name, path in files.items():
            for maps in ("classic", "smart"):
                results.append({"case": name, **measure(path, name, args.repeat, maps)})
    except WrongResult as error:
        print(f"WRONG RESULT: {error}")
        return 2
    print(f"{'input':14s}{'maps':>9s}{'pixels':>12s}{'decoded as':>12s}{'median ms':>11s}{'p95 ms':>9s}{'max ms':>9s}")
    for r in results:
        print(f"{r['case']:14s}{r['maps']:>9s}{r['source']:>12s}{r['working']:>12s}{r['median_ms']:11.2f}"
              f"{r['p95_ms']:9.2f}{r['max_ms']:9.2f}")
    load_end = os.getloadavg()[0]
    print(f"\nload average at end: {load_end:.2f}")
    write_results(results, label, args.repeat, load_start, load_end, argv)
    worst = max(results, key=lambda r: r["median_ms"])
    ok = worst["median_ms"] < BAR_MS
    print(f"{'PASS' if ok else 'FAIL'} analysis (map + 3 searches, no faces) < {BAR_MS:g} ms at every size: "
          f"slowest median {worst['median_ms']:.2f} ms ({worst['case']}, {worst['maps']})")
    if args.json:
        args.json.write_text(json.dumps({"source": label, "bar_ms": BAR_MS, "results": results}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
