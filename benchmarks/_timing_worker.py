"""Times smartframe calls for ``benchmarks/faces.py`` in a process of their own.

Two of these run side by side -- one on this checkout, one on the baseline commit (today's
detector) -- so that both versions are timed in the same run, in alternating rounds. Only API
both versions have is used. Protocol: one JSON command per line on stdin, one JSON answer per
line on stdout; what the libraries print goes to stderr.

Commands: ``{"op": "check", "path", "size", "calls"}`` and ``{"op": "frame", ...}`` answer
``{"ms": [...], "faces": n}``; ``{"op": "detect", "paths", "min_size_px"}`` answers the
detection time of each photo, decoded beforehand (``{"ms": [...], "faces": [...]}``).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    protocol, sys.stdout = sys.stdout, sys.stderr  # library prints must not reach the protocol

    import numpy as np

    import smartframe
    from smartframe.analysis import faces

    if hasattr(getattr(faces, "detector", None), "TURNS"):
        backend = "yunet upright and turned + centerface second opinion (onnxruntime)"
    elif hasattr(faces, "YUNET_N"):
        backend = "yunet (onnxruntime)"
    else:
        backend = "blazeface (" + ("mediapipe + OpenCV" if faces.mediapipe_available()
                                   and faces.default_backend() != "opencv" else "OpenCV") + ")"
    pixels: dict[str, np.ndarray] = {}

    def answer(data: dict) -> None:
        protocol.write(json.dumps(data) + "\n")
        protocol.flush()

    answer({"smartframe": smartframe.__file__, "detector": backend})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "check":
            times, found = [], 0
            for _ in range(command["calls"]):
                start = time.perf_counter()
                found = len(smartframe.check(command["path"], command["size"]).faces)
                times.append((time.perf_counter() - start) * 1000)
            answer({"ms": times, "faces": found})
        elif op == "frame":
            times, found = [], 0
            for _ in range(command["calls"]):
                start = time.perf_counter()
                result = smartframe.frame(command["path"], command["size"])
                result.to_bytes("jpeg", quality=90)
                times.append((time.perf_counter() - start) * 1000)
                found = len(result.faces)
            answer({"ms": times, "faces": found})
        elif op == "detect":
            times, counts = [], []
            for path in command["paths"]:
                if path not in pixels:
                    pixels[path] = np.ascontiguousarray(np.asarray(smartframe.load(path).pixels)[..., :3])
                start = time.perf_counter()
                counts.append(len(faces.detect_faces(pixels[path], min_size_px=command["min_size_px"])))
                times.append((time.perf_counter() - start) * 1000)
            answer({"ms": times, "faces": counts})
        elif op == "quit":
            return
        else:
            raise ValueError(f"unknown command {op!r}")


if __name__ == "__main__":
    main()
