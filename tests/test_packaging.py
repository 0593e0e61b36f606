"""The wheel holds every package of the source tree (an editable install would hide a gap)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "smartframe").rglob("__init__.py")}
    assert in_tree <= listed, f"missing from [tool.setuptools] packages: {sorted(in_tree - listed)}"


def test_every_file_of_the_page_ships():
    """The page's files (its ES modules included, in any subfolder) match package-data, so a
    wheel serves the same page as a checkout."""
    from fnmatch import fnmatch

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "smartframe" / "serve"
    files = [path.relative_to(package).as_posix() for path in (package / "static").rglob("*") if path.is_file()]
    assert any(name.endswith(".js") for name in files)
    unshipped = [name for name in files
                 if not any(fnmatch(name, pattern) and name.count("/") == pattern.count("/")
                            for pattern in patterns["smartframe.serve"])]
    assert unshipped == [], f"not in [tool.setuptools.package-data] smartframe.serve: {unshipped}"
