"""Fuzzing: hypothesis mutates real encoded images; smartframe must only ever raise its own
errors or frame exactly, never crash, never hang.

The seeds are small images this test encodes in every format and many variants (JPEG
baseline, progressive, CMYK, with EXIF and ICC; PNG in several modes, with metadata,
animated; GIF; WebP lossy, lossless, animated; BMP; TIFF raw, deflate, LZW, JPEG-in-TIFF,
multi-page, float; AVIF). Mutations: byte flips and overwrites, truncations, deletions,
insertions, splices of one part of the file into another, header integers set to
boundary values, and chunk/segment-level drops, duplications and swaps for PNG, JPEG and
WebP (PNG CRCs optionally recomputed, so a mutation gets past the checksum to the
decoder).

The target runs in a persistent subprocess (tests/fuzz_worker.py): a segfault in a C
decoder ends that process, not the test run, and is reported with the input; each input
has a timeout. Bounded for CI by ``SMARTFRAME_FUZZ_EXAMPLES`` (default 10 000, about 30 s
on two cores); the examples are derandomized (the same every run) unless
``SMARTFRAME_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, features

from hostile_corpus import (
    HAS_HEIF,
    orientation_exif,
    png_chunks,
    png_join,
    png_raw,
    webp_chunks,
    webp_riff,
)

EXAMPLES = int(os.environ.get("SMARTFRAME_FUZZ_EXAMPLES", "10000"))
RANDOM = os.environ.get("SMARTFRAME_FUZZ_RANDOM") == "1"
TIMEOUT_S = 20  # one input; they take milliseconds
WORKER = Path(__file__).with_name("fuzz_worker.py")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="select() on pipes is POSIX-only")]


# --- seeds ---------------------------------------------------------------------------------------

def _picture(width=40, height=30, seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.dstack([x * 6, y * 8, (x + y) * 3]) % 256
    return Image.fromarray(np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8))


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    # A copy: Pillow's JPEG writer leaves its encoder settings on the image it saved,
    # which would break a later TIFF save of the same object.
    buffer = io.BytesIO()
    image.copy().save(buffer, fmt, **params)
    return buffer.getvalue()


def build_seeds() -> dict[str, bytes]:
    picture = _picture()
    alpha = picture.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(picture.size))
    frames = [_picture(seed=s) for s in range(3)]
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = orientation_exif(3, 1, struct.pack("<H", 6))
    palette = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    grey16 = (np.mgrid[0:30, 0:40][1] * 1600).astype(">u2")
    seeds = {
        "jpeg": _save(picture, "JPEG", quality=80),
        "jpeg-progressive": _save(picture, "JPEG", quality=80, progressive=True),
        "jpeg-cmyk": _save(picture.convert("CMYK"), "JPEG", quality=80),
        "jpeg-grey-exif-icc": _save(picture.convert("L"), "JPEG", exif=exif, icc_profile=icc),
        "jpeg-444-restart": _save(picture, "JPEG", subsampling=0, restart_marker_blocks=1),
        "mpo": _save(frames[0], "MPO", save_all=True, append_images=frames[1:2]),
        "png": _save(picture, "PNG"),
        "png-rgba-meta": _save(alpha, "PNG", icc_profile=icc, exif=exif,
                               pnginfo=_png_text()),
        "png-palette-trns": _save(palette, "PNG", transparency=3),
        "png-grey16": png_raw(40, 30, 16, 0, grey16.tobytes()),
        "png-1bit": _save(picture.convert("1"), "PNG"),
        "apng": _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=30),
        "gif": _save(palette, "GIF"),
        "gif-animated": _save(frames[0].convert("P"), "GIF", save_all=True, append_images=frames[1:],
                              transparency=0, duration=30, loop=0),
        "webp": _save(picture, "WEBP", quality=70),
        "webp-lossless-alpha": _save(alpha, "WEBP", lossless=True, exif=exif, icc_profile=icc),
        "webp-animated": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=30),
        "bmp": _save(picture, "BMP"),
        "bmp-palette": _save(palette, "BMP"),
        "tiff": _save(picture, "TIFF"),
        "tiff-deflate-exif": _save(picture, "TIFF", compression="tiff_adobe_deflate", exif=exif),
        "tiff-lzw-multipage": _save(frames[0], "TIFF", compression="tiff_lzw", save_all=True,
                                    append_images=[f.copy() for f in frames[1:]]),
        "tiff-jpeg": _save(picture, "TIFF", compression="jpeg"),
        "tiff-packbits-cmyk": _save(picture.convert("CMYK"), "TIFF", compression="packbits"),
        "tiff-float": _save(Image.fromarray(np.linspace(-1, 3, 1200, dtype=np.float32).reshape(30, 40)), "TIFF"),
        "tiff-grey16": _save(Image.fromarray(grey16.astype(np.uint16)), "TIFF"),
    }
    if features.check("avif"):
        seeds["avif"] = _save(picture, "AVIF", quality=50)
    if HAS_HEIF:
        seeds["heic"] = _save(picture, "HEIF", quality=50)
    return seeds


def _png_text():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "plain text")
    info.add_text("Compressed", "zipped " * 20, zip=True)
    info.add_itxt("International", "ünïcode", lang="de", tkey="Kommentar")
    return info


SEEDS = build_seeds()


# --- mutations -----------------------------------------------------------------------------------

_INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
                0x80000000, 0xFFFFFFFF]

# Where a mutation lands: the header (past the magic number, which runs to byte 12 in RIFF
# and ISO-BMFF files), anywhere (an integer taken modulo the length past the first 8
# bytes), or, one time in ten, the magic number itself (which only ever gives
# NotAnImageError). Hypothesis favours 0 and tiny values, so plain offsets or fractions
# would put most mutations on the magic number.
_anywhere = st.tuples(st.just("any"), st.integers(0, 1 << 24))
_REGIONS = {"header": st.integers(12, 111), "anywhere": _anywhere, "magic": st.integers(0, 11)}
position = st.sampled_from(["header"] * 4 + ["anywhere"] * 5 + ["magic"]).flatmap(_REGIONS.__getitem__)
_fraction = st.integers(5, 999)  # per mille of the length

mutation = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("set"), position, st.sampled_from([0, 1, 0x7F, 0x80, 0xFE, 0xFF])),
    st.tuples(st.just("truncate"), _fraction),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("splice"), _fraction, st.integers(1, 512), position),
    st.tuples(st.just("integer"), position, st.sampled_from([2, 4]), st.sampled_from(["<", ">"]),
              st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 0xFFFFFFFF))),
    st.tuples(st.just("unit"), st.sampled_from(["drop", "duplicate", "swap"]),
              st.integers(0, 1000), st.integers(0, 1000)),
)


def _at(data: bytearray, where) -> int:
    if not data:
        return 0
    if isinstance(where, tuple):
        return 8 + where[1] % (len(data) - 8) if len(data) > 8 else where[1] % len(data)
    return min(len(data) - 1, where)


def _units(data: bytes) -> tuple[list[bytes], bytes, bytes] | None:
    """A file as (units, head, tail) for structure-aware mutations: PNG chunks, JPEG
    marker segments before the first scan, WebP RIFF chunks."""
    if data.startswith(b"\x89PNG"):
        chunks = png_chunks(data)
        return [struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b)) for k, b in chunks], \
            data[:8], b""
    if data.startswith(b"\xff\xd8"):
        units, at = [], 2
        while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] != 0xDA:
            length = struct.unpack(">H", data[at + 2:at + 4])[0]
            units.append(data[at:at + 2 + length])
            at += 2 + length
        return units, data[:2], data[at:]
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        chunks = webp_chunks(data)
        return [k + struct.pack("<I", len(c)) + c + b"\0" * (len(c) % 2) for k, c in chunks], b"", b""
    return None


def mutate(data: bytes, operations, fix_png_crc: bool) -> bytes:
    out = bytearray(data)
    for operation in operations:
        kind = operation[0]
        if kind == "flip" and out:
            out[_at(out, operation[1])] ^= operation[2]
        elif kind == "set" and out:
            out[_at(out, operation[1])] = operation[2]
        elif kind == "truncate":
            del out[len(out) * operation[1] // 1000:]
        elif kind == "delete" and out:
            start = _at(out, operation[1])
            del out[start:start + operation[2]]
        elif kind == "insert":
            at = _at(out, operation[1])
            out[at:at] = operation[2]
        elif kind == "splice" and out:
            start = len(out) * operation[1] // 1000
            piece = bytes(out[start:start + operation[2]])
            at = _at(out, operation[3])
            out[at:at] = piece
        elif kind == "integer" and len(out) >= operation[2]:
            at = min(_at(out, operation[1]), len(out) - operation[2])
            fmt = operation[3] + ("H" if operation[2] == 2 else "I")
            out[at:at + operation[2]] = struct.pack(fmt, operation[4] & (0xFFFF if operation[2] == 2 else 0xFFFFFFFF))
        elif kind == "unit":
            parsed = _units(bytes(out))
            if parsed and parsed[0]:
                units, head, tail = parsed
                i, j = operation[2] % len(units), operation[3] % len(units)
                if operation[1] == "drop":
                    del units[i]
                elif operation[1] == "duplicate":
                    units.insert(j, units[i])
                else:
                    units[i], units[j] = units[j], units[i]
                body = b"".join(units)
                if head == b"" and bytes(out).startswith(b"RIFF"):
                    out = bytearray(webp_riff([(u[:4], u[8:8 + struct.unpack("<I", u[4:8])[0]]) for u in units]))
                else:
                    out = bytearray(head + body + tail)
    if fix_png_crc and bytes(out).startswith(b"\x89PNG"):
        out = bytearray(png_join(png_chunks(bytes(out))))
    return bytes(out)


# --- the worker ----------------------------------------------------------------------------------

class Crash(AssertionError):
    pass


class Worker:
    """The fuzz target in a subprocess, restarted after a crash or a hang."""

    def __init__(self, stderr_path: Path):
        self._stderr_path = stderr_path
        self._process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._stderr = open(self._stderr_path, "ab")
            self._process = subprocess.Popen(
                [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env={**os.environ, "PYTHONWARNINGS": "default"})
        return self._process

    def _request(self, header: bytes, data: bytes = b"") -> dict:
        process = self._start()
        process.stdin.write(header + data)
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
        if not ready:
            self.stop()
            raise Crash(f"no answer within {TIMEOUT_S} s: a hang")
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self._process = None
            raise Crash(f"the worker died (exit status {code}; a negative status is a signal)")
        return json.loads(line)

    def run(self, data: bytes) -> dict:
        return self._request(struct.pack(">I", len(data)), data)

    def peak(self) -> int:
        return self._request(struct.pack(">I", 0xFFFFFFFF))["peak"]

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
            self._stderr.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    target = Worker(tmp_path_factory.mktemp("fuzz") / "worker-stderr.txt")
    yield target
    target.stop()


STATS: dict = {"examples": 0, "outcomes": collections.Counter(), "by_seed": collections.defaultdict(collections.Counter)}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(sorted(SEEDS)), operations=st.lists(mutation, min_size=1, max_size=4),
       fix_png_crc=st.booleans())
def test_mutated_images_only_raise_smartframe_errors(worker, seed, operations, fix_png_crc):
    data = mutate(SEEDS[seed], operations, fix_png_crc)
    report = worker.run(data)
    for call in ("frame", "check"):
        outcome = report[call]
        assert not isinstance(outcome, dict), f"{call} on a mutated {seed}:\n{outcome['unexpected']}"
        STATS["outcomes"][f"{call}: {outcome}"] += 1
    STATS["by_seed"][seed][report["frame"]] += 1
    STATS["examples"] += 1
    # A file check() cannot decode must not frame (check decodes smaller, never less).
    if report["check"] in ("CorruptImageError", "NotAnImageError"):
        assert report["frame"] != "ok", f"check refused a mutated {seed} that frame() accepted"


def test_the_seeds_themselves_frame(worker):
    for name, data in SEEDS.items():
        assert worker.run(data) == {"frame": "ok", "check": "ok"}, name


def test_fuzzing_reached_the_decoders_and_stayed_small(worker, tmp_path_factory):
    """Runs after the fuzz test (file order): the mutations must have produced both
    usable and refused inputs, in several error kinds, and the worker's memory stayed
    within its limits; Python printed nothing to stderr (no leaked warning)."""
    if STATS["examples"] == 0:
        pytest.skip("the fuzz test did not run")
    frames = collections.Counter({k.split(": ")[1]: v for k, v in STATS["outcomes"].items()
                                  if k.startswith("frame")})
    total = sum(frames.values())
    print(f"\nfuzzing: {STATS['examples']} examples; frame outcomes {dict(frames)}")
    for seed, counts in sorted(STATS["by_seed"].items()):
        print(f"  {seed:22s} {dict(counts)}")
    assert frames["ok"] >= 0.1 * total  # mutations often leave a decodable image
    assert sum(v for k, v in frames.items() if k != "ok") >= 0.1 * total
    assert len([k for k in frames if k != "ok"]) >= 3  # several kinds of refusal
    assert worker.peak() < 1024 * 2**20
    # C libraries may print there (libtiff does: "ZIPDecode: Decoding error ..."; the CLI
    # folds those into its one line); Python must not: no leaked warning, no unraisable.
    stderr = worker._stderr_path.read_text(errors="replace")
    python_noise = re.findall(r"^\S+:\d+: \w*Warning: .*$|^Exception ignored.*$|^Traceback.*$", stderr, re.M)
    assert not python_noise, python_noise[:5]
