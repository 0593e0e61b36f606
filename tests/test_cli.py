import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from smartframe.cli import main
from smartframe.targets import presets



@pytest.fixture
def photo(tmp_path):
    from smartframe.scenes import landscape_with_subject

    path = tmp_path / "photo.jpg"
    Image.fromarray(landscape_with_subject(801, 533)[0]).save(path, quality=92)
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_frame_writes_exact_size_and_a_report(photo, tmp_path):
    out, report = tmp_path / "out.png", tmp_path / "report.json"
    result = run("frame", photo, "--size", "1280x720", "--out", out, "--strategy", "centre", "--report", report)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (1280, 720)
    data = json.loads(report.read_text())
    for key in ("crop_box", "source_size", "output_size", "fit", "strategy", "scale", "faces"):
        assert key in data
    assert len(data["crop_box"]) == 4 and data["output_size"] == [1280, 720]
    assert data["source_size"] == [801, 533] and data["strategy"] == "centre"
    assert data["scale"] == pytest.approx(1280 / 801, rel=1e-3)


@pytest.mark.parametrize("fit", ["cover", "pad", "stretch"])
def test_every_preset_size_through_the_cli(photo, tmp_path, fit):
    sizes = ",".join(sorted({f"{p.name}:{s}" for p in presets().values() for s in p.sizes}))
    result = run("frame", photo, "--size", sizes, "--out", tmp_path / f"{fit}-{{target}}.jpg", "--fit", fit,
                 "--strategy", "centre")
    assert result.exit_code == 0, result.output
    for preset in presets().values():
        for size in preset.sizes:
            assert Image.open(tmp_path / f"{fit}-{preset.name}_{size}.jpg").size == tuple(size)


def test_several_sizes_need_a_pattern_or_a_folder(photo, tmp_path):
    """The wiring of the output rules (tested in test_outputs.py): refused before any work,
    and after framing when two resolved targets would write one file."""
    bad = run("frame", photo, "--size", "100x100,200x100", "--out", tmp_path / "x.jpg")
    assert bad.exit_code == 2 and "{size}" in bad.output
    for out, sizes in ((tmp_path / "{size}.png", "100x100,100x100"),  # the same size twice
                       (tmp_path / "{size}.png", "sora-2,1280x720")):  # two sizes, one resolved name
        refused = run("frame", photo, "--size", sizes, "--out", out, "--strategy", "centre")
        assert refused.exit_code == 2 and len(refused.stderr.splitlines()) == 1, refused.output
        assert "usage error" in refused.stderr
    assert not list(tmp_path.glob("*.png"))  # refused before anything was written
    named = run("frame", photo, "--size", "sora-2,1280x720", "--out", tmp_path / "{target}.png",
                "--strategy", "centre")
    assert named.exit_code == 0, named.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["1280x720.png", "sora-2_1280x720.png"]
    folder = tmp_path / "outs"
    folder.mkdir()
    good = run("frame", photo, "--size", "100x100,200x100", "--out", folder, "--strategy", "centre")
    assert good.exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["photo-100x100.jpg", "photo-200x100.jpg"]


def test_pad_with_blur_and_focus_options(photo, tmp_path):
    out = tmp_path / "pad.webp"
    assert run("frame", photo, "-s", "720x1280", "-o", out, "--fit", "pad", "--background", "blur").exit_code == 0
    assert Image.open(out).size == (720, 1280)
    focus = run("frame", photo, "-s", "500x500", "-o", tmp_path / "f.jpg", "--focus", "0.1,0.5")
    assert focus.exit_code == 0, focus.output


def test_check_exit_codes_and_json(photo, tmp_path):
    framed = tmp_path / "ok.jpg"
    assert run("frame", photo, "-s", "1280x720", "-o", framed, "--strategy", "centre").exit_code == 0
    ok = run("check", framed, "--size", "1280x720", "--json", "--no-faces")
    assert ok.exit_code == 0
    data = json.loads(ok.stdout)
    assert data["ok"] is True and data["violations"] == [] and data["faces"] == []
    bad = run("check", photo, "--size", "1280x720", "--json", "--no-faces")
    assert bad.exit_code == 1
    violation = json.loads(bad.stdout)["violations"][0]
    assert violation["rule"] == "dimensions" and "801x533" in violation["message"]
    text = run("check", photo, "--size", "1280x720", "--no-faces")
    assert text.exit_code == 1 and "FAIL" in text.stdout and "dimensions" in text.stdout


def test_presets_lists_every_preset():
    result = run("presets")
    assert result.exit_code == 0
    for name in presets():
        assert name in result.stdout
    data = json.loads(run("presets", "--json").stdout)
    assert {p["name"] for p in data} == set(presets())


@pytest.mark.parametrize("args, code, fragment", [
    (["frame", "{missing}", "-s", "10x10", "-o", "{out}"], 3, "no such file"),
    (["frame", "{text}", "-s", "10x10", "-o", "{out}"], 3, "not an image"),
    (["frame", "{photo}", "-s", "10x0", "-o", "{out}"], 2, "size="),
    (["frame", "{photo}", "-s", "sora-9", "-o", "{out}"], 2, "sora-2"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--focus", "2,2"], 2, "focus="),
    (["frame", "{photo}", "-s", "10x10", "-o", "{tmp}/out.gif"], 2, ".webp"),
    (["frame", "{photo}", "-s", "1000x1000", "-o", "{out}", "--max-bytes", "100", "--strategy", "centre"], 4,
     "photo.jpg: jpeg at quality 30"),  # a constraint error names the file
    (["check", "{missing}", "-s", "10x10"], 3, "no such file"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{text}/o.jpg", "--strategy", "centre"], 73,
     "notes.jpg/o.jpg: cannot write"),
    # usage errors of every origin: one line, with the API's words and hints
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--strategy", "center"], 2, "smartframe spells it 'centre'"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--fit", "crop"], 2, "fit='crop'"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--faces", "hide"], 2, "faces='hide'"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--quality", "0"], 2, "quality=0 is not allowed: a whole number 1..100"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--quality", "\uff15"], 2, "ASCII digits"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--min-face-px", "\u0665"], 2, "ASCII digits"),
    (["batch", "{photo}", "-s", "10x10", "-o", "{tmp}/b", "--workers", "0"], 2, "workers=0 is not allowed"),
    (["batch", "{photo}", "-s", "10x10", "-o", "{tmp}/b", "--timeout", "0"], 2, "timeout=0"),
    (["explain", "{photo}", "-s", "10x10", "-o", "{out}", "--max-side", "10"], 2, "max_side=10"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{out}", "--bogus"], 2, "No such option"),
    (["--bogus"], 2, "No such option"),
    (["frame", "{photo}", "-o", "{out}"], 2, "Missing option"),
    (["frame", "{photo}", "-s", ":1280x720", "-o", "{out}"], 2, "size=':1280x720'"),
    (["frame", "{photo}", "-s", ",", "-o", "{out}"], 2, "size=','"),
    (["frame", "{photo}", "-s", "16:9", "-o", "{out}"], 2, "aspect ratio, not pixels"),
    # a directory is an unreadable input, whichever command reads it
    (["frame", "{tmp}", "-s", "10x10", "-o", "{out}"], 3, "is a directory, not a file"),
    (["check", "{tmp}", "-s", "10x10"], 3, "is a directory, not a file"),
    (["explain", "{tmp}", "-s", "10x10", "-o", "{out}"], 3, "is a directory, not a file"),
])
def test_errors_are_one_line_with_their_exit_code(photo, tmp_path, args, code, fragment):
    text = tmp_path / "notes.jpg"
    text.write_text("just text")
    values = {"missing": tmp_path / "nope.jpg", "out": tmp_path / "o.jpg", "photo": photo, "text": text,
              "tmp": tmp_path}
    result = run(*[a.format(**values) for a in args])
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output and "Usage:" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartframe: "), result.stderr
    if code == 2:
        assert lines[0].startswith("smartframe: usage error: ")
    assert not (tmp_path / "o.jpg").exists()


def test_debug_shows_the_traceback(tmp_path):
    result = run("frame", tmp_path / "nope.jpg", "-s", "10x10", "-o", tmp_path / "o.jpg", "--debug")
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_python_dash_m_runs_the_same_command(photo, tmp_path):
    out = tmp_path / "m.jpg"
    done = subprocess.run([sys.executable, "-m", "smartframe", "frame", str(photo), "-s", "300x300",
                           "-o", str(out), "--strategy", "centre"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (300, 300)
    missing = subprocess.run([sys.executable, "-m", "smartframe", "check", str(tmp_path / "x.png"),
                              "-s", "10x10"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1


def test_an_error_stays_one_line_whatever_the_file_name(tmp_path):
    bad = tmp_path / "two\nlines\x1b[31m.jpg"
    bad.write_bytes(b"not an image, whatever the name says")
    for args in (["frame", bad, "-s", "10x10", "-o", tmp_path / "o.jpg", "--strategy", "centre"],
                 ["check", bad, "-s", "10x10", "--no-faces"]):
        result = run(*args)
        assert result.exit_code == 3
        assert result.stderr.count("\n") == 1  # the newline in the name is shown escaped
        assert "two\\nlines\\x1b[31m.jpg: not an image" in result.stderr


def test_the_limits_are_options_of_frame_and_check(photo, tmp_path):
    for args in (["frame", photo, "-s", "100x100", "-o", tmp_path / "o.jpg", "--strategy", "centre"],
                 ["check", photo, "-s", "100x100", "--no-faces"]):
        for option, fragment in (("--max-pixels", "max_pixels=1000"), ("--max-file-bytes", "max_file_bytes"),
                                 ("--max-decode-bytes", "max_decode_bytes=1000")):
            result = run(*args, option, "1000")
            assert result.exit_code == 3, result.output
            assert fragment in result.stderr and len(result.stderr.splitlines()) == 1
def test_demo_frames_the_scene_for_every_preset(tmp_path):
    result = run("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    sizes = sum(len(p.sizes) for p in presets().values())
    assert result.stdout.count("check ok") == sizes
    assert len(list((tmp_path / "demo").glob("*-*x*.*"))) == sizes


def test_native_libraries_print_nothing_on_a_clean_run(tmp_path):
    """Native libraries' start-up logs (onnxruntime, OpenCV) must not reach the terminal (fd 2) on success."""
    from smartframe.scenes import face_scene

    source = tmp_path / "face.png"
    Image.fromarray(face_scene(1600, 900, 1100, 450, 260)).save(source)
    done = subprocess.run([sys.executable, "-m", "smartframe", "frame", str(source), "-s", "1280x720",
                           "-o", str(tmp_path / "out.jpg"), "--faces", "flag"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [f"smartframe: warning: {source}: 1 identifiable face(s) in the output"]


def test_an_input_is_never_replaced_unless_asked(photo, tmp_path):
    before = photo.read_bytes()
    for args in (["frame", photo, "-s", "320x180", "-o", photo],
                 ["frame", photo, "-s", "320x180", "-o", tmp_path / "{stem}.jpg"],
                 ["frame", photo, "-s", "320x180", "-o", tmp_path / "o.jpg", "--report", photo],
                 ["explain", photo, "-s", "320x180", "-o", photo]):
        refused = run(*args, "--strategy", "centre")
        assert refused.exit_code == 2 and "would overwrite the input" in refused.stderr, refused.output
        assert photo.read_bytes() == before
    # through a symlink or a hard link too, and the message says how to allow it
    (tmp_path / "link.jpg").symlink_to(photo)
    os.link(photo, tmp_path / "hard.jpg")
    for name in ("link.jpg", "hard.jpg"):
        refused = run("frame", photo, "-s", "320x180", "-o", tmp_path / name, "--strategy", "centre")
        assert refused.exit_code == 2, refused.output
        assert f"would overwrite the input {photo}; choose another name, or --overwrite-input" in refused.stderr
        assert photo.read_bytes() == before
    replaced = run("frame", photo, "-s", "320x180", "-o", photo, "--strategy", "centre", "--overwrite-input")
    assert replaced.exit_code == 0, replaced.output
    assert Image.open(photo).size == (320, 180)


@pytest.mark.parametrize("size, out, fragment", [
    ("instagram-square", "ig.png", "a format instagram-square accepts: jpeg"),
    ("veo-3.1", "v.webp", "a format veo-3.1 accepts: jpeg, png"),
    ("veo-3.1:1280x720,1280x720", "{target}.webp", "a format veo-3.1 accepts"),
    ("16384x100", "big.webp", "WebP holds at most 16383 px"),
])
def test_a_presets_formats_bind_the_output_before_any_work(photo, tmp_path, size, out, fragment):
    result = run("frame", photo, "-s", size, "-o", tmp_path / out, "--strategy", "centre")
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert len(result.stderr.splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name != "photo.jpg"]


@pytest.mark.parametrize("preset", sorted(presets()))
def test_frame_then_check_passes_for_every_preset_through_the_cli(photo, tmp_path, preset):
    folder = tmp_path / "out"
    framed = run("frame", photo, "-s", ",".join(f"{preset}:{s}" for s in presets()[preset].sizes),
                 "-o", f"{folder}/")
    assert framed.exit_code == 0, framed.output
    outputs = sorted(folder.iterdir())
    assert len(outputs) == len(presets()[preset].sizes)
    for output in outputs:
        size = output.stem.rsplit("-", 1)[1]
        checked = run("check", output, "-s", f"{preset}:{size}")
        assert checked.exit_code == 0, checked.output


def test_contradictions_are_refused_and_no_ops_warned(photo, tmp_path):
    contradiction = run("frame", photo, "-s", "320x180", "-o", tmp_path / "f.jpg", "--format", "png")
    assert contradiction.exit_code == 2 and "the format of --out" in contradiction.stderr
    assert not (tmp_path / "f.jpg").exists()
    same = run("frame", photo, "-s", "320x180", "-o", tmp_path / "f.jpg", "--format", "jpg", "--strategy", "centre")
    assert same.exit_code == 0, same.output
    for args, fragment in ((["-o", tmp_path / "q.png", "--quality", "5"], "--quality 5 does nothing for PNG"),
                           (["-o", tmp_path / "b.jpg", "--background", "blur"], "background='blur' does nothing"),
                           (["-o", tmp_path / "p.jpg", "--pad-position", "top"], "pad_position='top' does nothing"),
                           (["-o", tmp_path / "c.jpg", "--strategy", "centre", "--focus", "0.2,0.2"],
                            "does nothing with strategy='centre'"),
                           (["-o", tmp_path / "s.jpg", "--fit", "stretch", "--strategy", "smart"],
                            "strategy='smart' does nothing with fit='stretch'")):
        result = run("frame", photo, "-s", "320x180", *args)
        assert result.exit_code == 0, result.output
        warnings = [l for l in result.stderr.splitlines() if fragment in l]
        assert len(warnings) == 1 and warnings[0].startswith("smartframe: warning: "), result.stderr
    several = run("frame", photo, "-s", "320x180,180x320", "-o", tmp_path / "{size}.jpg", "--background", "red")
    assert several.stderr.count("does nothing") == 1  # once, not once per size
    batch = run("batch", photo, "-s", "320x180", "-o", tmp_path / "b", "--format", "png", "--quality", "5",
                "--strategy", "centre", "--workers", "1")
    assert batch.exit_code == 0 and "--quality 5 does nothing for PNG" in batch.stderr


def test_outputs_and_reports_are_checked_before_the_work(tmp_path, photo):
    rgba = tmp_path / "alpha.png"
    pixels = np.zeros((100, 200, 4), np.uint8)
    pixels[..., 3] = 128
    Image.fromarray(pixels).save(rgba)
    kept = run("frame", rgba, "-s", "320x180", "-o", f"{tmp_path}/folder/", "--alpha", "keep")
    assert kept.exit_code == 0, kept.output  # the folder output picks a format that holds alpha
    assert Image.open(tmp_path / "folder" / "alpha-320x180.png").mode == "RGBA"
    # a missing folder is created for a folder, a pattern and a file name alike, after the work
    for out in (f"{tmp_path}/new1/", f"{tmp_path}/new2/{{size}}.png", f"{tmp_path}/new3/o.png"):
        made = run("frame", photo, "-s", "320x180", "-o", out, "--strategy", "centre")
        assert made.exit_code == 0, made.output
    assert [len(list((tmp_path / f"new{i}").iterdir())) for i in (1, 2, 3)] == [1, 1, 1]
    # what cannot be written or cannot hold the output is refused before any folder is made
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    for args, code, fragment in (
            (["-o", f"{tmp_path}/none1/", "--alpha", "keep", "--format", "jpeg"], 2, "alpha='keep'"),
            (["-o", f"{tmp_path}/none2/o.jpg", "--alpha", "keep"], 2, "alpha='keep'"),
            (["-s", "instagram-square", "-o", f"{tmp_path}/none3/", "--alpha", "keep"], 2, "cannot hold transparency"),
            (["-o", f"{blocker}/o.png"], 73, "is not a folder"),
            (["-o", f"{tmp_path}/none4/{{size}}.png", "--report", f"{blocker}/r.json"], 73, "is not a folder"),
            (["-o", f"{tmp_path}/none5/o.png", "--report", tmp_path], 73, "is a folder")):
        argv = ["frame", rgba] + (["-s", "320x180"] if "-s" not in args else []) + args
        refused = run(*argv)
        assert refused.exit_code == code and fragment in refused.stderr, (args, refused.output)
        assert len(refused.stderr.splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("none")]


def test_messages_stay_one_line_and_say_warning_once(photo, tmp_path, monkeypatch):
    import smartframe.cli as cli
    from conftest import with_orientation

    odd = tmp_path / "odd.jpg"
    odd.write_bytes(with_orientation(Image.open(photo), "JPEG", 9))  # an invalid EXIF orientation
    warned = run("frame", odd, "-s", "320x180", "-o", tmp_path / "o.jpg", "--strategy", "centre")
    assert warned.exit_code == 0
    (line,) = [l for l in warned.stderr.splitlines() if "orientation" in l]
    assert line.startswith(f"smartframe: warning: {odd}: ") and "WARNING" not in line
    checked = run("check", odd, "-s", "320x180", "--no-faces")
    assert "warning: WARNING" not in checked.stdout and "  warning: " in checked.stdout
    named = tmp_path / "out\x1b[31m.jpg"
    done = run("frame", photo, "-s", "320x180", "-o", named, "--strategy", "centre")
    assert done.exit_code == 0 and "\x1b" not in done.stdout and "out\\x1b[31m.jpg" in done.stdout

    def opencv_bug(*args, **kwargs):
        raise RuntimeError("OpenCV(5.0.0) resize.cpp:4217: error: (-215:Assertion failed) !ssize.empty()\n")

    monkeypatch.setattr(cli, "frame_sizes", opencv_bug)
    bug = run("frame", photo, "-s", "320x180", "-o", tmp_path / "b.jpg")
    assert bug.exit_code == 70 and bug.stderr.count("\n") == 1
    assert "\\n" not in bug.stderr and "!ssize.empty() (run with --debug" in bug.stderr


def test_the_default_face_policy_refuses_what_the_target_refuses(tmp_path):
    from smartframe.scenes import face_scene

    source = tmp_path / "face.png"
    Image.fromarray(face_scene(1600, 900, 1100, 450, 260)).save(source)
    refused = run("frame", source, "-s", "sora-2", "-o", tmp_path / "s.jpg")
    assert refused.exit_code == 4 and "sora-2 refuses images with human faces" in refused.stderr
    assert f"constraint error: {source}: " in refused.stderr and not (tmp_path / "s.jpg").exists()
    kept = run("frame", source, "-s", "sora-2", "-o", tmp_path / "k.jpg", "--faces", "keep")
    assert kept.exit_code == 0 and "check fails this output" in kept.stderr
    assert run("check", tmp_path / "k.jpg", "-s", "sora-2").exit_code == 1
    allowed = run("frame", source, "-s", "veo-3.1", "-o", tmp_path / "v.jpg")
    assert allowed.exit_code == 0 and allowed.stderr == ""
    assert run("check", tmp_path / "v.jpg", "-s", "veo-3.1").exit_code == 0


def test_outputs_go_through_the_one_output_module(photo, tmp_path):
    """The wiring only: the rules themselves are tested in test_outputs.py."""
    # two targets of one pixel size into a folder: both written, named by target
    both = run("frame", photo, "-s", "sora-2,veo-3.1", "-o", f"{tmp_path}/out/", "--strategy", "centre")
    assert both.exit_code == 0, both.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo-sora-2_1280x720.jpg", "photo-veo-3.1_1280x720.jpg"]
    # an unknown placeholder is refused before any work, naming the allowed ones
    typo = run("frame", photo, "-s", "320x180,180x320", "-o", f"{tmp_path}/o/{{stem}}_{{szie}}.png")
    assert typo.exit_code == 2 and "{size}, {target}, {stem}" in typo.stderr and "{szie}" in typo.stderr
    assert not (tmp_path / "o").exists()


def test_serve_without_its_extra_is_a_usage_error_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an install without [serve] has
    result = run("serve", "--port", "0")
    assert result.exit_code == 2, result.output
    assert 'pip install ".[serve]"' in result.stderr and len(result.stderr.splitlines()) == 1


def test_no_message_names_an_extra_in_a_way_that_cannot_be_installed():
    from pathlib import Path

    import smartframe

    package = Path(smartframe.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py") if "smartframe[" in p.read_text()]
    assert offenders == [], offenders


def test_demo_into_a_folder_that_cannot_be_made_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    for out in (blocker / "demo", "/proc/nope"):
        result = run("demo", "--out", out)
        assert result.exit_code == 73, result.output
        assert result.stderr.startswith("smartframe: output error: ") and len(result.stderr.splitlines()) == 1
