"""Speed and memory of framing one JPEG to 1280x720 JPEG bytes: smartframe against its peers.

    python benchmarks/speed.py [--data ../shared/data] [--rounds 3] [--repeat 5] [--megapixels 1,12,50]
                               [--baseline REV] [--cold-runs 7]

Every case runs in fresh subprocesses, on the same files, in one run: one untimed call
(imports, lazy model loading), then ``--repeat`` timed calls, then the process's peak resident
memory (``VmHWM`` from /proc, in MB of 10^6 bytes). The cases take turns: ``--rounds`` rounds,
each running every case once, so that a change in the machine's speed during the run (it is
shared) falls on all cases alike rather than on whichever ran last; the median over all rounds'
calls and the highest peak memory are reported. Every output of every call is decoded and must
be exactly 1280x720, or the benchmark stops with WRONG OUTPUT: a fast wrong answer cannot pass. A final case frames a 100 MP JPEG once per process, for memory.

Cases (all end with JPEG bytes at quality 90):
  smartframe smart+faces  smartframe.frame(path, size, faces="flag")  (the default strategy)
  smartframe classic      smartframe.frame(path, size, strategy="classic", faces="flag")
  smartframe centre       smartframe.frame(path, size, strategy="centre")  (no face detection)
  Pillow fit              ImageOps.exif_transpose + ImageOps.fit(..., LANCZOS)
  Pillow fit+draft        the same after Image.draft to the smallest scale that still covers
  pyvips attention        pyvips.Image.thumbnail(path, 1280, height=720, crop="attention")
  smartcrop.py            SmartCrop().crop(image, 1280, 720), then crop + LANCZOS resize

Cold start: ``python -m smartframe frame PHOTO --size 1280x720 --out OUT.jpg`` on the 12 MP
file, from process start to exit, for this checkout and for ``--baseline`` (a git revision,
default ``001a2ec``, the last commit before the subject network and the YuNet detector, exported with ``git archive`` into a
temporary folder and run from there with its own models), alternating, ``--cold-runs`` times
each; medians.

Targets (issue 10, measured in this one run, ratios): smart+faces <= 1.0x pyvips attention on
12 MP; classic <= 0.75x pyvips attention on 12 MP; peak RSS framing 100 MP with smart < 400 MB;
cold start <= 1.3x the baseline's. Exit code 0 when every target passes, 1 when one fails or
cannot be measured, 2 on a wrong output.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = (1280, 720)
QUALITY = 90
CASES = ["smartframe smart+faces", "smartframe classic", "smartframe centre", "Pillow fit",
         "Pillow fit+draft", "pyvips attention", "smartcrop.py"]
SMART, CLASSIC, CENTRE, PYVIPS = CASES[0], CASES[1], CASES[2], CASES[5]
MEMORY_CASES = [SMART, CLASSIC, CENTRE]
RSS_LIMIT_MB = 400.0
SMART_LIMIT, CLASSIC_LIMIT, COLD_LIMIT = 1.0, 0.75, 1.3
#: The last commit before issues 10 and 11: the code whose cold start is today's reference.
BASELINE_REF = "001a2ec"


# --- the cases: each returns JPEG bytes -------------------------------------------------------

def case_function(name: str):
    """The function for one case; imports only what that case needs."""
    width, height = SIZE
    if name.startswith("smartframe"):
        import smartframe

        options = {SMART: {"faces": "flag"}, CLASSIC: {"strategy": "classic", "faces": "flag"},
                   CENTRE: {"strategy": "centre"}}[name]
        return lambda path: smartframe.frame(path, SIZE, **options).to_bytes("jpeg", quality=QUALITY)
    if name.startswith("Pillow"):
        from PIL import Image, ImageOps

        use_draft = name.endswith("draft")

        def pillow(path):
            with Image.open(path) as image:
                if use_draft:
                    w, h = image.size  # stored size; the photos here carry no EXIF rotation
                    scale = max(width / w, height / h)
                    image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
                image = ImageOps.exif_transpose(image)
                framed = ImageOps.fit(image.convert("RGB"), SIZE, Image.Resampling.LANCZOS)
            return encode_pil(framed)

        return pillow
    if name == PYVIPS:
        import pyvips

        return lambda path: pyvips.Image.thumbnail(path, width, height=height, crop="attention") \
            .write_to_buffer(f".jpg[Q={QUALITY}]")
    if name == "smartcrop.py":
        from PIL import Image, ImageOps
        from smartcrop import SmartCrop

        cropper = SmartCrop()

        def smartcrop(path):
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image).convert("RGB")
            crop = cropper.crop(image, width, height)["top_crop"]
            box = (crop["x"], crop["y"], crop["x"] + crop["width"], crop["y"] + crop["height"])
            return encode_pil(image.crop(box).resize(SIZE, Image.Resampling.LANCZOS))

        return smartcrop
    raise ValueError(f"unknown case {name!r}")


def encode_pil(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def check_output(data: bytes, case: str, path: str) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.size != SIZE or image.format != "JPEG":
            raise WrongOutput(f"{case} on {path}: {image.format} {image.size}, expected JPEG {SIZE}")


class WrongOutput(AssertionError):
    pass


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory, MB (10^6 bytes).

    Read from /proc, which counts only this program: ``ru_maxrss`` would also count the
    parent's pages the child held between fork and exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass  # not Linux: fall back to ru_maxrss (bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def run_child(case: str, path: str, repeat: int) -> dict:
    """In the child process: time one case on one file."""
    try:
        function = case_function(case)
        baseline = rss_mb("VmRSS")
        check_output(function(path), case, path)  # untimed: imports, model loading
    except WrongOutput:
        raise
    except Exception as error:  # a peer missing, or smart not in this build: reported, not fatal
        detail = str(error) or ("not in this build" if isinstance(error, NotImplementedError) else "")
        return {"error": f"{type(error).__name__}: {detail}"}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        data = function(path)
        times.append((time.perf_counter() - started) * 1000.0)
        check_output(data, case, path)
    return {"times_ms": times, "median_ms": statistics.median(times) if times else None,
            "baseline_rss_mb": baseline, "peak_rss_mb": rss_mb()}


# --- the parent: files, subprocesses, table, targets -------------------------------------------

def measure(case: str, path: Path, repeat: int) -> dict:
    command = [sys.executable, __file__, "--child", case, str(path), "--repeat", str(repeat)]
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode == 2:
        raise SystemExit(f"WRONG OUTPUT: {process.stdout.strip() or process.stderr.strip()}")
    try:
        return json.loads(process.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"the case crashed (exit {process.returncode}): {process.stderr.strip()[-300:]}"}


def merge_rounds(earlier: dict | None, latest: dict) -> dict:
    """One case's results over rounds: all timed calls pooled, the highest peak memory."""
    if earlier is None or "error" in earlier:
        return latest
    if "error" in latest:
        return latest
    times = earlier["times_ms"] + latest["times_ms"]
    return {"times_ms": times, "median_ms": statistics.median(times),
            "baseline_rss_mb": max(earlier["baseline_rss_mb"], latest["baseline_rss_mb"]),
            "peak_rss_mb": max(earlier["peak_rss_mb"], latest["peak_rss_mb"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="evaluation photos (default ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None, help="where the test JPEGs are written")
    parser.add_argument("--megapixels", default="1,12,50", help="sizes of the timed test JPEGs")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per case and round (50 MP: a third)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every case once")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--no-memory", action="store_true", help="skip the 100 MP memory case")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    # A fixed revision, not "main": once this work is on main, main would be measured against itself.
    parser.add_argument("--baseline", default=BASELINE_REF, help="git revision whose cold start is the reference")
    parser.add_argument("--cold-runs", type=int, default=7, help="cold starts of each, alternating (0: skip)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        try:
            print(json.dumps(run_child(args.child[0], args.child[1], args.repeat)))
        except WrongOutput as error:
            print(str(error))
            return 2
        return 0

    import _images

    data = args.data if args.data is not None else _images.default_data()
    cache = args.cache or _images.DEFAULT_CACHE
    source, label = _images.pick_source(data)
    megapixels = [float(m) for m in args.megapixels.split(",")]
    cases = [c.strip() for c in args.cases.split(",")]
    files = {m: _images.make_jpeg(source, label, m, cache) for m in megapixels}
    print(f"source: {label} ({source.shape[1]}x{source.shape[0]}); cache: {cache}")
    print(f"cpus: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.2f}; "
          f"{args.rounds} rounds x {args.repeat} timed calls (50 MP and up: "
          f"{max(1, args.repeat // 3)})")
    results: dict = {}
    for mp, path in files.items():
        repeat = args.repeat if mp < 50 else max(1, args.repeat // 3)
        for _ in range(args.rounds):
            for case in cases:
                results[(case, mp)] = merge_rounds(results.get((case, mp)), measure(case, path, repeat))
    memory: dict = {}
    if not args.no_memory:
        big = _images.make_jpeg(source, label, 100, cache)
        for case in MEMORY_CASES:
            memory[case] = measure(case, big, 1)
    cold = cold_starts(files.get(12.0) or next(iter(files.values())), args.baseline, args.cold_runs)
    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    print_table(results, cases, files)
    print_memory(memory)
    print_cold(cold, args.baseline)
    verdicts = judge(results, memory, cold)
    if args.json:
        args.json.write_text(json.dumps({
            "source": label, "files": {str(k): str(v) for k, v in files.items()},
            "results": [{"case": c, "megapixels": m, **r} for (c, m), r in results.items()],
            "memory_100mp": memory, "cold_start": cold, "targets": verdicts}, indent=2))
    return 0 if all(v["status"] == "PASS" for v in verdicts) else 1


REPO = Path(__file__).resolve().parents[1]


def cold_starts(photo: Path, baseline: str, runs: int) -> dict:
    """Wall time of ``python -m smartframe frame`` (process start to exit) for this checkout and
    for ``baseline``, alternating; each run writes a fresh output and must exit 0."""
    import shutil
    import tempfile

    if runs <= 0:
        return {"error": "not run (--cold-runs 0)"}
    folder = Path(tempfile.mkdtemp(prefix="smartframe-baseline-"))
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", baseline],
                                 capture_output=True)
        if archive.returncode != 0:
            return {"error": f"git archive {baseline}: {archive.stderr.decode().strip()}"}
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        trees = {"this checkout": REPO, f"baseline {baseline}": folder}
        times: dict[str, list[float]] = {name: [] for name in trees}
        for index in range(runs):
            for name, tree in trees.items():
                out = folder / f"cold-{index}-{len(times[name])}.jpg"
                # cwd first on sys.path: each tree runs its own smartframe and its own models
                env = {**os.environ, "SMARTFRAME_MODEL_DIR": str(tree / "models"), "PYTHONPATH": str(tree)}
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "smartframe", "frame", str(photo), "--size",
                                       "1280x720", "--out", str(out)], cwd=tree, env=env, capture_output=True)
                elapsed = (time.perf_counter() - started) * 1000.0
                if done.returncode != 0 or not out.exists():
                    return {"error": f"{name}: exit {done.returncode}: {done.stderr.decode().strip()[-300:]}"}
                times[name].append(elapsed)
        medians = {name: statistics.median(values) for name, values in times.items()}
        return {"times_ms": times, "median_ms": medians,
                "ratio": medians["this checkout"] / medians[f"baseline {baseline}"]}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_memory(memory: dict) -> None:
    for case, result in memory.items():
        if "error" in result:
            print(f"100 MP {case}: n/a ({result['error']})")
        else:
            print(f"100 MP {case}: peak RSS {result['peak_rss_mb']:.0f} MB "
                  f"({result['baseline_rss_mb']:.0f} MB after imports), {result['median_ms']:.0f} ms")


def print_cold(cold: dict, baseline: str) -> None:
    if "error" in cold:
        print(f"cold start: n/a ({cold['error']})\n")
        return
    for name, value in cold["median_ms"].items():
        print(f"cold start, {name}: median {value:.0f} ms of {len(cold['times_ms'][name])} runs "
              f"({', '.join(f'{t:.0f}' for t in cold['times_ms'][name])})")
    print()


def print_table(results: dict, cases: list[str], files: dict) -> None:
    header = f"{'case':24s}" + "".join(f"{f'{mp:g} MP ms':>12s}{'x smart':>9s}{'x centre':>9s}{'RSS MB':>8s}"
                                       for mp in files)
    print(header)
    for case in cases:
        row = f"{case:24s}"
        for mp in files:
            result = results[(case, mp)]
            if "error" in result:
                row += f"{'n/a':>12s}{'':>9s}{'':>9s}{'':>8s}"
                continue
            row += f"{result['median_ms']:12.1f}"
            for reference in (SMART, CENTRE):
                ref = results.get((reference, mp), {})
                row += f"{result['median_ms'] / ref['median_ms']:9.2f}" if "median_ms" in ref else f"{'-':>9s}"
            row += f"{result['peak_rss_mb']:8.0f}"
        print(row)
    for (case, mp), result in results.items():
        if "error" in result:
            print(f"  n/a: {case} on {mp:g} MP: {result['error']}")
    print()


def judge(results: dict, memory: dict, cold: dict) -> list[dict]:
    verdicts = []

    def ratio_target(name: str, case: str, reference: str, mp: float, limit: float) -> None:
        a, b = results.get((case, mp), {}), results.get((reference, mp), {})
        if "median_ms" not in a or "median_ms" not in b:
            missing = a.get("error") or b.get("error") or "not run"
            verdicts.append({"target": name, "status": "N/A", "detail": missing})
            return
        ratio = a["median_ms"] / b["median_ms"]
        # the ratio rounded up: a ratio is never shown better than it is
        verdicts.append({"target": name, "status": "PASS" if ratio <= limit else "FAIL",
                         "detail": f"{a['median_ms']:.1f} ms / {b['median_ms']:.1f} ms = "
                                   f"{math.ceil(ratio * 100 - 1e-9) / 100:.2f}x (limit {limit}x)"})

    ratio_target(f"smart+faces <= {SMART_LIMIT}x pyvips attention, 12 MP", SMART, PYVIPS, 12.0, SMART_LIMIT)
    ratio_target(f"classic+faces <= {CLASSIC_LIMIT}x pyvips attention, 12 MP", CLASSIC, PYVIPS, 12.0,
                 CLASSIC_LIMIT)
    result = memory.get(SMART)
    name = f"{SMART}: peak RSS framing 100 MP < {RSS_LIMIT_MB:g} MB"
    if result is None:
        verdicts.append({"target": name, "status": "N/A", "detail": "not run (--no-memory)"})
    elif "error" in result:
        verdicts.append({"target": name, "status": "N/A", "detail": result["error"]})
    else:
        verdicts.append({"target": name, "status": "PASS" if result["peak_rss_mb"] < RSS_LIMIT_MB else "FAIL",
                         "detail": f"{result['peak_rss_mb']:.0f} MB peak ({result['baseline_rss_mb']:.0f} MB "
                                   f"after imports), {result['median_ms']:.0f} ms"})
    name = f"cold start of smartframe frame <= {COLD_LIMIT}x the baseline's"
    if "error" in cold:
        verdicts.append({"target": name, "status": "N/A", "detail": cold["error"]})
    else:
        medians = list(cold["median_ms"].values())
        verdicts.append({"target": name, "status": "PASS" if cold["ratio"] <= COLD_LIMIT else "FAIL",
                         "detail": f"{medians[0]:.0f} ms / {medians[1]:.0f} ms = {math.ceil(cold['ratio'] * 100 - 1e-9) / 100:.2f}x "
                                   f"(limit {COLD_LIMIT}x)"})
    for verdict in verdicts:
        print(f"{verdict['status']:5s} {verdict['target']}: {verdict['detail']}")
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
