"""Times framing calls for ``benchmarks/speed.py``'s matrix in a long-lived process of its own.

One worker per library (smartframe from this checkout, smartframe from the baseline revision,
pyvips, Pillow), started once and warmed up, so the matrix pays for imports and model loading
once rather than once per call, and the parent makes the cases take turns call by call.
Protocol: one JSON command per line on stdin, one JSON answer per line on stdout; whatever the
libraries print goes to stderr.

Commands (``size`` is ``[width, height]``):

* ``{"op": "run", "case", "path", "size"}`` -> ``{"ms", "cpu_ms", "out": [w, h], "format", "box",
  "source"}``: one call from the file to JPEG bytes, timed (wall clock, and the CPU time of all
  the process's threads: on a loaded machine the wall clock favours whoever runs more
  threads, the CPU time does not); then (untimed) the bytes are decoded and their
  size and format reported, with the crop box in source pixels where the case exposes one
  (``box`` None otherwise) and the source size, for the parent to assert on.
* ``{"op": "stages", "path", "size"}`` -> ``{"decode", "maps", "faces", "plan", "render",
  "encode", "ms"}``: smartframe's default framing taken apart into its stages, each timed
  (ms), run one after the other on this thread (``frame`` itself overlaps the maps and the
  faces on two threads when it may); ``ms`` is their sum.
* ``{"op": "check", "path", "size"}`` -> ``{"ms", "faces"}``: ``smartframe.check``, timed.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time

QUALITY = 90


def case_function(name: str):
    """The function for one case: path, (width, height) -> (JPEG bytes, crop box or None)."""
    if name.startswith("smartframe"):
        import smartframe

        options = {"smartframe smart+faces": {}, "smartframe smart+flag": {"faces": "flag"},
                   "smartframe classic": {"strategy": "classic"}, "smartframe centre": {"strategy": "centre"}}[name]

        def run(path, size):
            result = smartframe.frame(path, tuple(size), **options)
            return result.to_bytes("jpeg", quality=QUALITY), list(result.crop_box)

        return run
    if name == "Pillow fit+draft":
        from PIL import Image, ImageOps

        def pillow(path, size):
            width, height = size
            with Image.open(path) as image:
                w, h = image.size  # stored size; the test JPEGs carry no EXIF rotation
                scale = max(width / w, height / h)
                image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
                image = ImageOps.exif_transpose(image)
                framed = ImageOps.fit(image.convert("RGB"), tuple(size), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            framed.save(buffer, "JPEG", quality=QUALITY)
            return buffer.getvalue(), None

        return pillow
    if name == "pyvips attention":
        import pyvips

        # No operation cache: a server frames a different photo each time, so every call here
        # does the whole work (decode, attention, resize, encode) as it would there.
        pyvips.cache_set_max(0)

        def vips(path, size):
            image = pyvips.Image.thumbnail(path, size[0], height=size[1], crop="attention")
            return image.write_to_buffer(f".jpg[Q={QUALITY}]"), None

        return vips
    raise ValueError(f"unknown case {name!r}")


def stages(path: str, size: list[int]) -> dict:
    """smartframe's default framing of ``path`` to ``size``, stage by stage (ms each)."""
    from smartframe.analysis import Analysis, _fuse, _maps
    from smartframe.analysis.faces import detect_source_faces
    from smartframe.encode import encode
    from smartframe.load import open_source
    from smartframe.options import FrameOptions
    from smartframe.pipeline import _render, analysis_needs
    from smartframe.plan import framing_region, max_reduction_for, plan_frame
    from smartframe.targets import parse_target, resolve_target

    opts = FrameOptions()
    times: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = (now - clock) * 1000.0
        clock = now

    with open_source(path, limits=opts.limits) as opened:
        region = framing_region(opened.info.size, opts)
        target = resolve_target(parse_target(f"{size[0]}x{size[1]}"), (region.width, region.height))
        loaded = opened.decode(max_reduction=max_reduction_for(region, target.size, opts.fit))
    lap("decode")
    try:
        maps, want_faces, min_face_px = analysis_needs(opts, region, [target], source_size=loaded.size)
    except TypeError:  # a revision before analysis_needs took the source size
        maps, want_faces, min_face_px = analysis_needs(opts, region, [target])
    # as analyse() does: no maps when none is needed (e.g. the window is the whole region)
    made = _maps(loaded.pixels, loaded.working_scale, region, maps) if maps is not None else None
    lap("maps")
    found = detect_source_faces(loaded.pixels, loaded.working_scale, min_size_px=min_face_px,
                                min_score=opts.min_face_score) if want_faces else ()
    lap("faces")
    short_side = min(loaded.size.width, loaded.size.height)
    analysis = _fuse(made, found, short_side) if made is not None else Analysis(importance=None, faces=found)
    plan = plan_frame(target, loaded.size, opts, analysis, working_scale=loaded.working_scale,
                      notes=loaded.notes)
    lap("plan")
    result = _render(loaded, plan, opts)
    lap("render")
    encode(result.image, "jpeg", quality=QUALITY, max_bytes=None)
    lap("encode")
    times["ms"] = sum(times.values())
    return times


def main() -> None:
    protocol, sys.stdout = sys.stdout, sys.stderr  # library prints must not reach the protocol
    from PIL import Image

    functions: dict = {}

    def answer(data: dict) -> None:
        protocol.write(json.dumps(data) + "\n")
        protocol.flush()

    import smartframe

    answer({"smartframe": smartframe.__file__})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "run":
                case = command["case"]
                if case not in functions:
                    functions[case] = case_function(case)
                started, cpu = time.perf_counter(), time.process_time()
                data, box = functions[case](command["path"], command["size"])
                ms = (time.perf_counter() - started) * 1000.0
                cpu_ms = (time.process_time() - cpu) * 1000.0  # every thread of this process
                with Image.open(io.BytesIO(data)) as out:
                    out.load()
                    shape, fmt = list(out.size), out.format
                with Image.open(command["path"]) as source:
                    source_size = list(source.size)
                answer({"ms": ms, "cpu_ms": cpu_ms, "out": shape, "format": fmt, "box": box, "source": source_size})
            elif op == "stages":
                answer(stages(command["path"], command["size"]))
            elif op == "check":
                import smartframe

                started = time.perf_counter()
                report = smartframe.check(command["path"], f"{command['size'][0]}x{command['size'][1]}")
                answer({"ms": (time.perf_counter() - started) * 1000.0, "faces": len(report.faces)})
            elif op == "quit":
                return
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as error:  # reported to the parent, which shows it as n/a
            answer({"error": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    main()
