"""Write a benchmark's figures into ``benchmarks/RESULTS.md``, so no figure is typed by hand.

Each benchmark owns one section of the file, between two marker comments named after it.
:func:`write_section` replaces that section (or appends it the first time) with what the run
measured, headed by the command that produced it, the date and the machine, and leaves every
other benchmark's section as it was. The file is only ever written by these calls.

    from _results import write_section
    write_section("quality", markdown_tables, argv=sys.argv)
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

_HEADER = """# Measured results

Every figure below was written by the benchmark that measured it (`benchmarks/*.py`), with the
command, the date and the machine of the run; none is typed by hand. Run a benchmark again to
replace its section. How each figure is measured: [docs/measuring.md](../docs/measuring.md).
"""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def machine() -> str:
    """One line about the machine the figures come from: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass  # not Linux: platform.processor() is the best there is
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
            memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def command_line(argv: list[str] | None = None) -> str:
    """The command as a user would type it from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0])
    try:
        shown = script.resolve().relative_to(RESULTS.parent.parent)
    except ValueError:
        shown = script
    return shlex.join(["python", str(shown), *argv[1:]])


def write_section(name: str, body: str, *, argv: list[str] | None = None,
                  title: str | None = None, path: Path = RESULTS) -> Path:
    """Replace benchmark ``name``'s section of RESULTS.md with ``body`` (Markdown).

    The section is headed by ``title`` (default: the name), the command (``argv``, default
    ``sys.argv``), today's date and :func:`machine`. Written atomically.
    """
    if not _NAME.match(name):
        raise ValueError(f"section name {name!r}: lower-case letters, digits, '-' and '_' only")
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    section = "\n".join([
        start,
        f"## {title or name}",
        "",
        f"`{command_line(argv)}`, run on {_dt.date.today().isoformat()} ({machine()}).",
        "",
        body.strip(),
        end,
    ])
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    text = text.rstrip("\n") + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".RESULTS.", suffix=".md")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return path


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; floats are printed as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def load_note(load_start: float, load_end: float, cpus: int | None = None) -> str:
    """A sentence on how busy the machine was during the run (load averages at its start and
    end), warning when other work competed for the CPUs: times are then inflated and noisy."""
    cpus = cpus or os.cpu_count() or 1
    note = f"Load average {load_start:.2f} at the start, {load_end:.2f} at the end ({cpus} CPUs)."
    if max(load_start, load_end) > cpus:
        note += (" The machine was shared with other work during this run, so these times are"
                 " inflated and noisy; compare them with each other, not with another run.")
    return note
