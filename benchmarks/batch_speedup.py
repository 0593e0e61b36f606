"""Parallel speed-up of a batch run: the same folder framed with one worker and with N.

    python benchmarks/batch_speedup.py [--data ../shared/data] [--images 200] [--workers N]
                                       [--strategy smart] [--faces auto] [--runs 3]

The inputs are ``--images`` distinct 12 MP JPEGs made from one real photo (scaled, mirrored
for every other one, each with its own grain) in a cache folder outside the repository. Each
run is a whole ``smartframe.frame_many`` call into a fresh output folder, wall-clock from
call to return (worker start-up included), to 1280x720 JPEG. Runs alternate between one
worker and N workers (default: one per CPU); the medians are compared.

Every run must account for every input once, with an output of exactly 1280x720 that
decodes, and the N-worker outputs must be byte-identical to the one-worker outputs: a fast
wrong answer fails. The options are smartframe's defaults unless ``--strategy`` or ``--faces``
says otherwise. Target: 2 workers at least 1.8x the throughput of 1 (on 200 photos, on a 2-core
machine). Exit code 0 on PASS, 1 on FAIL, 2 on a wrong output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = "1280x720"
TARGET = 1.8


def run_once(inputs: list[Path], workers: int, options: dict, scratch: Path) -> tuple[float, dict[str, bytes]]:
    import smartframe

    out = Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=scratch))
    started = time.perf_counter()
    report = smartframe.frame_many(inputs, [SIZE], out, workers=workers, **options)
    elapsed = time.perf_counter() - started
    return elapsed, check(report, inputs, out)


def check(report, inputs: list[Path], out: Path) -> dict[str, bytes]:
    """Every input once, done, with a whole 1280x720 JPEG; returns the output bytes by input."""
    from PIL import Image

    lines = [json.loads(line) for line in Path(report.manifest).read_text().splitlines()]
    if sorted(l["input"] for l in lines) != sorted(os.path.abspath(p) for p in inputs):
        raise WrongOutput(f"the manifest does not list every input once: {len(lines)} lines")
    outputs = {}
    for line in lines:
        if line["status"] != "done":
            raise WrongOutput(f"{line['input']} failed: {line['error']}")
        data = Path(line["output"]).read_bytes()
        with Image.open(Path(line["output"])) as image:
            image.load()
            if image.size != (1280, 720) or image.format != "JPEG":
                raise WrongOutput(f"{line['output']}: {image.format} {image.size}")
        outputs[line["input"]] = data
    return outputs


class WrongOutput(AssertionError):
    pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="evaluation photos (default ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None, help="where the test JPEGs are written")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--workers", type=int, default=None, help="the parallel run (default: one per CPU)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind (alternating)")
    parser.add_argument("--strategy", default=None, help="framing strategy (default: smartframe's default)")
    parser.add_argument("--faces", default=None, help="face policy (default: smartframe's default)")
    args = parser.parse_args(argv)

    import _images

    data = args.data if args.data is not None else _images.default_data()
    cache = args.cache or _images.DEFAULT_CACHE
    source, label = _images.pick_source(data)
    inputs = [_images.make_jpeg(source, label, args.megapixels, cache, seed=i, flip=bool(i % 2))
              for i in range(args.images)]
    workers = args.workers or len(os.sched_getaffinity(0))
    options = {name: value for name, value in (("strategy", args.strategy), ("faces", args.faces)) if value}
    load_start = os.getloadavg()[0]
    print(f"{args.images} x {args.megapixels:g} MP JPEGs from {label} -> {SIZE}, options {options}; "
          f"cpus {os.cpu_count()}; load average {load_start:.2f}")
    times: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory(prefix="smartframe-speedup-") as scratch:
        reference = None
        try:
            for _ in range(args.runs):
                for count in (1, workers):
                    elapsed, outputs = run_once(inputs, count, options, Path(scratch))
                    if reference is None:
                        reference = outputs
                    elif outputs != reference:
                        raise WrongOutput("the outputs differ between runs")
                    times[count].append(elapsed)
                    print(f"  {count} worker(s): {elapsed:.2f} s")
        except WrongOutput as error:
            print(f"WRONG OUTPUT: {error}")
            return 2
        except RuntimeError as error:  # e.g. the smart strategy is not in this build
            print(f"N/A  the run could not start: {error}".splitlines()[0])
            return 1
    one, many = statistics.median(times[1]), statistics.median(times[workers])
    speedup = one / many
    print(f"median: 1 worker {one:.2f} s ({args.images / one:.1f} images/s), {workers} workers "
          f"{many:.2f} s ({args.images / many:.1f} images/s); load average {os.getloadavg()[0]:.2f}")
    status = "PASS" if speedup >= TARGET else "FAIL"
    verdict = f"{status}  speed-up with {workers} workers: {speedup:.2f}x (target >= {TARGET}x)"
    print(verdict)
    from _results import load_note, markdown_table, write_section

    write_section("batch_speedup", "\n\n".join([
        f"`smartframe.frame_many` over {args.images} distinct {args.megapixels:g} MP JPEGs made from "
        f"{label}, to {SIZE} with options {options}; whole runs (worker start-up included), "
        f"alternating, {args.runs} of each; every output checked (exact size, decodes, byte-identical "
        f"between the runs). " + load_note(load_start, os.getloadavg()[0]) + " One worker may use "
        "every core (OpenCV's threads, and the maps made on a second thread while the faces are "
        "detected); each of N workers holds to its share of the cores.",
        markdown_table(["1 worker (median)", f"{workers} workers (median)", "speed-up"],
                       [[f"{one:.2f} s ({args.images / one:.1f} images/s)",
                         f"{many:.2f} s ({args.images / many:.1f} images/s)", f"{speedup:.2f}x"]]),
        verdict,
    ]), argv=[sys.argv[0], *(sys.argv[1:] if argv is None else argv)],
        title="Batch speed-up (batch_speedup.py)")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
