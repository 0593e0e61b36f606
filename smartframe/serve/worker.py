"""What runs in a worker process: the start-up (models loaded once) and one job per request.

A worker is a plain process that reads a request from its pipe, calls the library, and writes
the answer back: the image logic is the library's, this module only turns its results into
JSON-ready data and bytes. Jobs never raise: every outcome is a reply the server sends on.

Messages (``multiprocessing.connection`` frames on one duplex pipe):

* server -> worker: a pickled ``(job, call, request_id)``, then the request body as raw bytes;
  an empty frame asks the worker to exit;
* worker -> server: ``("ready", pid)`` once after start-up, or ``("failed", message)``; then per
  request ``("ok", payload)`` or ``("error", status, body)``.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import traceback

import numpy as np
from PIL import Image

from ..check import RULES, check
from ..encode import encode, unused_settings
from ..errors import SmartframeError
from ..explain import explain
from ..native import captured_stderr
from ..outputs import folder_names
from ..pipeline import frame_sizes
from ..processes import exit_with_parent
from .errors import from_library, internal_error
from .params import CheckCall, ExplainCall, FrameCall

__all__ = ["worker_main", "run_job", "warm_up", "MIME"]

log = logging.getLogger("smartframe.serve")

MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def warm_up() -> None:
    """Load what the library loads lazily (the face detector, the analysis code) before the
    first request, so that no request pays for it: frame and check a small picture with faces
    looked for."""
    picture = np.full((48, 64, 3), 128, np.uint8)
    frame_sizes(picture, ["64x36"], faces="flag")
    check(encode(Image.fromarray(picture), "png").data, "64x36")


def _check(call: CheckCall, body: bytes) -> dict:
    report = check(body, call.size, **call.arguments)
    data = report.to_dict()
    violated = {v.rule: v.message for v in report.violations}
    faces_looked_for = call.arguments.get("faces", True)
    data["rules"] = [
        {"rule": rule,
         "status": "skipped" if rule == "faces" and not faces_looked_for
         else ("fail" if rule in violated else "pass"),
         "message": violated.get(rule, "")}
        for rule in RULES]
    data["refuses_faces"] = report.target.refuses_faces
    data["faces_detected"] = faces_looked_for
    return data  # the CLI's --json order: ok, violations, faces first


def _frame(call: FrameCall, body: bytes) -> dict:
    results = frame_sizes(body, call.sizes, options=call.options)
    # The download names: the outputs' names in a folder (two targets of one size differ).
    names = folder_names("smartframe", [(r.target, call.encode.get("format") or r.default_format())
                                        for r in results])
    outputs = []
    for result, name in zip(results, names):
        encoded = result.encode(**call.encode)
        report = result.report()
        # As the CLI warns about them: settings that did nothing for this output.
        report["warnings"] += [w for w in unused_settings(encoded.format, quality=call.encode.get("quality"))
                               if w not in report["warnings"]]
        report["output"] = {"format": encoded.format, "bytes": len(encoded), "quality": encoded.quality}
        outputs.append({"report": report, "media_type": MIME[encoded.format], "data": encoded.data,
                        "name": name})
    return {"results": outputs}


def _explain(call: ExplainCall, body: bytes) -> dict:
    overlay, plans = explain(body, call.sizes, max_side=call.max_side, options=call.options)
    return {"plans": [plan.to_dict() for plan in plans], "media_type": "image/png",
            "data": encode(overlay, "png").data, "size": list(overlay.size)}


_JOBS = {"check": _check, "frame": _frame, "explain": _explain}


def run_job(job: str, call: object, body: bytes, request_id: str) -> tuple:
    """One request: the library's answer, or its error as (status, body). What native decoders
    print on the process's stderr while decoding is caught and added to the error message, or
    to the warnings of the report, as the CLI does."""
    said: list[str] = []
    try:
        with captured_stderr() as said:
            payload = _JOBS[job](call, body)
    except SmartframeError as error:
        answer = from_library(error)
        if said:
            answer.message += f" (the decoder said: {'; '.join(dict.fromkeys(said))})"
        return ("error", answer.status, answer.body())
    except Exception:  # noqa: BLE001 -- a bug: logged here with its traceback, 500 to the client
        log.error("request %s: unexpected error in %s\n%s", request_id, job, traceback.format_exc())
        answer = internal_error(request_id)
        return ("error", answer.status, answer.body())
    if said:
        _add_decoder_notes(payload, said)
    return ("ok", payload)


def _add_decoder_notes(payload: dict, said: list[str]) -> None:
    notes = [f"decoder: {line}" for line in dict.fromkeys(said)]
    if "warnings" in payload:
        payload["warnings"] += notes
    for entry in payload.get("results", ()):
        entry["report"]["warnings"] += notes


def worker_main(conn, threads: int) -> None:
    """The loop of one worker process: start up, say ready, then one request at a time.

    SIGINT and SIGTERM are ignored: a Ctrl-C or a SIGTERM sent to the whole process group is
    for the server, which drains its requests and then stops the workers. A worker exits when
    told to, when its pipe closes, or as soon as the server process is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s smartframe.serve[worker %(process)d]: %(message)s")
    exit_with_parent("smartframe-serve-parent-watch")
    try:
        import cv2

        cv2.setNumThreads(max(1, threads))
        warm_up()
    except Exception as error:  # noqa: BLE001 -- any start-up failure is told to the server, which stops
        conn.send_bytes(pickle.dumps(("failed", f"{type(error).__name__}: {error}")))
        return
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            head = conn.recv_bytes()
            if not head:
                return
            body = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the server is gone
        job, call, request_id = pickle.loads(head)
        reply = run_job(job, call, body, request_id)
        del body
        try:
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            return
