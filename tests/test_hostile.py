"""Hostile and broken input: every case of the generated corpus through the API and the CLI.

The API runs in-process under a per-case deadline (SIGALRM); the CLI runs as real
subprocesses, ``smartframe frame`` and ``smartframe check`` per case, each with a
``timeout=`` (so a hang in C code, or a crash, fails the case instead of the run). The
subprocesses of all selected cases are started together on a small pool the first time a
CLI test needs them, and each test waits for its own.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import smartframe
from smartframe.errors import InputError

from hostile_corpus import CASES, FRAME_SIZE, Case

# Every case takes well under a second; the margins are for a loaded two-core machine.
API_DEADLINE_S = 15
CLI_TIMEOUT_S = 90
CLI_WORKERS = 2

_BY_ID = {case.id: case for case in CASES}


class Hang(BaseException):
    """A case ran past its deadline. A BaseException, so no ``except Exception`` (in Pillow
    or anywhere) can swallow it."""


@contextlib.contextmanager
def deadline(seconds: float):
    if not hasattr(signal, "setitimer"):  # Windows: the CLI subprocess timeouts still apply
        yield
        return

    def expire(_signum, _frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_covers_what_the_issue_lists():
    ids = set(_BY_ID)
    for fmt in ("jpeg", "png", "webp", "gif", "bmp", "tiff"):
        assert {f"{fmt}_truncated-{p}" for p in ("16B", "quarter", "half", "tail-1")} <= ids
    for needed in ("empty_file", "random_bytes-png", "png_idat_garbled", "wrong_extension-png-as-jpg",
                   "png_bomb-50000x50000", "gif_screen_bomb", "jpeg_bomb-65500x65500",
                   "png_extreme_size-1x1", "png_extreme_size-1x20000", "png_extreme_size-20000x1",
                   "png_16_bit-rgb16", "cmyk-jpeg", "png_transparency-LA", "png_transparency-P-with-tRNS",
                   "tiff_modes-I-negative", "tiff_modes-F-with-nan-and-inf", "jpeg_orientation-0",
                   "jpeg_orientation-9", "jpeg_orientation-65535", "jpeg_orientation-sshort-minus-1",
                   "huge_exif-png-8MB-makernote", "animated-gif", "animated-webp", "broken_icc-garbage",
                   "tiff_multi_frame-small-then-bomb", "png_metadata_bomb-zTXt", "png_metadata_bomb-iCCP"):
        assert needed in ids, needed
    assert len(ids) == len(CASES)  # ids are unique
    for case in CASES:
        assert case.doc, case.id  # every case says what it is and what must happen


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_api(case: Case):
    data = case.data()
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        _api_outcome(case, data)
        gc.collect()  # an unclosed stream warns when it is collected
    # What Pillow says about a file becomes a note; nothing else may warn (a ResourceWarning
    # here once showed that the input stream was left for the garbage collector to close).
    assert not leaked, [f"{w.category.__name__}: {w.message}" for w in leaked]


def _api_outcome(case: Case, data: bytes) -> None:
    with deadline(API_DEADLINE_S):
        if case.expect is None:
            result = smartframe.frame(data, FRAME_SIZE, strategy="centre")
            assert result.image.size == FRAME_SIZE
            assert result.image.mode == "RGB"
            pixels = np.asarray(result.image)
            assert pixels.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) and pixels.dtype == np.uint8
            if case.verify is not None:
                case.verify(result)
            report = smartframe.check(data, FRAME_SIZE, faces=False)
            assert isinstance(report, smartframe.CheckReport)
            assert report.source.size == result.source.size
        else:
            for call in (lambda: smartframe.frame(data, FRAME_SIZE, strategy="centre"),
                         lambda: smartframe.check(data, FRAME_SIZE, faces=False)):
                with pytest.raises(InputError) as raised:
                    call()
                error = raised.value
                assert type(error) is case.expect, f"{type(error).__name__}: {error}"
                assert error.exit_code == 3 and error.source == "<bytes>"
                message = str(error)
                assert message.startswith("<bytes>: ") and "\n" not in message
                if case.fragment:
                    assert case.fragment in message


@pytest.mark.parametrize("fit", ["pad", "stretch"])
@pytest.mark.parametrize("case_id", ["png_extreme_size-1x1", "png_extreme_size-1x20000",
                                     "png_extreme_size-20000x1", "jpeg_extreme_size-20000x1"])
@pytest.mark.parametrize("size", [FRAME_SIZE, (1, 1), (3, 2000)])
def test_extreme_geometry_with_every_fit(case_id, fit, size):
    """1xN sources into 1x1 or tall outputs, padded or stretched: still the exact size."""
    with deadline(API_DEADLINE_S):
        result = smartframe.frame(_BY_ID[case_id].data(), size, fit=fit)
    assert result.image.size == tuple(size)


def test_a_path_source_names_the_file_in_the_error(tmp_path: Path):
    path = tmp_path / "upload 01.jpg"
    path.write_bytes(_BY_ID["jpeg_truncated-half"].data())
    with pytest.raises(smartframe.CorruptImageError) as raised:
        smartframe.frame(path, FRAME_SIZE, strategy="centre")
    assert raised.value.source == str(path) and str(raised.value).startswith(f"{path}: ")


# --- the CLI, as subprocesses --------------------------------------------------------------------

def _cli(*args: object) -> subprocess.CompletedProcess | str:
    command = [sys.executable, "-m", "smartframe", *map(str, args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                              env={**os.environ, "PYTHONWARNINGS": "default"})
    except subprocess.TimeoutExpired:
        return f"hung: killed after {CLI_TIMEOUT_S} s: {' '.join(command[1:])}"


def _run_case(case: Case, folder: Path) -> dict:
    path = folder / f"{case.id}{case.suffix}"
    path.write_bytes(case.data())
    out = folder / f"{case.id}-out.png"
    return {
        "path": path,
        "out": out,
        "frame": _cli("frame", path, "--size", "x".join(map(str, FRAME_SIZE)), "--out", out,
                      "--strategy", "centre"),
        "check": _cli("check", path, "--size", "x".join(map(str, FRAME_SIZE)), "--no-faces"),
    }


@pytest.fixture(scope="module")
def cli_runs(request, tmp_path_factory):
    """Start the CLI subprocesses of every selected case on a small pool; a future per case."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_cli" and hasattr(item, "callspec")]
    folder = tmp_path_factory.mktemp("hostile-cli")
    pool = ThreadPoolExecutor(max_workers=CLI_WORKERS)
    futures: dict[str, Future] = {case.id: pool.submit(_run_case, case, folder) for case in selected}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cli(case: Case, cli_runs):
    runs = cli_runs[case.id].result()
    path, out = runs["path"], runs["out"]
    for command in ("frame", "check"):
        done = runs[command]
        assert not isinstance(done, str), done  # a hang
        assert done.returncode >= 0, f"{command} crashed with signal {-done.returncode}"
        assert "Traceback" not in done.stderr, done.stderr
        if case.expect is not None:
            assert done.returncode == case.expect.exit_code, (command, done.returncode, done.stderr)
            lines = done.stderr.splitlines()
            assert len(lines) == 1, (command, done.stderr)
            assert lines[0].startswith(f"smartframe: input error: {path}: "), lines[0]
            if case.fragment:
                assert case.fragment in lines[0]
    if case.expect is not None:
        assert not out.exists()  # nothing half-written
        return
    frame, check = runs["frame"], runs["check"]
    assert frame.returncode == 0, frame.stderr
    with Image.open(out) as written:
        assert written.size == FRAME_SIZE
    # Warnings (a broken profile, an enlargement) are one line each, named; nothing else.
    for line in frame.stderr.splitlines():
        assert line.startswith(f"smartframe: warning: {path}: "), line
    assert check.returncode in (0, 1) and check.stderr == "", check.stderr
    assert check.stdout.startswith(f"{path}: ")
