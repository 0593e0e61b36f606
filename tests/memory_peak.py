"""Peak memory of framing the worst inputs the default limits admit, measured.

Each case writes an input file (streamed, so the writer never holds the image), then a
fresh Python process frames it to 1280x720 (``strategy="centre"``) and reports its peak
resident size (``VmHWM`` in /proc/self/status) and its size right after importing
smartframe. tests/test_memory.py asserts on these numbers; run this file to print them:

    python tests/memory_peak.py            # the table in the README, "Limits"

Linux only (VmHWM).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).parent))

from hostile_corpus import (  # noqa: E402
    PNG_SIGNATURE,
    encode,
    jpeg_join,
    jpeg_segments,
    photo,
    png_chunk,
    tiff_ifd,
    webp_small_frame_on_canvas,
)

#: The output every case is framed to (the presets are at most 4K; see the README).
OUTPUT = "1280x720"

# The child: import, note the baseline, frame, report.
_CHILD = r"""
import json, sys, time
def hwm():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
import smartframe
baseline = hwm()
start = time.perf_counter()
try:
    result = smartframe.frame(sys.argv[1], sys.argv[2], strategy="centre", fit=sys.argv[3])
    outcome = "framed " + "x".join(map(str, result.image.size))
except smartframe.SmartframeError as error:
    outcome = type(error).__name__
print(json.dumps({"baseline": baseline, "peak": hwm(), "seconds": time.perf_counter() - start,
                  "outcome": outcome}))
"""


@dataclass(frozen=True)
class MemoryCase:
    """An input near a limit; ``outcome`` is what framing it must give."""

    id: str
    write: Callable[[Path], None]
    suffix: str
    outcome: str
    what: str
    output: str = OUTPUT


def _png_stream(path: Path, width: int, height: int, colour_type: int, depth: int, row: bytes) -> None:
    """A PNG whose every scanline is ``row``, written without holding the image."""
    compressor = zlib.compressobj(1)
    with open(path, "wb") as out:
        out.write(PNG_SIGNATURE + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                                 colour_type, 0, 0, 0)))
        line = b"\0" + row
        pending = b""
        for _ in range(height):
            pending += compressor.compress(line)
            if len(pending) > 1 << 20:
                out.write(png_chunk(b"IDAT", pending))
                pending = b""
        out.write(png_chunk(b"IDAT", pending + compressor.flush()) + png_chunk(b"IEND", b""))


def _gradient_row(width: int, channels: int) -> bytes:
    """One 8-bit scanline: a ramp repeated every 256 pixels, the same in every channel."""
    return bytes((x * 7) & 0xFF for x in range(width) for _ in range(channels))


def _tiff_deflate(path: Path, width: int, height: int, orientation: int) -> None:
    """An RGB deflate TIFF in 64-row strips of one grey level, orientation tag set."""
    rows = 64
    strip = zlib.compress(b"\x80" * (width * 3 * rows), 9)
    last_rows = height - rows * (height // rows)
    last = zlib.compress(b"\x80" * (width * 3 * last_rows), 9) if last_rows else b""
    count = height // rows + (1 if last_rows else 0)
    sizes = [len(strip)] * (height // rows) + ([len(last)] if last_rows else [])
    offsets, at = [], 8
    for size in sizes:
        offsets.append(at)
        at += size
    entries = [
        (256, 4, 1, struct.pack("<I", width)), (257, 4, 1, struct.pack("<I", height)),
        (258, 3, 3, struct.pack("<HHH", 8, 8, 8)), (259, 3, 1, struct.pack("<H", 8)),
        (262, 3, 1, struct.pack("<H", 2)), (273, 4, count, struct.pack(f"<{count}I", *offsets)),
        (274, 3, 1, struct.pack("<H", orientation)), (277, 3, 1, struct.pack("<H", 3)),
        (278, 4, 1, struct.pack("<I", rows)), (279, 4, count, struct.pack(f"<{count}I", *sizes)),
        (284, 3, 1, struct.pack("<H", 1)),
    ]
    with open(path, "wb") as out:
        out.write(b"II*\0" + struct.pack("<I", at))
        out.write(strip * (height // rows) + last)
        out.write(tiff_ifd(entries, base=at))


def _jpeg_declaring(path: Path, width: int, height: int, **params) -> None:
    """A tiny real JPEG whose frame header declares ``width`` x ``height``."""
    segments, rest = jpeg_segments(encode(photo(16, 16), "JPEG", **params))
    patched = [(m, b[:1] + struct.pack(">HH", height, width) + b[5:] if m in (0xC0, 0xC2) else b)
               for m, b in segments]
    path.write_bytes(jpeg_join(patched, rest))


def _png_declaring(path: Path, width: int, height: int) -> None:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(PNG_SIGNATURE + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


CASES = [
    MemoryCase("png-rgb-150MP", lambda p: _png_stream(p, 12247, 12247, 2, 8, _gradient_row(12247, 3)),
               ".png", "framed 1280x720", "a real 12247x12247 RGB PNG, just under max_pixels"),
    MemoryCase("png-grey16-150MP", lambda p: _png_stream(p, 12247, 12247, 0, 16, bytes(2 * 12247)),
               ".png", "framed 1280x720", "a 16-bit grey PNG of 12247x12247 (was 5 GB)"),
    MemoryCase("png-rgba-panorama-140MP", lambda p: _png_stream(p, 100000, 1400, 6, 8, _gradient_row(100000, 4)),
               ".png", "framed 3840x2160",
               "a 100000x1400 RGBA panorama framed to 4K: no reduction, the full-size working image",
               output="3840x2160"),
    MemoryCase("jpeg-progressive-444-bomb-150MP",
               lambda p: _jpeg_declaring(p, 12247, 12247, progressive=True, subsampling=0),
               ".jpg", "framed 1280x720",
               "a 616-byte progressive 4:4:4 JPEG declaring 12247x12247: libjpeg allocates and "
               "clears every coefficient, meets the end of the data and (as libjpeg does) decodes "
               "the rest as grey"),
    MemoryCase("jpeg-baseline-bomb-150MP", lambda p: _jpeg_declaring(p, 12247, 12247),
               ".jpg", "framed 1280x720", "a 682-byte baseline JPEG declaring 12247x12247 (drafted at 1/8)"),
    MemoryCase("webp-canvas-64MP", lambda p: p.write_bytes(webp_small_frame_on_canvas(8000, 8000)),
               ".webp", "framed 1280x720", "a 202-byte WebP with an 8000x8000 canvas: 16 bytes a pixel"),
    MemoryCase("tiff-rotated-121MP", lambda p: _tiff_deflate(p, 11000, 11000, 6),
               ".tif", "framed 1280x720", "a deflate TIFF of 11000x11000 with orientation 6 "
               "(Pillow turns it upright into a second image)"),
    MemoryCase("webp-canvas-81MP", lambda p: p.write_bytes(webp_small_frame_on_canvas(9000, 9000)),
               ".webp", "ImageTooLargeError", "the same WebP with a 9000x9000 canvas: over max_decode_bytes, "
               "refused from the estimate"),
    MemoryCase("png-bomb-just-over-150MP", lambda p: _png_declaring(p, 12248, 12248),
               ".png", "ImageTooLargeError", "a PNG declaring 12248x12248: refused from the header"),
]


def estimate(path: Path, output: str) -> int | None:
    """smartframe's own estimate of the decode (bytes), from a run refused at 1 byte."""
    import smartframe

    try:
        smartframe.frame(path, output, strategy="centre", limits=smartframe.Limits(max_decode_bytes=1))
    except smartframe.ImageTooLargeError as error:
        found = re.search(r"decoding needs about (\d+) MiB", str(error))
        return int(found.group(1)) * 2**20 if found else None
    except smartframe.SmartframeError:
        return None
    return None


def measure(case: MemoryCase, folder: Path) -> dict:
    path = folder / f"{case.id}{case.suffix}"
    start = time.perf_counter()
    case.write(path)
    written = time.perf_counter() - start
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), case.output, "cover"],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{case.id}: the measuring process failed: {done.stderr}")
    result = json.loads(done.stdout)
    result.update(id=case.id, file_bytes=path.stat().st_size, estimate=estimate(path, case.output),
                  write_seconds=written)
    path.unlink()
    return result


def main() -> None:
    print(f"Python {sys.version.split()[0]}, output {OUTPUT} unless noted, default limits\n")
    print("| input | outcome | file | estimate | peak RSS | after import |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            r = measure(case, Path(folder))
            estimate_text = f"{r['estimate'] / 2**20:.0f} MiB" if r["estimate"] else "-"
            print(f"| {case.id}: {case.what} | {r['outcome']} | {r['file_bytes']:,} B | {estimate_text} "
                  f"| {r['peak'] / 2**20:.0f} MiB | {r['baseline'] / 2**20:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
