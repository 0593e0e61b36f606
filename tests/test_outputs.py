"""The output rules, each tested once, here: naming, placeholders, the same-file check,
folder creation and atomic writes (smartframe/outputs.py). The front ends' tests check only
that they go through it."""

import io
import os
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import smartframe
from smartframe.errors import OptionError, OutputError
from smartframe.outputs import (PLACEHOLDERS, check_writable, folder_names, parse_out, refuse_clashes,
                                same_file, target_label, write, write_atomic)
from smartframe.targets import Target, parse_target, presets, split_sizes


def target(spec: str) -> Target:
    parsed = parse_target(spec)
    return parsed if isinstance(parsed, Target) else parsed.target(parsed.sizes[0])


# --- what an --out value asks for ----------------------------------------------------------------

@pytest.mark.parametrize("out, format, count, kind, fmt", [
    ("o.jpg", None, 1, "file", "jpeg"),
    ("o.JPEG", "jpg", 1, "file", "jpeg"),
    ("d/{size}.png", None, 2, "pattern", "png"),
    ("d/{target}.webp", None, 3, "pattern", "webp"),
    ("d/{stem}.png", None, 1, "pattern", "png"),
    ("d/{stem}-{size}-{target}.png", None, 2, "pattern", "png"),
    ("d/", None, 2, "folder", None),
    ("d/", "jpg", 2, "folder", "jpeg"),
])
def test_an_out_value_is_a_file_a_pattern_or_a_folder(out, format, count, kind, fmt):
    spec = parse_out(out, format=format, count=count)
    assert (spec.kind, spec.format) == (kind, fmt)


def test_an_existing_folder_is_a_folder_without_a_slash(tmp_path):
    assert parse_out(str(tmp_path), count=2).kind == "folder"


@pytest.mark.parametrize("out, format, count, fragment", [
    ("o/{stem}_{szie}.png", None, 1, "{szie} is not one"),
    ("o/{Size}.png", None, 1, "{Size} is not one"),
    ("o/{}.png", None, 1, "{} is not one"),
    ("o/{size.png", None, 1, "braces only around a placeholder"),
    ("o/size}.png", None, 1, "braces only around a placeholder"),
    ("o.jpg", None, 2, "several sizes would all write the same file"),
    ("o/{stem}.jpg", None, 2, "several sizes would all write the same file"),
    ("o.gif", None, 1, ".webp"),
    ("o/{size}", None, 1, ".webp"),
    ("o.jpg", "png", 1, "the format of --out o.jpg (jpeg)"),
    ("o/", "gif", 1, "one of jpeg, png, webp"),
])
def test_what_an_out_value_cannot_ask_is_refused(out, format, count, fragment):
    with pytest.raises(OptionError) as raised:
        parse_out(out, format=format, count=count)
    assert fragment in str(raised.value)
    if "{" in fragment:  # an unknown placeholder: the message names every allowed one
        assert "{size}, {target}, {stem}" in str(raised.value)


def test_the_placeholders_are_filled_for_each_target():
    spec = parse_out("d/{stem}_{size}_{target}.png", count=2)
    paths = spec.paths("/in/photo.v2.jpg", [(target("1280x720"), "png"), (target("sora-2:720x1280"), "png")])
    assert paths == [Path("d/photo.v2_1280x720_1280x720.png"), Path("d/photo.v2_720x1280_sora-2_720x1280.png")]
    assert set(PLACEHOLDERS) == {"size", "target", "stem"}


# --- naming several outputs in a folder ----------------------------------------------------------

@pytest.mark.parametrize("specs, formats, names", [
    (["1280x720"], ["jpeg"], ["p-1280x720.jpg"]),
    (["100x100", "200x100"], ["jpeg", "png"], ["p-100x100.jpg", "p-200x100.png"]),
    # two targets of one pixel size: those are named by their target, the others by size
    (["sora-2:1280x720", "veo-3.1:1280x720", "720x1280"], ["jpeg", "jpeg", "webp"],
     ["p-sora-2_1280x720.jpg", "p-veo-3.1_1280x720.jpg", "p-720x1280.webp"]),
    (["1280x720", "veo-3.1:1280x720"], ["jpeg", "jpeg"], ["p-1280x720.jpg", "p-veo-3.1_1280x720.jpg"]),
])
def test_folder_names(specs, formats, names):
    assert folder_names("p", [(target(s), f) for s, f in zip(specs, formats)]) == names


def test_every_two_distinct_targets_get_distinct_names_in_a_folder():
    every = [p.target(size) for p in presets().values() for size in p.sizes]
    every += [target(str(t.size)) for t in every]
    for a, b in combinations({t.name: t for t in every}.values(), 2):
        first, second = folder_names("x", [(a, "jpeg"), (b, "jpeg")])
        assert first != second, (a.name, b.name)
        assert target_label(a) in first or str(a.size) in first


# --- the same-file check ------------------------------------------------------------------------

@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.jpg"
    path.write_bytes(b"the input")
    return path


def test_an_output_may_not_be_the_input_by_any_name(source, tmp_path, monkeypatch):
    (tmp_path / "sym.jpg").symlink_to(source)
    os.link(source, tmp_path / "hard.jpg")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for name in (source, "../in.jpg", tmp_path / "sub" / ".." / "in.jpg", tmp_path / "sym.jpg",
                 tmp_path / "hard.jpg"):
        assert same_file(name, source)
        with pytest.raises(OptionError) as raised:
            refuse_clashes([name], source, allow_hint="--overwrite-input")
        assert str(raised.value) == (f"out={str(name)!r} would overwrite the input {source}; choose "
                                     "another name, or --overwrite-input to replace it")
        refuse_clashes([name], source, overwrite_input=True)  # allowed when asked
    assert not same_file(tmp_path / "other.jpg", source)  # no file yet: not the input
    refuse_clashes([tmp_path / "other.jpg"], source)


def test_two_outputs_or_the_report_may_not_be_one_file(source, tmp_path):
    existing = tmp_path / "a.jpg"
    existing.write_bytes(b"x")
    os.link(existing, tmp_path / "b.jpg")
    for paths, report in (([tmp_path / "o.jpg", tmp_path / "o.jpg"], None),
                          ([tmp_path / "o.jpg", tmp_path / "." / "o.jpg"], None),
                          ([existing, tmp_path / "b.jpg"], None),  # hard links of one file
                          ([tmp_path / "o.jpg"], tmp_path / "o.jpg")):
        with pytest.raises(OptionError, match="a different file for each size"):
            refuse_clashes(paths, source, report=report)
    with pytest.raises(OptionError, match="would overwrite the input") as raised:
        refuse_clashes([], source, report=source, overwrite_input=True)  # the report never replaces it
    assert raised.value.field == "report" and "overwrite-input" not in str(raised.value)


# --- writing ------------------------------------------------------------------------------------

def test_write_atomic_leaves_only_the_complete_file(tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"old")
    write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["out.jpg"]
    with pytest.raises(OutputError, match="missing-folder") as raised:
        write_atomic(tmp_path / "missing-folder" / "x.jpg", b"data")
    assert isinstance(raised.value, OSError) and raised.value.exit_code == 73
    assert os.listdir(tmp_path) == ["out.jpg"]


def test_write_creates_folders_and_replaces_atomically(tmp_path):
    path = tmp_path / "a" / "b" / "o.bin"
    write(path, b"first")
    write(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["o.bin"]  # no temporary left


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_what_cannot_be_written_is_an_output_error(tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("a file")
    path = blocker / "d" / "o.jpg" if where == "under-a-file" else Path("/proc/nope/o.jpg")
    if where == "proc" and not Path("/proc/self").exists():
        pytest.skip("no /proc")
    with pytest.raises(OutputError) as raised:
        write(path, b"x")
    assert raised.value.exit_code == 73 and str(path) in str(raised.value)
    if where == "under-a-file":  # (/proc passes the early check: it is a folder root may write in)
        with pytest.raises(OutputError, match="is not a folder"):
            check_writable(path)
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path)


# --- the API keeps the same rules ---------------------------------------------------------------

@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((60, 80, 3), 120, np.uint8)).save(path)
    return path


def test_save_refuses_the_input_unless_asked_and_creates_folders(photo, tmp_path):
    result = smartframe.frame(photo, "40x30", strategy="centre")
    before = photo.read_bytes()
    (tmp_path / "link.png").symlink_to(photo)
    for name in (photo, tmp_path / "link.png"):
        with pytest.raises(OptionError, match="would overwrite the input .*overwrite_input=True"):
            result.save(name)
    assert photo.read_bytes() == before
    result.save(photo, overwrite_input=True)
    assert Image.open(photo).size == (40, 30)
    result.save(tmp_path / "new" / "deeper" / "o.jpg")
    assert Image.open(tmp_path / "new" / "deeper" / "o.jpg").size == (40, 30)
    from_bytes = smartframe.frame(before, "40x30", strategy="centre")
    from_bytes.save(tmp_path / "b.png")  # no input file to protect


@pytest.mark.parametrize("sizes", [["40x30", "40x30"], ["sora-2", "sora-2"], ["sora-2:1280x720", " sora-2:1280x720"]])
def test_a_size_given_twice_is_refused_by_the_api_and_the_option_parser(photo, sizes):
    with pytest.raises(OptionError, match="each size once"):
        smartframe.frame_sizes(photo, sizes, strategy="centre")
    with pytest.raises(OptionError, match="each size once") as raised:
        split_sizes(",".join(sizes))
    assert raised.value.field == "size"


def test_the_servers_downloads_are_named_by_the_same_rule(photo):
    from smartframe.serve.params import frame_call
    from smartframe.serve.worker import run_job

    wide = Image.open(photo).resize((160, 90))
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    call = frame_call([("size", "sora-2,veo-3.1,640x360"), ("strategy", "centre")], smartframe.Limits())
    status, payload = run_job("frame", call, buffer.getvalue(), "test")
    assert status == "ok", payload
    assert [entry["name"] for entry in payload["results"]] == [
        "smartframe-sora-2_1280x720.jpg", "smartframe-veo-3.1_1280x720.jpg", "smartframe-640x360.jpg"]


def test_a_batch_never_names_an_output_after_one_of_its_inputs(tmp_path):
    from smartframe.outputs import BATCH_NAME, batch_name, refuse_inputs_as_outputs

    out = tmp_path / "out"
    out.mkdir()
    photo = tmp_path / "in" / "photo.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"the input")
    names = lambda path: [batch_name(path, "1280x720", fmt) for fmt in ("jpeg", "png")]  # noqa: E731
    assert all(BATCH_NAME.match(name) for name in names(str(photo)))
    refuse_inputs_as_outputs([str(photo)], str(out), names)  # nothing there yet
    refuse_inputs_as_outputs([str(photo)], str(tmp_path / "missing"), names)
    (out / "unrelated.jpg").write_bytes(b"x")
    refuse_inputs_as_outputs([str(photo)], str(out), names)
    # an input that is an output's name: by path, hard link or symlink
    for make, also_input in ((lambda p: p.write_bytes(b"an input in out"), True),
                             (lambda p: os.link(photo, p), False), (lambda p: p.symlink_to(photo), False)):
        target = out / names(str(photo))[1]
        make(target)
        inputs = [str(photo)] + ([str(target)] if also_input else [])
        with pytest.raises(OptionError, match="would overwrite it; move it out of --out"):
            refuse_inputs_as_outputs(inputs, str(out), names)
        target.unlink()
    with pytest.raises(OptionError, match="manifest="):
        refuse_inputs_as_outputs([str(photo)], str(out), names, manifest=str(photo))
