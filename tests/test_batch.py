"""Batch runs: inputs, naming, manifest, resume, time limit, worker faults, the CLI command."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import smartframe
from smartframe.batch import (
    ItemRecord,
    collect_inputs,
    frame_many,
    output_name,
    read_manifest,
)
from smartframe.batch.records import _FolderLock
from smartframe.cli import main
from smartframe.errors import OptionError
from smartframe.scenes import landscape_with_subject

import batch_hooks
from conftest import marker_image, mean_abs_diff, stored_for_orientation, with_orientation

pytestmark = pytest.mark.slow  # worker processes start in each test (still in the default run)


def make_photo(path: Path, width: int = 640, height: int = 400, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(landscape_with_subject(width, height, seed=seed)[0]).save(path, quality=90)
    return path


@pytest.fixture
def photos(tmp_path):
    """Four photos in two folders, two of them with the same stem."""
    root = tmp_path / "in"
    paths = [make_photo(root / "a" / "beach.jpg", seed=1), make_photo(root / "a" / "city.jpg", seed=2),
             make_photo(root / "b" / "beach.jpg", seed=3), make_photo(root / "b" / "deep" / "x.png", seed=4)]
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.jpg").write_bytes(b"hidden files are skipped")
    return root, [str(p) for p in paths]


def manifest_lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --- the whole run ------------------------------------------------------------------------------

def test_every_input_and_size_is_framed_once_into_the_output_folder(photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    report = frame_many([root], ["160x90", "sora-2"], out, strategy="centre", workers=2)
    assert (report.total, report.done, report.failed, report.already_done) == (8, 8, 0, 0)
    assert report.exit_code == 0
    lines = manifest_lines(out / "manifest.jsonl")
    assert sorted((l["input"], l["size"]) for l in lines) == sorted(
        (p, s) for p in paths for s in ("160x90", "sora-2"))
    for line in lines:
        assert line["status"] == "done" and line["error"] is None
        output = Path(line["output"])
        assert output.parent == out and output.exists()
        with Image.open(output) as image:
            expected = (160, 90) if line["size"] == "160x90" else (1280, 720)
            assert image.size == expected and image.format == "JPEG"
        assert len(line["crop_box"]) == 4 and line["strategy"] == "centre"
        assert line["target"] in ("160x90", "sora-2:1280x720")
        assert set(line["timings_ms"]) == {"frame", "encode", "write", "total"}
        assert line["timings_ms"]["total"] >= line["timings_ms"]["frame"] > 0
    # Same stem in two folders: two different outputs.
    beach = [l["output"] for l in lines if "beach" in l["input"] and l["size"] == "160x90"]
    assert len(set(beach)) == 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [Path(l["output"]).name for l in lines] + ["manifest.jsonl"])


def test_the_output_equals_framing_the_input_alone(tmp_path):
    upright = np.asarray(Image.fromarray(marker_image(64, 48)).resize((1200, 900), Image.BILINEAR))
    source = tmp_path / "in" / "rotated.jpg"
    source.parent.mkdir()
    source.write_bytes(with_orientation(stored_for_orientation(Image.fromarray(upright), 6), "JPEG", 6,
                                        quality=95))
    report = frame_many([source], ["320x180"], tmp_path / "out", strategy="centre", workers=1, format="png")
    (record,) = report.records
    alone = smartframe.frame(source, "320x180", strategy="centre")
    assert record.crop_box == alone.crop_box
    assert np.array_equal(np.asarray(Image.open(record.output)), np.asarray(alone.image))
    assert mean_abs_diff(np.asarray(Image.open(record.output)),
                         np.asarray(Image.fromarray(upright).resize((320, 180), Image.LANCZOS,
                                                                    box=alone.crop_box))) < 3.0


def test_progress_is_reported_through_the_callback(photos, tmp_path):
    root, _ = photos
    events = []
    frame_many([root], ["160x90"], tmp_path / "out", strategy="centre", workers=2,
               progress=lambda finished, total, record: events.append((finished, total, record)))
    assert events[0] == (0, 4, None)
    assert [e[0] for e in events[1:]] == [1, 2, 3, 4] and all(e[1] == 4 for e in events)
    assert all(isinstance(e[2], ItemRecord) for e in events[1:])


def test_one_size_failing_does_not_fail_the_others(photos, tmp_path):
    root, _ = photos
    report = frame_many([root / "a" / "city.jpg"], ["64x36", "1280x720"], tmp_path / "out",
                        strategy="centre", workers=1, format="png", max_bytes=20_000)
    by_size = {r.size: r for r in report.records}
    assert by_size["64x36"].status == "done"
    assert by_size["1280x720"].status == "failed"
    assert by_size["1280x720"].error.type == "ByteBudgetError"
    assert by_size["1280x720"].error.exit_code == 4
    assert report.exit_code == 1


# --- inputs and names ---------------------------------------------------------------------------

def test_inputs_are_files_folders_and_globs(photos, tmp_path):
    root, paths = photos
    out = root / "out"  # an output folder inside an input folder is never searched
    make_photo(out / "old-output.jpg")
    files, unmatched = collect_inputs([root / "a", str(root / "b" / "*.jpg"), root / "notes.txt",
                                       root / "a" / "city.jpg", str(root / "nothing*.jpg"),
                                       root / "missing.jpg", root / "b" / "deep"], exclude=[out])
    assert files == [paths[0], paths[1], paths[2], str(root / "notes.txt"), paths[3]]
    assert unmatched == [str(root / "nothing*.jpg"), str(root / "missing.jpg")]
    everything, _ = collect_inputs(root, exclude=[out])
    assert everything == sorted(paths)  # recursive, images only, hidden and out skipped


def test_names_stay_in_the_output_folder_and_never_collide(tmp_path):
    names = [output_name(p, "sora-2:1280x720", "jpeg") for p in (
        "/a/beach.jpg", "/b/beach.jpg", "/a/beach.png", "/a/../../etc/passwd", "/x/..jpg",
        "/x/.bashrc.jpg", "/x/" + "long" * 100 + ".jpg", "/x/Été à la mer.jpg", "/x/a\nb.jpg",
        "/x/ü.jpg", "/x/😀.jpg")]
    assert len(set(names)) == len(names)
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.endswith(".jpg") and len(name) < 120
        assert (tmp_path / name).parent == tmp_path
    assert names[0].startswith("beach-sora-2_1280x720-")
    assert names[7].startswith("Ete_a_la_mer-")
    assert names[10].startswith("image-")  # nothing left of the stem
    assert output_name("/a/beach.jpg", "1280x720", "webp") == output_name("/a/beach.jpg", "1280x720", "webp")


def test_an_output_never_replaces_an_input(photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    out.mkdir()
    trap = out / output_name(paths[0], "160x90", "jpeg")
    make_photo(trap)
    with pytest.raises(OptionError, match="overwrite"):
        frame_many([paths[0], trap], ["160x90"], out, strategy="centre")
    with pytest.raises(OptionError, match="manifest"):
        frame_many([paths[0]], ["160x90"], out, manifest=paths[0], strategy="centre")


# --- the manifest and resume --------------------------------------------------------------------

def test_a_rerun_does_only_what_is_missing(photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    first = frame_many([root], ["160x90", "90x160"], out, strategy="centre", workers=2)
    assert first.done == 8
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    # Simulate a run killed mid-way: two lines lost, one output deleted, a line cut short.
    deleted = json.loads(lines[0])
    os.unlink(deleted["output"])
    manifest.write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.jpg")}
    second = frame_many([root], ["160x90", "90x160"], out, strategy="centre", workers=2)
    redone = {r.key for r in second.records}
    assert (deleted["input"], deleted["size"]) in redone
    assert second.already_done == 4 and second.done == 4 and second.failed == 0
    final = manifest_lines(manifest)
    assert len(final) == 8 and len({(l["input"], l["size"]) for l in final}) == 8
    assert all(l["status"] == "done" and Path(l["output"]).exists() for l in final)
    untouched = {Path(l["output"]) for l in final} - {Path(r.output) for r in second.records}
    assert len(untouched) == 4 and all(p.stat().st_mtime_ns == mtimes[p] for p in untouched)
    third = frame_many([root], ["160x90", "90x160"], out, strategy="centre", workers=2)
    assert (third.done, third.already_done, third.records) == (0, 8, ())
    assert manifest_lines(manifest) == final


def test_failed_items_are_retried_and_their_old_line_replaced(photos, tmp_path):
    root, _ = photos
    broken = root / "a" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    first = frame_many([root], ["160x90"], out, strategy="centre", workers=2)
    assert first.failed == 1 and first.exit_code == 1
    (failure,) = first.failures
    assert failure.input == str(broken) and failure.error.kind == "input" and failure.error.exit_code == 3
    make_photo(broken)  # fixed
    second = frame_many([root], ["160x90"], out, strategy="centre", workers=2)
    assert [r.input for r in second.records] == [str(broken)] and second.exit_code == 0
    lines = [l for l in manifest_lines(out / "manifest.jsonl") if l["input"] == str(broken)]
    assert len(lines) == 1 and lines[0]["status"] == "done"


def test_changed_settings_redo_the_items(photos, tmp_path):
    root, _ = photos
    out = tmp_path / "out"
    frame_many([root], ["160x90"], out, strategy="centre", workers=2)
    again = frame_many([root], ["160x90"], out, strategy="centre", workers=2, quality=50)
    assert again.done == 4 and again.already_done == 0
    lines = manifest_lines(out / "manifest.jsonl")
    assert len(lines) == 4 and all(l["quality"] == 50 for l in lines)


def test_a_manifest_that_is_not_one_is_refused(photos, tmp_path):
    root, _ = photos
    manifest = tmp_path / "notes.jsonl"
    manifest.write_text("hello\nworld\n")
    with pytest.raises(OptionError, match="line 1"):
        frame_many([root], ["160x90"], tmp_path / "out", manifest=manifest, strategy="centre")
    assert read_manifest(tmp_path / "absent.jsonl") == ({}, False)


def test_stale_temporary_files_are_removed_and_nothing_else(photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    out.mkdir()
    ours = [out / f".{output_name(paths[0], '160x90', 'jpeg')}.k2j4_x9a.part",
            out / ".manifest.jsonl.abcd1234.part"]
    theirs = [out / ".notes.txt.abcd1234.part", out / "keep.jpg.abcd1234.part", out / "user-file.jpg"]
    for path in ours + theirs:
        path.write_bytes(b"partial")
    frame_many([root], ["160x90"], out, strategy="centre", workers=1)
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in theirs)


def test_two_runs_cannot_share_an_output_folder(photos, tmp_path):
    root, _ = photos
    out = tmp_path / "out"
    out.mkdir()
    with _FolderLock(str(out)):
        with pytest.raises(OptionError, match="another run"):
            frame_many([root], ["160x90"], out, strategy="centre")
    assert frame_many([root], ["160x90"], out, strategy="centre", workers=1).done == 4


# --- worker faults --------------------------------------------------------------------------------

def test_a_stuck_input_times_out_and_its_worker_is_replaced(photos, tmp_path):
    root, paths = photos
    make_photo(root / "a" / "stuck.jpg")
    started = time.monotonic()
    report = frame_many([root], ["160x90", "90x160"], tmp_path / "out", strategy="centre", workers=2,
                        timeout=1.0, process_item=batch_hooks.stall_on_stuck)
    assert time.monotonic() - started < 20
    stuck = [r for r in report.records if r.input.endswith("stuck.jpg")]
    assert [r.status for r in stuck] == ["failed", "failed"]
    assert all(r.error.kind == "timeout" and r.error.type == "ProcessingTimeout" and r.error.exit_code == 6
               for r in stuck)
    assert report.done == 8 and report.failed == 2  # the others all done, by the replacement too
    assert not list((tmp_path / "out").glob(".*.part"))


def test_a_crashed_worker_is_recorded_and_replaced(photos, tmp_path):
    root, _ = photos
    make_photo(root / "a" / "crash.jpg")
    report = frame_many([root], ["160x90"], tmp_path / "out", strategy="centre", workers=2,
                        process_item=batch_hooks.crash_on_crash)
    (failure,) = report.failures
    assert failure.input.endswith("crash.jpg")
    assert failure.error.kind == "internal" and failure.error.exit_code == 70
    assert "SIGKILL" in failure.error.message
    assert report.done == 4


def test_an_unexpected_exception_is_recorded_as_internal_and_the_run_goes_on(photos, tmp_path):
    root, _ = photos
    make_photo(root / "a" / "bug.jpg")
    report = frame_many([root], ["160x90"], tmp_path / "out", strategy="centre", workers=1,
                        process_item=batch_hooks.bug_on_bug)
    (failure,) = report.failures
    assert (failure.error.kind, failure.error.type, failure.error.exit_code) == ("internal", "ZeroDivisionError", 70)
    assert "an injected bug" in failure.error.traceback
    assert report.done == 4


# --- usage --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"sizes": ["12x"]}, "size"),
    ({"sizes": "1280x720"}, "sizes"),
    ({"workers": 0}, "workers"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": float("nan")}, "timeout"),
    ({"quality": 101}, "quality"),
    ({"format": "gif"}, "format"),
    ({"fit": "fill"}, "fit"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "workers"),
])
def test_bad_usage_is_refused_before_any_work(photos, tmp_path, kwargs, field):
    root, _ = photos
    arguments = {"sizes": ["160x90"], **kwargs}
    with pytest.raises(OptionError) as error:
        frame_many([root], out=tmp_path / "out", **arguments)
    assert error.value.field == field
    assert not (tmp_path / "out").exists()


def test_no_images_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionError, match="at least one image"):
        frame_many([tmp_path / "empty"], ["160x90"], tmp_path / "out")


# --- the command --------------------------------------------------------------------------------

def test_the_batch_command(photos, tmp_path):
    root, paths = photos
    out = tmp_path / "out"
    result = run("batch", root, "--size", "160x90,sora-2", "--out", out, "--strategy", "centre",
                 "--workers", "2", "--format", "webp", "--quality", "80")
    assert result.exit_code == 0, result.output
    assert "8 done, 0 failed, 0 already done" in result.output
    lines = manifest_lines(out / "manifest.jsonl")
    assert len(lines) == 8 and all(l["format"] == "webp" and l["output"].endswith(".webp") for l in lines)
    again = run("batch", root, "--size", "160x90,sora-2", "--out", out, "--strategy", "centre",
                "--format", "webp", "--quality", "80")
    assert again.exit_code == 0 and "0 done, 0 failed, 8 already done" in again.output


def test_the_batch_command_exit_codes(photos, tmp_path):
    root, _ = photos
    (root / "a" / "broken.jpg").write_bytes(b"garbage")
    failed = run("batch", root, "--size", "160x90", "--out", tmp_path / "out", "--strategy", "centre",
                 "--manifest", tmp_path / "m" / "run.jsonl")
    assert failed.exit_code == 1
    assert "broken.jpg" in failed.output and "input error" in failed.output
    assert len(manifest_lines(tmp_path / "m" / "run.jsonl")) == 5
    usage = run("batch", root, "--size", "huge", "--out", tmp_path / "out2")
    assert usage.exit_code == 2 and "usage error" in usage.output
    assert run("batch", root, "--size", "160x90", "--out", tmp_path / "o", "--timeout", "0").exit_code == 2
    assert run("batch", "--size", "160x90", "--out", tmp_path / "o").exit_code == 2  # no inputs


def test_outputs_get_the_usual_file_mode(photos, tmp_path):
    """write_atomic goes through mkstemp (mode 0600); the final file must not stay private."""
    root, _ = photos
    report = frame_many([root / "a"], ["160x90"], tmp_path / "out", strategy="centre", workers=1)
    umask = os.umask(0)
    os.umask(umask)
    for record in report.records:
        assert os.stat(record.output).st_mode & 0o777 == 0o666 & ~umask


def test_limits_apply_to_inputs_not_to_the_worker_warm_up(photos, tmp_path):
    root, _ = photos
    report = frame_many([root / "a"], ["160x90"], tmp_path / "out", strategy="centre", workers=1,
                        limits=smartframe.Limits(max_pixels=1000))
    assert report.failed == 2 and {r.error.type for r in report.failures} == {"ImageTooLargeError"}


def test_the_progress_bar_counts_failures(capsys):
    from smartframe.cli import _progress_bar

    progress = _progress_bar()
    progress(0, 2, None)
    progress(1, 2, ItemRecord(input="/a.jpg", size="160x90", status="done", settings="x"))
    progress(2, 2, ItemRecord(input="/b.jpg", size="160x90", status="failed", settings="x"))
    err = capsys.readouterr().err
    assert "2/2" in err and "failed=1" in err


# --- issue 9 ----------------------------------------------------------------------------------

NAMING_RULE = ("leading and trailing `.`, `_` and `-` removed (so that no name is hidden or reads as "
               "a command-line option")


@pytest.mark.parametrize("stem, expected", [
    ("-beach", "beach"), ("--rm -rf", "rm_-rf"), (".hidden", "hidden"), ("__x__", "x"), ("a-b.c_d", "a-b.c_d"),
    ("x-", "x"), ("-", "image"), ("Été-", "Ete"),
])
def test_names_drop_leading_and_trailing_dots_underscores_and_dashes_as_documented(stem, expected):
    assert output_name(f"/in/{stem}.jpg", "160x90", "jpeg").rsplit("-160x90-", 1)[0] == expected
    outputs_doc = (Path(__file__).parent.parent / "docs" / "outputs.md").read_text()
    assert NAMING_RULE in " ".join(outputs_doc.split())  # the docs state the rule the code follows


def test_the_lock_file_is_removed_when_the_run_ends_and_a_stale_one_is_harmless(photos, tmp_path):
    root, _ = photos
    out = tmp_path / "out"
    frame_many([root / "a"], ["160x90"], out, strategy="centre", workers=1)
    assert not (out / ".smartframe-batch.lock").exists()
    (out / ".smartframe-batch.lock").write_text("")  # left by a killed run: no process holds it
    again = frame_many([root / "a"], ["160x90"], out, strategy="centre", workers=1)
    assert again.already_done == 2 and not (out / ".smartframe-batch.lock").exists()
    with _FolderLock(str(out)):
        assert (out / ".smartframe-batch.lock").exists()
        with pytest.raises(OptionError, match="another run"):
            with _FolderLock(str(out)):
                pass
    assert not (out / ".smartframe-batch.lock").exists()


def test_a_lock_removed_by_the_run_before_is_not_shared(tmp_path):
    """A run that opened the lock file just before the run holding it removed it must not
    hold a lock on the removed file while a third run locks a new one."""
    import fcntl

    first = _FolderLock(str(tmp_path)).__enter__()
    path = tmp_path / ".smartframe-batch.lock"
    stale = os.open(path, os.O_RDWR)  # a second run opens the file, then waits for the lock
    first.__exit__(None, None, None)  # the first run ends: the file is unlinked, the lock released
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the waiting run now holds a removed file ...
    third = _FolderLock(str(tmp_path)).__enter__()  # ... and a third run gets the real lock
    with pytest.raises(OptionError, match="another run"):
        _FolderLock(str(tmp_path)).__enter__()
    third.__exit__(None, None, None)
    os.close(stale)


def test_failed_lines_of_inputs_not_in_this_run_are_reported(photos, tmp_path):
    root, _ = photos
    broken = root / "a" / "broken.jpg"
    broken.write_bytes(b"garbage")
    out = tmp_path / "out"
    first = frame_many([root / "a"], ["160x90"], out, strategy="centre", workers=1)
    assert first.failed == 1
    broken.unlink()
    clean = frame_many([root / "a"], ["160x90"], out, strategy="centre", workers=1)
    assert (clean.done, clean.failed, clean.already_done) == (0, 0, 2) and clean.exit_code == 0
    assert [r.input for r in clean.earlier_failures] == [str(broken)]  # kept, but not hidden
    assert any(l["status"] == "failed" for l in manifest_lines(out / "manifest.jsonl"))
    cli = run("batch", root / "a", "--size", "160x90", "--out", out, "--strategy", "centre", "--workers", "1")
    assert cli.exit_code == 0 and "0 done, 0 failed, 2 already done" in cli.stdout
    assert "1 failed line(s) from earlier runs for inputs not in this run (1 of them no longer exist)" in cli.stderr


def test_an_interrupted_run_reports_what_was_done(photos, tmp_path):
    root, _ = photos
    out = tmp_path / "out"

    def stop_after_two(finished, total, record):
        if finished == 2:
            raise KeyboardInterrupt

    with pytest.raises(smartframe.batch.BatchInterrupted) as interrupted:
        frame_many([root], ["160x90"], out, strategy="centre", workers=1, progress=stop_after_two)
    report = interrupted.value.report
    assert isinstance(interrupted.value, KeyboardInterrupt)
    assert (report.done, report.failed, report.not_started) == (2, 0, 2)
    assert len(manifest_lines(out / "manifest.jsonl")) == 2
    assert not (out / ".smartframe-batch.lock").exists()


def test_sizes_twice_formats_a_preset_refuses_and_alpha_into_jpeg_are_refused_before_work(photos, tmp_path):
    root, _ = photos
    for kwargs, field, fragment in (
            ({"sizes": ["160x90", "160x90"]}, "sizes", "each size once"),
            ({"sizes": ["sora-2", " sora-2 "]}, "sizes", "each size once"),
            ({"sizes": ["veo-3.1", "160x90"], "format": "webp"}, "format", "a format veo-3.1 accepts"),
            ({"sizes": ["instagram-square"], "format": "png"}, "format", "instagram-square accepts: jpeg"),
            ({"sizes": ["16384x10"], "format": "webp"}, "format", "16383"),
            ({"sizes": ["160x90"], "format": "jpeg", "alpha": "keep"}, "alpha", "png or webp"),
            ({"sizes": ["instagram-story"], "alpha": "keep"}, "alpha", "cannot hold transparency"),
            ({"sizes": ["160x90"], "workers": np.int64(0)}, "workers", ">= 1")):
        with pytest.raises(OptionError) as error:
            frame_many([root], out=tmp_path / "out", strategy="centre", **kwargs)
        assert error.value.field == field and fragment in str(error.value), kwargs
    assert not (tmp_path / "out").exists()
    cli = run("batch", root, "--size", "veo-3.1", "--out", tmp_path / "out", "--format", "webp")
    assert cli.exit_code == 2 and len(cli.stderr.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_ratio_spec_is_its_own_size_label(photos, tmp_path):
    root, _ = photos
    report = frame_many([root / "a"], ["sora-2-pro:16:9", "sora-2-pro:9:16"], tmp_path / "out",
                        strategy="centre", workers=1, faces="keep")
    assert {r.size for r in report.records} == {"sora-2-pro:16:9", "sora-2-pro:9:16"}
    assert {r.target for r in report.records} == {"sora-2-pro:1280x720", "sora-2-pro:720x1280"}


def test_a_target_that_refuses_faces_marks_the_items_that_show_one(tmp_path):
    from smartframe.scenes import face_scene

    source = tmp_path / "in" / "face.png"
    source.parent.mkdir()
    Image.fromarray(face_scene(1600, 900, 1100, 450, 260)).save(source)
    report = frame_many([source], ["sora-2", "veo-3.1"], tmp_path / "out", workers=1)
    by_size = {r.size: r for r in report.records}
    assert by_size["sora-2"].status == "failed" and by_size["sora-2"].error.type == "FacesFoundError"
    assert by_size["veo-3.1"].status == "done"
    # the refusal's manifest line names the refused face, in source pixels, like a done line's
    (refused,) = by_size["sora-2"].faces
    assert abs(refused.center[0] - 1100) < 60 and abs(refused.center[1] - 450) < 80
    (line,) = [l for l in manifest_lines(tmp_path / "out" / "manifest.jsonl") if l["size"] == "sora-2"]
    assert [f["box"] for f in line["faces"]] == [refused.to_dict()["box"]]
    kept = run("batch", source, "--size", "sora-2", "--out", tmp_path / "kept", "--faces", "keep", "--workers", "1")
    assert kept.exit_code == 0 and "1 output(s) written with warnings" in kept.stderr
    (line,) = manifest_lines(tmp_path / "kept" / "manifest.jsonl")
    assert any("check fails this output" in w for w in line["warnings"])
