"""The fuzz target, run as a subprocess by tests/test_fuzz.py.

Reads inputs from stdin (a 4-byte big-endian length, then the bytes), frames and checks
each one, and writes one JSON line per input to stdout: the outcome of ``frame`` and of
``check`` (``"ok"`` or the SmartframeError kind), or ``"unexpected"`` with the traceback
of any other exception. A crash (a signal in a decoder) ends the process, which the
parent sees; a hang is the parent's timeout. A length of 0xFFFFFFFF asks for the peak
resident size instead.

The limits are lower than the defaults so that a mutated header cannot make one example
decode hundreds of megapixels; the code paths are the same.
"""

from __future__ import annotations

import json
import struct
import sys
import traceback

import smartframe

SIZE = (48, 32)
LIMITS = smartframe.Limits(max_pixels=4_000_000, max_file_bytes=8 << 20, max_decode_bytes=128 << 20)
STATS = 0xFFFFFFFF


def _outcome(call) -> str | dict:
    try:
        result = call()
    except smartframe.SmartframeError as error:
        message = str(error)
        if not message.startswith("<bytes>: ") or "\n" in message:
            return {"unexpected": f"badly formed message: {message!r}"}
        return type(error).__name__
    except Exception:  # the point of fuzzing: report it with its traceback, never hide it
        return {"unexpected": traceback.format_exc()}
    return result


def _frame(data: bytes) -> str | dict:
    result = smartframe.frame(data, SIZE, strategy="centre", limits=LIMITS)
    if result.image.size != SIZE or result.image.mode != "RGB":
        return {"unexpected": f"framed to {result.image.size} {result.image.mode}"}
    return "ok"


def _check(data: bytes) -> str:
    smartframe.check(data, SIZE, faces=False, limits=LIMITS)
    return "ok"


def _peak() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            return
        (length,) = struct.unpack(">I", header)
        if length == STATS:
            stdout.write(json.dumps({"peak": _peak()}) + "\n")
            stdout.flush()
            continue
        data = stdin.read(length)
        report = {"frame": _outcome(lambda: _frame(data)), "check": _outcome(lambda: _check(data))}
        stdout.write(json.dumps(report) + "\n")
        stdout.flush()


if __name__ == "__main__":
    main()
