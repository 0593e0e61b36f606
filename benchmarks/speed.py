"""Speed of framing 12 MP JPEGs of every orientation to every target shape, against the peers.

    python benchmarks/speed.py [--data ../shared/data] [--rounds 5] [--baseline REV]
                               [--cold-runs 7] [--quick] [--no-write]

**The matrix.** Ten 12 MP JPEG sources made from real photos in ``--data`` (landscape 3:2,
portrait 2:3, portrait 3:4, square and a 3:1 panorama, each with a face and without one;
``_images.MATRIX_SOURCES``, cached outside the repository) are framed to 1280x720, 720x1280 and
1024x1024 JPEG bytes (quality 90) by:

  smart+faces        smartframe.frame(path, size) -- the defaults: smart, faces detected (to
                     guide the window: from the size that can steer it)
  smart+flag         smartframe.frame(path, size, faces="flag") -- faces searched down to 20
                     output px, as for any policy that acts on faces or a target refusing them
  classic            smartframe.frame(path, size, strategy="classic")
  centre             smartframe.frame(path, size, strategy="centre")  (no analysis)
  pyvips attention   pyvips.Image.thumbnail(path, w, height=h, crop="attention") (cache off)
  Pillow fit+draft   Image.draft to the smallest DCT scale that covers, ImageOps.fit, LANCZOS
  baseline smart     smart+faces from ``--baseline`` (a git revision exported into a temporary
                     folder), unless ``--no-compare``: before and after in one run

Each library runs in a long-lived worker process of its own (``_speed_worker.py``), warmed up
on every cell before timing. A round visits every cell (in a shuffled order) and runs every
case once there, in an order that rotates from round to round, so the cases take turns and a
change in the machine's load (it is shared) falls on all alike. Ratios (smart / pyvips, smart /
Pillow, ...) are taken within each round and the table gives the median of the per-round
ratios, beside the median times; the same ratios of CPU time (all threads of the worker) are
given too, since on a loaded machine the wall clock favours whoever runs more threads. Every
output is decoded and must be a JPEG of exactly the target size, and every smartframe crop box
must lie inside the source, span it along one axis and have the target's aspect ratio (within a
source pixel): a fast wrong answer stops the run with WRONG OUTPUT.

**The stages.** Each round also takes smartframe's default framing of every cell apart
(decode, analysis maps, faces, plan, render, encode; the worker calls the pipeline's stage
functions one after the other, where ``frame`` overlaps the maps and the faces on two threads),
so the table shows where the time goes.

**check against frame.** ``smartframe.check(path, "1280x720")`` against ``frame`` of the same
12 MP JPEG to 1280x720 (the defaults, and ``faces="flag"``), in the same rounds, per-round ratios.

**Memory.** A 100 MP JPEG framed once by smart+faces, classic and centre, each in a fresh
process: peak resident memory (``VmHWM``, MB of 10^6 bytes).

**Cold start.** ``python -m smartframe frame PHOTO --size 1280x720 --out OUT.jpg`` on the 12 MP
landscape, process start to exit, this checkout and ``--baseline`` alternating, medians.

Targets (ratios in this one run): smart+faces <= 1.0x pyvips attention in every cell and
<= 1.6x Pillow fit+draft; check <= 0.8x frame; peak memory framing 100 MP < 400 MB; cold start
<= 1.2x the baseline's. The tables go to ``benchmarks/RESULTS.md`` (section ``speed``) unless
``--no-write`` or ``--quick`` (a smoke run: two sources, one round, one cold start). Exit code
0 when every target passes, 1 when one fails or cannot be measured, 2 on a wrong output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "_speed_worker.py"
SIZES = [(1280, 720), (720, 1280), (1024, 1024)]
SMART, FLAG = "smartframe smart+faces", "smartframe smart+flag"
CLASSIC, CENTRE = "smartframe classic", "smartframe centre"
PYVIPS, PILLOW, BASELINE = "pyvips attention", "Pillow fit+draft", "baseline smart+faces"
SHORT = {SMART: "smart+faces", FLAG: "smart+flag", CLASSIC: "classic", CENTRE: "centre", PYVIPS: "pyvips",
         PILLOW: "Pillow", BASELINE: "baseline smart"}
STAGES = ["decode", "maps", "faces", "plan", "render", "encode"]
MEMORY_CASES = [SMART, CLASSIC, CENTRE]
SMART_VS_PYVIPS, SMART_VS_PILLOW, CHECK_VS_FRAME, COLD_LIMIT, RSS_LIMIT_MB = 1.0, 1.6, 0.8, 1.2, 400.0
#: The last commit before this benchmark's issue (20): today's code, the reference for the
#: cold start and the matrix's "baseline smart" column.
BASELINE_REF = "33dc1e0"


class WrongOutput(AssertionError):
    pass


# --- workers ------------------------------------------------------------------------------------

class Worker:
    """One ``_speed_worker.py`` process running the smartframe of ``tree``."""

    def __init__(self, tree: Path):
        env = {**os.environ, "PYTHONPATH": str(tree), "SMARTFRAME_MODEL_DIR": str(tree / "models")}
        self.process = subprocess.Popen([sys.executable, str(WORKER)], cwd=tree, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.smartframe = self.ask_raw(None)["smartframe"]  # the package this worker imported

    def ask_raw(self, command: dict | None) -> dict:
        if command is not None:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a worker exited (code {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()  # end of input: the worker returns
        self.process.wait(timeout=60)


def run_case(workers: dict, case: str, path: Path, size: tuple[int, int]) -> dict:
    """One timed call of ``case``; its output checked (WrongOutput when wrong)."""
    worker = workers[BASELINE if case == BASELINE else ("peers" if case in (PYVIPS, PILLOW) else "this")]
    name = SMART if case == BASELINE else case
    answer = worker.ask_raw({"op": "run", "case": name, "path": str(path), "size": list(size)})
    if "error" in answer:
        return answer
    where = f"{case} on {path.name} to {size[0]}x{size[1]}"
    if tuple(answer["out"]) != tuple(size) or answer["format"] != "JPEG":
        raise WrongOutput(f"{where}: {answer['format']} {tuple(answer['out'])}, expected JPEG {size}")
    if answer["box"] is not None:
        check_box(answer["box"], answer["source"], size, where)
    return answer


def check_box(box: list[float], source: list[int], size: tuple[int, int], where: str) -> None:
    """A crop box inside the source, at least a pixel wide, with the target's aspect ratio
    (to within one source pixel on the shorter side)."""
    x0, y0, x1, y1 = box
    width, height = source
    if not (-1e-6 <= x0 < x1 <= width + 1e-6 and -1e-6 <= y0 < y1 <= height + 1e-6):
        raise WrongOutput(f"{where}: crop box {box} is not inside the {width}x{height} source")
    expected_h = (x1 - x0) * size[1] / size[0]
    if abs((y1 - y0) - expected_h) > 1.0 + 1e-6 and abs((x1 - x0) - (y1 - y0) * size[0] / size[1]) > 1.0 + 1e-6:
        raise WrongOutput(f"{where}: crop box {box} does not have the aspect ratio of {size}")
    # a cover window spans the source along one axis
    if min(abs(x1 - x0 - width), abs(y1 - y0 - height)) > 1.0 + 1e-6:
        raise WrongOutput(f"{where}: crop box {box} spans neither the width nor the height of the source")


def export_tree(revision: str) -> Path:
    """``revision`` of this repository exported (``git archive``) into a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="smartframe-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True)
    if archive.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"git archive {revision}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


# --- the matrix ------------------------------------------------------------------------------------

def run_matrix(files: dict, cases: list[str], workers: dict, rounds: int, check_path: Path | None) -> dict:
    """Every case on every cell, ``rounds`` times taking turns; the stages and check alike.

    Returns ``{"times": {(cell, case): [ms per round]}, "cpu": (the same, CPU ms), "stages": {cell: [dict per round]},
    "check": [(check ms, frame ms, frame with faces="flag" ms) per round]}`` with ``cell = (source label, size)``.
    """
    cells = [(label, size) for label in files for size in SIZES]
    times: dict = {(cell, case): [] for cell in cells for case in cases}
    cpu: dict = {(cell, case): [] for cell in cells for case in cases}
    stages: dict = {cell: [] for cell in cells}
    check_rounds: list[tuple[float, float]] = []
    errors: dict = {}
    for cell in cells:  # warm-up: imports, models, the file in the page cache
        for case in cases:
            answer = run_case(workers, case, files[cell[0]], cell[1])
            if "error" in answer:
                errors[(cell, case)] = answer["error"]
    rng = random.Random(20)
    for index in range(rounds):
        order = cells[:]
        rng.shuffle(order)
        for cell in order:
            label, size = cell
            turn = cases[index % len(cases):] + cases[:index % len(cases)]
            for case in turn + ["stages"]:
                if case == "stages":
                    answer = workers["this"].ask_raw({"op": "stages", "path": str(files[label]), "size": list(size)})
                    if "error" not in answer:
                        stages[cell].append(answer)
                    continue
                if (cell, case) in errors:
                    continue
                answer = run_case(workers, case, files[label], size)
                if "error" in answer:
                    errors[(cell, case)] = answer["error"]
                else:
                    times[(cell, case)].append(answer["ms"])
                    cpu[(cell, case)].append(answer["cpu_ms"])
        if check_path is not None:
            ops = ["check", "frame", "frame flag"]
            values = {}
            for op in ops[index % 3:] + ops[:index % 3]:
                if op == "check":
                    answer = workers["this"].ask_raw({"op": "check", "path": str(check_path), "size": [1280, 720]})
                else:
                    answer = run_case(workers, SMART if op == "frame" else FLAG, check_path, (1280, 720))
                if "error" in answer:
                    errors[("check", op)] = answer["error"]
                values[op] = answer.get("ms")
            if None not in values.values():
                check_rounds.append((values["check"], values["frame"], values["frame flag"]))
        print(f"  round {index + 1}/{rounds} done; load average {os.getloadavg()[0]:.2f}", flush=True)
    return {"times": times, "cpu": cpu, "stages": stages, "check": check_rounds, "errors": errors}


def ratio_median(a: list[float], b: list[float]) -> float | None:
    """The median of the per-round ratios a[i] / b[i]."""
    if not a or len(a) != len(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b))


def up(value: float) -> str:
    """A ratio rounded up to two decimals: never shown better than it is."""
    return f"{math.ceil(value * 100 - 1e-9) / 100:.2f}x"


def matrix_tables(results: dict, files: dict, cases: list[str]) -> tuple[str, list[dict]]:
    """The Markdown tables of the matrix and the per-cell verdicts."""
    from _results import markdown_table

    times, stages = results["times"], results["stages"]
    header = ["source (12 MP JPEG)", "target"] + [f"{SHORT[c]} ms" for c in cases] + \
             ["smart / pyvips", "smart / Pillow"] + (["smart / baseline"] if BASELINE in cases else []) + \
             ["CPU: smart / pyvips", "CPU: smart / Pillow"]
    rows, verdicts = [], []
    for label in files:
        for size in SIZES:
            cell = (label, size)
            row = [label, f"{size[0]}x{size[1]}"]
            for case in cases:
                values = times[(cell, case)]
                row.append(f"{statistics.median(values):.0f}" if values else "n/a")
            smart = times[(cell, SMART)]
            for reference, limit in ((PYVIPS, SMART_VS_PYVIPS), (PILLOW, SMART_VS_PILLOW), (BASELINE, None)):
                if reference not in cases:
                    continue
                ratio = ratio_median(smart, times[(cell, reference)])
                row.append("n/a" if ratio is None else up(ratio))
                if limit is not None:
                    verdicts.append({"target": f"smart+faces <= {limit}x {reference}, {label} to {size[0]}x{size[1]}",
                                     "ratio": ratio, "limit": limit})
            for reference in (PYVIPS, PILLOW):
                ratio = ratio_median(results["cpu"][(cell, SMART)], results["cpu"][(cell, reference)])
                row.append("n/a" if ratio is None else up(ratio))
            rows.append(row)
    body = markdown_table(header, rows)
    stage_rows = []
    for label in files:
        for size in SIZES:
            per_round = stages[(label, size)]
            if not per_round:
                continue
            medians = [statistics.median(r[s] for r in per_round) for s in STAGES]
            total = statistics.median(r["ms"] for r in per_round)
            stage_rows.append([label, f"{size[0]}x{size[1]}"] + [f"{m:.1f}" for m in medians] + [f"{total:.0f}"])
    body += ("\n\nWhere smart+faces spends its time (ms, medians over the rounds; the stages run one "
             "after the other here, while `frame` makes the maps on a second thread during the face "
             "detection):\n\n")
    body += markdown_table(["source", "target"] + STAGES + ["sum"], stage_rows)
    return body, verdicts


# --- memory and cold start (fresh processes) -----------------------------------------------------------

def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory, MB (10^6 bytes),
    from /proc (``ru_maxrss`` would count the parent's pages held between fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass  # not Linux: fall back to ru_maxrss (bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def memory_child(case: str, path: str) -> dict:
    """In a fresh process: frame ``path`` once with ``case``; peak memory."""
    import _speed_worker

    function = _speed_worker.case_function(case)
    baseline = rss_mb("VmRSS")
    started = time.perf_counter()
    data, _ = function(path, [1280, 720])
    elapsed = (time.perf_counter() - started) * 1000.0
    from PIL import Image
    import io

    with Image.open(io.BytesIO(data)) as image:
        if image.size != (1280, 720):
            raise WrongOutput(f"{case} on {path}: {image.size}, expected (1280, 720)")
    return {"ms": elapsed, "baseline_rss_mb": baseline, "peak_rss_mb": rss_mb()}


def measure_memory(case: str, path: Path) -> dict:
    process = subprocess.run([sys.executable, __file__, "--memory-child", case, str(path)],
                             capture_output=True, text=True)
    if process.returncode == 2:
        raise WrongOutput(process.stdout.strip() or process.stderr.strip())
    try:
        return json.loads(process.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"exit {process.returncode}: {process.stderr.strip()[-300:]}"}


def cold_starts(photo: Path, baseline_tree: Path | None, baseline: str, runs: int) -> dict:
    """Wall time of ``python -m smartframe frame`` (process start to exit) for this checkout and
    for the baseline tree, alternating; each run writes a fresh output and must exit 0."""
    if runs <= 0 or baseline_tree is None:
        return {"error": "not run"}
    trees = {"this checkout": REPO, f"baseline {baseline}": baseline_tree}
    times: dict[str, list[float]] = {name: [] for name in trees}
    scratch = Path(tempfile.mkdtemp(prefix="smartframe-cold-"))
    try:
        for index in range(runs):
            for name, tree in trees.items():
                out = scratch / f"cold-{index}-{len(times[name])}.jpg"
                env = {**os.environ, "SMARTFRAME_MODEL_DIR": str(tree / "models"), "PYTHONPATH": str(tree)}
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "smartframe", "frame", str(photo), "--size",
                                       "1280x720", "--out", str(out)], cwd=tree, env=env, capture_output=True)
                elapsed = (time.perf_counter() - started) * 1000.0
                if done.returncode != 0 or not out.exists():
                    return {"error": f"{name}: exit {done.returncode}: {done.stderr.decode().strip()[-300:]}"}
                times[name].append(elapsed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"times_ms": times, "median_ms": medians,
            "ratio": medians["this checkout"] / medians[f"baseline {baseline}"]}


# --- main -------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="evaluation photos (default ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None, help="where the test JPEGs are written")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each runs every case on every cell once")
    parser.add_argument("--baseline", default=BASELINE_REF,
                        help="git revision for the cold start and the matrix's baseline column")
    parser.add_argument("--no-compare", action="store_true", help="no baseline column in the matrix")
    parser.add_argument("--cold-runs", type=int, default=7, help="cold starts of each, alternating (0: skip)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 100 MP memory case")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 sources, 1 round, 1 cold start; no write")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument("--memory-child", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        try:
            print(json.dumps(memory_child(*args.memory_child)))
        except WrongOutput as error:
            print(str(error))
            return 2
        return 0

    import _images

    data = args.data if args.data is not None else _images.default_data()
    if data is None:
        print("N/A  no --data folder (../shared/data): the matrix is made from real photos")
        return 1
    cache = args.cache or _images.DEFAULT_CACHE
    sources = _images.MATRIX_SOURCES
    rounds, cold_runs = args.rounds, args.cold_runs
    if args.quick:
        sources = [s for s in sources if s.faces and s.orientation in ("landscape 3:2", "portrait 2:3")]
        rounds, cold_runs = 1, min(cold_runs, 1)
    files = {s.label: _images.make_matrix_jpeg(data, s, 12, cache) for s in sources}
    check_path = files.get(_images.MATRIX_SOURCES[0].label)
    started = time.perf_counter()
    load_start = os.getloadavg()
    print(f"cpus: {os.cpu_count()}; load average at start: {load_start[0]:.2f}; {len(files)} sources x "
          f"{len(SIZES)} targets, {rounds} rounds; cache: {cache}", flush=True)
    baseline_tree = None
    cases = [SMART, FLAG, CLASSIC, CENTRE, PYVIPS, PILLOW]
    workers: dict = {}
    try:
        if not args.no_compare or cold_runs > 0:
            baseline_tree = export_tree(args.baseline)
        workers = {"this": Worker(REPO), "peers": Worker(REPO)}
        if not args.no_compare:
            workers[BASELINE] = Worker(baseline_tree)
            cases.append(BASELINE)
        for name, worker in workers.items():
            print(f"  worker {name}: {worker.smartframe}")
        try:
            results = run_matrix(files, cases, workers, rounds, check_path)
        except WrongOutput as error:
            print(f"WRONG OUTPUT: {error}")
            return 2
        for worker in workers.values():
            worker.close()
        workers = {}
        memory: dict = {}
        if not args.no_memory:
            big = _images.make_matrix_jpeg(data, _images.MATRIX_SOURCES[0], 100, cache)
            try:
                memory = {case: measure_memory(case, big) for case in MEMORY_CASES}
            except WrongOutput as error:
                print(f"WRONG OUTPUT: {error}")
                return 2
        cold = cold_starts(check_path, baseline_tree, args.baseline, cold_runs)
    finally:
        for worker in workers.values():
            worker.process.kill()
        if baseline_tree is not None:
            shutil.rmtree(baseline_tree, ignore_errors=True)
    load_end = os.getloadavg()
    body, verdicts = matrix_tables(results, files, cases)
    verdicts = [judge_ratio(v) for v in verdicts]
    check_ratio = ratio_median([c for c, _, _ in results["check"]], [f for _, f, _ in results["check"]])
    verdicts.append(judge_ratio({"target": f"check <= {CHECK_VS_FRAME}x frame, 12 MP landscape to 1280x720",
                                 "ratio": check_ratio, "limit": CHECK_VS_FRAME}))
    verdicts.append(judge_memory(memory))
    verdicts.append(judge_cold(cold, args.baseline))
    for (cell, case), error in results["errors"].items():
        print(f"  n/a: {case} on {cell}: {error}")
    body += "\n\n" + extra_tables(results, memory, cold, args.baseline)
    lines = [f"| {v['status']} | {v['target']} | {v['detail']} |" for v in verdicts]
    summary = "| status | target | measured |\n|---|---|---|\n" + "\n".join(lines)
    elapsed = time.perf_counter() - started
    preface = (f"{len(files)} sources x {len(SIZES)} targets, {rounds} rounds, cases taking turns; "
               f"load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end "
               f"(2 cores shared with other work); {elapsed:.0f} s. ms are medians over the rounds; "
               "ratios are medians of the per-round ratios, rounded up.\n\n")
    text = preface + body + "\n\n" + summary
    print("\n" + text)
    if not (args.quick or args.no_write):
        from _results import write_section

        write_section("speed", text, argv=[__file__, *(sys.argv[1:] if argv is None else argv)],
                      title="Speed: the orientation x target matrix, memory, cold start")
    if args.json:
        args.json.write_text(json.dumps({
            "files": {k: str(v) for k, v in files.items()},
            "times": [{"source": c[0], "size": c[1], "case": k, "ms": v, "cpu_ms": results["cpu"][(c, k)]}
                      for (c, k), v in results["times"].items()],
            "stages": [{"source": c[0], "size": c[1], "rounds": v} for c, v in results["stages"].items()],
            "check": results["check"], "memory_100mp": memory, "cold_start": cold, "targets": verdicts}, indent=2))
    return 0 if all(v["status"] == "PASS" for v in verdicts) else 1


def judge_ratio(verdict: dict) -> dict:
    ratio, limit = verdict["ratio"], verdict["limit"]
    if ratio is None:
        return {"target": verdict["target"], "status": "N/A", "detail": "not measured"}
    return {"target": verdict["target"], "status": "PASS" if ratio <= limit else "FAIL",
            "detail": f"{up(ratio)} (limit {limit}x)"}


def judge_memory(memory: dict) -> dict:
    name = f"{SMART}: peak RSS framing a 100 MP JPEG < {RSS_LIMIT_MB:g} MB"
    result = memory.get(SMART)
    if result is None or "error" in result:
        return {"target": name, "status": "N/A", "detail": (result or {}).get("error", "not run")}
    return {"target": name, "status": "PASS" if result["peak_rss_mb"] < RSS_LIMIT_MB else "FAIL",
            "detail": f"{result['peak_rss_mb']:.0f} MB ({result['baseline_rss_mb']:.0f} MB after imports)"}


def judge_cold(cold: dict, baseline: str) -> dict:
    name = f"cold start of `smartframe frame` <= {COLD_LIMIT}x baseline {baseline}'s"
    if "error" in cold:
        return {"target": name, "status": "N/A", "detail": cold["error"]}
    a, b = cold["median_ms"].values()
    return {"target": name, "status": "PASS" if cold["ratio"] <= COLD_LIMIT else "FAIL",
            "detail": f"{a:.0f} ms / {b:.0f} ms = {up(cold['ratio'])}"}


def extra_tables(results: dict, memory: dict, cold: dict, baseline: str) -> str:
    parts = []
    if results["check"]:
        check, frame, flag = (statistics.median(r[i] for r in results["check"]) for i in range(3))
        to_flag = ratio_median([r[0] for r in results["check"]], [r[2] for r in results["check"]])
        parts.append(f"`check` of the 12 MP landscape JPEG for 1280x720: {check:.0f} ms; `frame` of it to "
                     f"1280x720 JPEG bytes: {frame:.0f} ms with the defaults, {flag:.0f} ms with `faces=\"flag\"` "
                     f"(which searches faces down to 20 output px, as `check` does): check / frame with flag "
                     f"{up(to_flag)} (medians of {len(results['check'])} rounds, per-round ratios).")
    for case, result in memory.items():
        if "error" in result:
            parts.append(f"100 MP {case}: n/a ({result['error']})")
        else:
            parts.append(f"100 MP JPEG, {case}: peak RSS {result['peak_rss_mb']:.0f} MB "
                         f"({result['baseline_rss_mb']:.0f} MB after imports), {result['ms']:.0f} ms.")
    if "error" not in cold:
        for name, value in cold["median_ms"].items():
            parts.append(f"Cold start, {name}: median {value:.0f} ms of {len(cold['times_ms'][name])} runs.")
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
