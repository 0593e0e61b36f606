import json
import subprocess
import sys

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
    result = run("frame", photo, "--size", sizes, "--out", tmp_path / f"{fit}-{{size}}.jpg", "--fit", fit,
                 "--strategy", "centre")
    assert result.exit_code == 0, result.output
    for preset in presets().values():
        for size in preset.sizes:
            assert Image.open(tmp_path / f"{fit}-{size}.jpg").size == tuple(size)


def test_several_sizes_need_a_pattern_or_a_folder(photo, tmp_path):
    bad = run("frame", photo, "--size", "100x100,200x100", "--out", tmp_path / "x.jpg")
    assert bad.exit_code == 2 and "{size}" in bad.output
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
     "max_bytes=100"),
    (["check", "{missing}", "-s", "10x10"], 3, "no such file"),
    (["frame", "{photo}", "-s", "10x10", "-o", "{tmp}/no-such-folder/o.jpg", "--strategy", "centre"], 73,
     "no-such-folder/o.jpg: cannot write"),
])
def test_errors_are_one_line_with_their_exit_code(photo, tmp_path, args, code, fragment):
    text = tmp_path / "notes.jpg"
    text.write_text("just text")
    values = {"missing": tmp_path / "nope.jpg", "out": tmp_path / "o.jpg", "photo": photo, "text": text,
              "tmp": tmp_path}
    result = run(*[a.format(**values) for a in args])
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    if code != 2:  # click's own usage errors print usage lines; ours print exactly one
        assert len(result.stderr.strip().splitlines()) == 1


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
    """mediapipe's native start-up logs must not reach the terminal (fd 2) on success."""
    from smartframe.scenes import face_scene

    source = tmp_path / "face.png"
    Image.fromarray(face_scene(1600, 900, 1100, 450, 260)).save(source)
    done = subprocess.run([sys.executable, "-m", "smartframe", "frame", str(source), "-s", "1280x720",
                           "-o", str(tmp_path / "out.jpg"), "--faces", "flag"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [f"smartframe: warning: {source}: 1 identifiable face(s) in the output"]
