"""Batch runs under faults: broken, vanishing and unreadable inputs; a run killed or interrupted."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from smartframe.batch import frame_many
from smartframe.scenes import landscape_with_subject

from conftest import png_declaring

pytestmark = pytest.mark.slow

SIZES = ["160x90", "90x160"]


def jpeg_bytes(width: int = 480, height: int = 300, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(landscape_with_subject(width, height, seed=seed)[0]).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def manifest_keys(path: Path) -> list[tuple[str, str]]:
    return [(l["input"], l["size"]) for l in map(json.loads, path.read_text().splitlines())]


def test_broken_vanishing_and_unreadable_inputs_are_each_recorded(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    good = [root / f"good{i}.jpg" for i in range(3)]
    for i, path in enumerate(good):
        path.write_bytes(jpeg_bytes(seed=i))
    data = jpeg_bytes(seed=5)
    broken = {
        "truncated.jpg": data[: len(data) // 2],
        "empty.jpg": b"",
        "garbage.png": b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        "text.webp": b"hello, world",
        "bomb.png": png_declaring(50_000, 50_000),
    }
    for name, content in broken.items():
        (root / name).write_bytes(content)
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    os.symlink(root / "loop.jpg", root / "loop.jpg")  # unreadable even for root: ELOOP
    victim = root / "zz-victim.jpg"  # sorted last: deleted before its turn comes
    victim.write_bytes(data)

    def delete_victim(finished, total, record):
        if finished == 1 and victim.exists():
            victim.unlink()

    out = tmp_path / "out"
    report = frame_many([root], SIZES, out, strategy="centre", workers=1, progress=delete_victim)
    names = sorted(["good0.jpg", "good1.jpg", "good2.jpg", "zz-victim.jpg", "dangling.jpg", "loop.jpg",
                    *broken])
    keys = manifest_keys(out / "manifest.jsonl")
    assert sorted(keys) == sorted((str(root / n), s) for n in names for s in SIZES)  # each exactly once
    errors = {(Path(r.input).name, r.size): r.error for r in report.failures}
    assert {name for name, _ in errors} == set(names) - {"good0.jpg", "good1.jpg", "good2.jpg"}
    assert all(e.kind == "input" and e.exit_code == 3 for e in errors.values())
    expected_types = {"truncated.jpg": "CorruptImageError", "empty.jpg": "NotAnImageError",
                      "text.webp": "NotAnImageError", "bomb.png": "ImageTooLargeError",
                      "zz-victim.jpg": "ImageNotFoundError", "dangling.jpg": "ImageNotFoundError",
                      "loop.jpg": "ImageReadError"}
    for name, kind in expected_types.items():
        assert errors[(name, "160x90")].type == kind, (name, errors[(name, "160x90")])
    assert report.done == 6 and report.failed == 2 * (len(names) - 3) and report.exit_code == 1


def test_an_unreadable_file_is_recorded(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root, where chmod 000 does not stop reads (the symlink-loop "
                    "case in the test above covers an unreadable input for root)")
    root = tmp_path / "in"
    root.mkdir()
    (root / "fine.jpg").write_bytes(jpeg_bytes())
    locked = root / "locked.jpg"
    locked.write_bytes(jpeg_bytes(seed=1))
    locked.chmod(0)
    try:
        report = frame_many([root], SIZES, tmp_path / "out", strategy="centre", workers=1)
    finally:
        locked.chmod(0o644)
    (first, second) = report.failures
    assert first.input == str(locked) and first.error.type == "ImageReadError"
    assert report.done == 2


# --- killed and interrupted runs, for real, through the command ---------------------------------

@pytest.fixture
def many_photos(tmp_path):
    """48 copies of one 2400x1600 JPEG: long enough a run (a few seconds) to stop midway."""
    root = tmp_path / "in"
    for folder in ("x", "y"):
        (root / folder).mkdir(parents=True)
    data = jpeg_bytes(2400, 1600)
    paths = []
    for i in range(24):
        for folder in ("x", "y"):  # the same names in two folders
            path = root / folder / f"photo{i:02d}.jpg"
            path.write_bytes(data)
            paths.append(path)
    return root, paths


def start_batch(root: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "smartframe", "batch", str(root), "--size", ",".join(SIZES),
               "--out", str(out), "--workers", "2", "--strategy", "centre"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(manifest: Path, count: int, process: subprocess.Popen, limit: float = 60) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        lines = manifest.read_bytes().count(b"\n") if manifest.exists() else 0
        if lines >= count:
            return lines
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            found.extend(int(c) for c in children)
            stack.extend(int(c) for c in children)
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def check_complete(root: Path, out: Path, paths: list[Path]) -> None:
    """Every (input, size) done exactly once, every output whole, no temporary file anywhere."""
    lines = [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]
    keys = [(l["input"], l["size"]) for l in lines]
    assert sorted(keys) == sorted((str(p), s) for p in paths for s in SIZES)
    assert all(l["status"] == "done" for l in lines)
    outputs = {Path(l["output"]) for l in lines}
    assert len(outputs) == len(lines)
    for line in lines:
        with Image.open(line["output"]) as image:
            image.load()  # a partial file would fail to decode
            assert image.size == tuple(int(v) for v in line["size"].split("x"))
    on_disk = {p for p in out.iterdir() if p.name != "manifest.jsonl"}
    assert on_disk == outputs  # nothing else: no temporary file, and the lock file is removed
    assert not [p for p in root.parent.rglob("*") if p.name.endswith(".part")]


def test_a_run_killed_with_sigkill_resumes_to_exactly_once(many_photos, tmp_path):
    root, paths = many_photos
    out = tmp_path / "out"
    total = len(paths) * len(SIZES)
    process = start_batch(root, out)
    seen = wait_for_lines(out / "manifest.jsonl", 6, process)
    helpers = descendants(process.pid)  # forkserver, resource tracker, the workers
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert seen < total, "the run finished before it could be killed"
    # The workers notice their parent's end at once, even mid-item, and stop.
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]
    again = start_batch(root, out)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    done, _, already = stdout.partition(" done, 0 failed, ")
    assert int(done) + int(already.split()[0]) == total and int(done) < total
    check_complete(root, out, paths)


def test_an_interrupted_run_exits_130_and_resumes(many_photos, tmp_path):
    root, paths = many_photos
    out = tmp_path / "out"
    process = start_batch(root, out)
    wait_for_lines(out / "manifest.jsonl", 4, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "interrupted" in stderr
    # one line that says what was finished, and how to go on
    (line,) = stderr.strip().splitlines()
    counts = line.split("interrupted: ", 1)[1]
    done = int(counts.split(" done")[0])
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert done == len(lines) >= 4 and " not started -> " in line and "run the same command again" in line
    assert not (out / ".smartframe-batch.lock").exists()
    again = start_batch(root, out)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    check_complete(root, out, paths)


def test_workers_stop_mid_item_when_the_run_is_killed(tmp_path):
    """Items that take 30 s: only the workers' watch on their parent can end them early."""
    root = tmp_path / "in"
    root.mkdir()
    for i in range(2):
        (root / f"p{i}.jpg").write_bytes(jpeg_bytes(seed=i))
    script = tmp_path / "run.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import batch_hooks, smartframe\n"
        "if __name__ == '__main__':\n"
        f"    smartframe.frame_many([{str(root)!r}], ['160x90'], {str(tmp_path / 'out')!r}, strategy='centre',\n"
        "                          workers=2, process_item=batch_hooks.slow_long)\n")
    process = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 30
    while len(descendants(process.pid)) < 4 and time.monotonic() < deadline:  # tracker, server, 2 workers
        time.sleep(0.05)
    time.sleep(1.5)  # the workers start up and take their 30 s items
    helpers = descendants(process.pid)
    assert len(helpers) >= 4
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]
