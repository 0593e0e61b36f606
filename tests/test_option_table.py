"""One table of options, read by the command line and the HTTP API: the same names, the same
reading of text, the same errors (smartframe/option_table.py)."""

import inspect
from dataclasses import fields

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from smartframe import option_table as table
from smartframe.check import check
from smartframe.cli import main
from smartframe.errors import OptionError
from smartframe.explain import explain
from smartframe.options import FrameOptions, Limits
from smartframe.pipeline import FrameResult
from smartframe.serve import params


def _keywords(function, *skip):
    return {name for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in skip}


def test_the_table_has_a_row_for_every_option_of_the_library():
    names = lambda rows: [row.name for row in rows]  # noqa: E731
    assert names(table.FRAME_OPTIONS) == [f.name for f in fields(FrameOptions) if f.name != "limits"]
    assert set(names(table.ENCODE_OPTIONS)) == {"format"} | _keywords(FrameResult.encode)
    assert set(names(table.CHECK_OPTIONS)) == _keywords(check, "limits")
    assert set(names(table.EXPLAIN_OPTIONS)) == _keywords(explain, "options")
    assert names(table.LIMIT_OPTIONS) == [f.name for f in fields(Limits)]


def test_the_tables_defaults_are_the_librarys():
    frame_defaults = {row.name: row.parse(row.default) for row in table.FRAME_OPTIONS}
    assert table.frame_options(frame_defaults) == FrameOptions()
    assert table.limits({row.name: row.default for row in table.LIMIT_OPTIONS}) == Limits()
    for rows, function in ((table.CHECK_OPTIONS, check), (table.EXPLAIN_OPTIONS, explain)):
        signature = inspect.signature(function).parameters
        assert {row.name: row.default for row in rows} == {row.name: signature[row.name].default for row in rows}


def test_the_cli_and_the_api_take_every_row_under_the_same_name():
    commands = {name: {p.name for p in command.params} for name, command in main.commands.items()}
    for command, rows in (("frame", table.FRAME_OPTIONS + table.ENCODE_OPTIONS + table.LIMIT_OPTIONS),
                          ("batch", table.FRAME_OPTIONS + table.ENCODE_OPTIONS + table.LIMIT_OPTIONS),
                          ("explain", table.FRAME_OPTIONS + table.EXPLAIN_OPTIONS + table.LIMIT_OPTIONS),
                          ("check", table.CHECK_OPTIONS + table.LIMIT_OPTIONS)):
        assert {row.name for row in rows} | {"size"} <= commands[command], command
    endpoints = {name: {p.name for p in rows} for name, rows in params.ENDPOINT_PARAMS.items()}
    assert endpoints["frame"] == {"size"} | {r.name for r in table.FRAME_OPTIONS + table.ENCODE_OPTIONS}
    assert endpoints["explain"] == {"size"} | {r.name for r in table.FRAME_OPTIONS + table.EXPLAIN_OPTIONS}
    assert endpoints["check"] == {"size"} | {r.name for r in table.CHECK_OPTIONS}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "photo.png"
    Image.fromarray(np.full((60, 80, 3), 120, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("name, value", [
    ("quality", "\uff15"),  # a full-width digit: Python's int() would read it
    ("quality", "0"),
    ("quality", "ninety"),
    ("max_bytes", "-1"),
    ("min_face_px", "\u0665"),
    ("min_face_px", "many"),
    ("min_face_score", "1.5"),
    ("upscale_warning", "0.5"),
    ("fit", "zoom"),
    ("strategy", "center"),
    ("focus", "2,2"),
    ("background", "nocolour"),
    ("pad_position", "middle"),
    ("crop_bounds", "0.5,0,0.4,1"),
    ("faces", "hide"),
    ("alpha", "drop"),
    ("alpha_background", "1,2"),
    ("format", "gif"),
    ("metadata", "some"),
    ("size", "100x100,100x100"),
    ("size", ","),
    ("size", "16:9"),
])
def test_a_bad_value_is_the_same_error_on_the_command_line_and_over_http(photo, tmp_path, name, value):
    query = [("size", "100x100")] if name != "size" else []
    with pytest.raises(OptionError) as raised:
        params.frame_call(query + [(name, value)], Limits())
    argv = ["frame", str(photo), "-o", str(tmp_path / "o.png")] + (["-s", "100x100"] if name != "size" else [])
    result = CliRunner().invoke(main, argv + [f"--{name.replace('_', '-')}", value])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"smartframe: usage error: {raised.value}"
    assert raised.value.field == name


@pytest.mark.parametrize("text, value", [("true", True), ("On", True), ("0", False), ("no", False)])
def test_booleans_and_numbers_read_the_same_everywhere(text, value):
    (faces,) = [row for row in table.CHECK_OPTIONS if row.name == "faces"]
    assert faces.parse(text) is value
    with pytest.raises(OptionError, match="true or false"):
        faces.parse("maybe")
    assert params.check_call([("size", "10x10"), ("faces", text)], Limits()).arguments["faces"] is value
    (quality,) = [row for row in table.ENCODE_OPTIONS if row.name == "quality"]
    assert quality.parse(" 85 ") == 85 and isinstance(quality.parse("85"), int)
