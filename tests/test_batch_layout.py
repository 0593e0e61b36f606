"""The batch package's stages import only from the stages before them (no cycle, nothing upward)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

# Read from the source tree, so that an import cycle fails the checks below, not their collection.
PACKAGE = Path(__file__).resolve().parent.parent / "smartframe" / "batch"
# Stage order, bottom to top, as the package docstring numbers it; the two engines are one
# stage and must not import each other.
RANK = {"inputs": 1, "naming": 2, "records": 3, "item": 4, "local_engine": 5, "dask_engine": 5,
        "run": 6, "__init__": 7}


def batch_imports(path: Path) -> set[str]:
    """The modules of smartframe.batch that ``path`` imports ("__init__" for the package itself)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1 or base.startswith("smartframe.batch"):
                name = base.removeprefix("smartframe.batch").lstrip(".") if node.level == 0 else base
                found |= ({name.split(".")[0]} if name else
                          {a.name if a.name in RANK else "__init__" for a in node.names})
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] if a.name.count(".") >= 2 else "__init__"
                      for a in node.names if a.name.startswith("smartframe.batch")}
    return found


def test_every_module_has_a_stage_and_imports():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(RANK)
    for name in RANK:
        if name == "dask_engine" and importlib.util.find_spec("distributed") is None:
            continue  # the Dask extra is optional
        module = importlib.import_module("smartframe.batch" + ("" if name == "__init__" else "." + name))
        assert module.__doc__, f"{name} says what stage it is"


def test_no_module_imports_from_its_own_stage_or_above():
    upward = {(path.stem, imported) for path in PACKAGE.glob("*.py")
              for imported in batch_imports(path) if RANK[imported] >= RANK[path.stem]}
    assert not upward, f"(module, what it imports upward): {sorted(upward)}"


@pytest.mark.parametrize("source, expected", [
    ("from .records import Job", {"records"}),
    ("from . import run", {"run"}),
    ("from smartframe.batch import frame_many", {"__init__"}),
    ("import smartframe.batch.item", {"item"}),
    ("from ..errors import OptionError", set()),
])
def test_the_import_reader_sees_each_form(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert batch_imports(path) == expected


def test_worker_processes_start_in_one_way():
    """The batch engine and the server's pool start workers through processes.process_context."""
    callers = [p.relative_to(PACKAGE.parent).as_posix() for p in PACKAGE.parent.rglob("*.py")
               if "get_context(" in p.read_text()]
    assert callers == ["processes.py"]
