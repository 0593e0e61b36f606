"""The wheel holds every package of the source tree (an editable install would hide a gap)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "smartframe").rglob("__init__.py")}
    assert in_tree <= listed, f"missing from [tool.setuptools] packages: {sorted(in_tree - listed)}"
