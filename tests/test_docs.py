"""The README and docs/ work as written: every command runs, every relative link resolves.

How code blocks are read (the docs follow these conventions; docs/development.md points here):

* A ```console block holds commands, each on a line starting with ``$ ``; the other lines are
  what they printed (not compared: the test's images are not the docs' photos). A command must
  exit 0, unless it ends with the comment ``# exit N``: it then fails on purpose and must exit N.
* A ```bash block holds one command per line (``#`` comments and blank lines skipped; a line
  ending in ``\\`` continues on the next); each must exit 0.
* A ```python block is written to a file and run with this Python; it must exit 0.
* A block right after an ``<!-- illustration ... -->`` comment is not run (it needs a running
  server, a cluster or the evaluation photos, or it is a synopsis). Blocks in any other language
  (``text``, ``json``, ``nginx``) are never run.
* Two commands are CI's, not this test's: ``pip install ...`` (the test checks instead that each
  extra it names exists in pyproject.toml) and ``python -m pytest`` (this suite). The README's
  Quick start block is what .ci/run executes on a clean clone.
* File names: the docs call a photo without a face ``photo.jpg``, a photo with one face
  ``portrait.jpg`` and a folder of both ``photos/``. The test draws these (smartframe.scenes)
  into a fresh folder per page, and runs the page's blocks there in order, so a block may use a
  file an earlier block of the page wrote.

Links: every ``[text](target)`` outside code whose target is not a URL must name a file or
folder of the repository, and its ``#anchor``, if any, a heading of that Markdown file (GitHub's
rule: lower case, punctuation dropped, spaces to ``-``).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED_PAGES = PAGES + [p for p in (ROOT / "benchmarks" / "README.md", ROOT / "benchmarks" / "RESULTS.md")
                        if p.exists()]
RUN_LANGUAGES = {"console", "bash", "python"}
FENCE = re.compile(r"^```(\S*)\s*$")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
CI_ONLY = ("pip install", "python -m pytest")
TIMEOUT = 90  # seconds one command may take


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    illustration: bool


def blocks(page: Path) -> list[Block]:
    found, lines = [], page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start, body = index, []
        index += 1
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        before = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        found.append(Block(page, start + 1, match.group(1), "\n".join(body) + "\n",
                           before.startswith("<!-- illustration")))
        index += 1
    return found


def commands(block: Block) -> list[tuple[str, int]]:
    """(command, expected exit code) of a console or bash block."""
    result = []
    if block.language == "console":
        for line in block.text.splitlines():
            if line.startswith("$ "):
                command = line[2:]
                expected = EXIT.search(command)
                result.append((command, int(expected.group(1)) if expected else 0))
        return result
    joined = block.text.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            expected = EXIT.search(line)
            result.append((line, int(expected.group(1)) if expected else 0))
    return result


def extras_named(command: str) -> list[str]:
    """The extras of each ``pip install ".[a,b]"`` in ``command``; refuses other installs."""
    extras = []
    for word in shlex.split(command, comments=True):
        match = re.fullmatch(r"\.(?:\[([a-z0-9_,-]+)\])?", word)
        if match and match.group(1):
            extras += match.group(1).split(",")
        elif word not in ("pip", "install", ".") and not word.startswith("-"):
            raise AssertionError(f"{command!r}: smartframe installs from a checkout ('pip install \".[extra]\"'), "
                                 f"not {word!r}")
    return extras


def make_files(folder: Path) -> None:
    """photo.jpg (no face), portrait.jpg (one face) and photos/ (both), drawn by smartframe."""
    from smartframe.scenes import face_scene, landscape_with_subject

    photo, _ = landscape_with_subject(800, 500, subject_x=0.3)
    Image.fromarray(photo).save(folder / "photo.jpg", quality=90)
    Image.fromarray(face_scene(640, 480, 240, 200, 150)).save(folder / "portrait.jpg", quality=90)
    (folder / "photos").mkdir()
    Image.fromarray(photo).save(folder / "photos" / "landscape.jpg", quality=90)
    Image.fromarray(face_scene(640, 480, 240, 200, 150)).save(folder / "photos" / "person.jpg", quality=90)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(argv, cwd: Path, where: str, expected: int, *, shell: bool = False) -> None:
    """Run one command in its own process group; on a timeout the whole group is killed, so a
    command that starts a server cannot outlive the test."""
    process = subprocess.Popen(argv, cwd=cwd, env=environment(), shell=shell,
                               executable="/bin/bash" if shell else None, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"{where}: still running after {TIMEOUT} s (mark a long-running block "
                             f"as an illustration)") from None
    assert process.returncode == expected, (
        f"{where}: exit {process.returncode}, expected {expected}\n--- stdout\n{stdout[-2000:]}"
        f"\n--- stderr\n{stderr[-2000:]}")


def pyproject_extras() -> set[str]:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as file:
        return set(tomllib.load(file)["project"]["optional-dependencies"])


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_of_the_page_runs(page, tmp_path):
    make_files(tmp_path)
    for block in blocks(page):
        if block.illustration or block.language not in RUN_LANGUAGES:
            continue
        where = f"{page.relative_to(ROOT)}:{block.line}"
        if block.language == "python":
            script = tmp_path / f"block_{block.line}.py"
            script.write_text(block.text, encoding="utf-8")
            run([sys.executable, script.name], tmp_path, where, 0)
            continue
        for command, expected in commands(block):
            parts = [part.strip() for part in command.split("&&")]
            for part in parts:
                if part.startswith("pip install"):
                    unknown = set(extras_named(part)) - pyproject_extras()
                    assert not unknown, f"{where}: {part!r} names extras pyproject.toml lacks: {unknown}"
            runnable = " && ".join(p for p in parts if not p.startswith(CI_ONLY))
            if runnable:
                run(runnable, tmp_path, f"{where}: {command}", expected, shell=True)


def test_the_readme_is_a_landing_page_whose_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    quick = readme.split("\n## Quick start", 1)[1]
    block = next(b for b in blocks(ROOT / "README.md") if b.language == "bash"
                 and readme.index(b.text) > readme.index("## Quick start"))
    assert quick.index("```bash") < quick.index(block.text)
    assert [c for c, _ in commands(block)] == ["pip install . && smartframe demo --out smartframe-demo",
                                               'pip install ".[test]" && python -m pytest']


def test_no_page_tells_users_to_install_from_pypi():
    for page in LINKED_PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"pip install [\"']?smartframe\b", text), page  # not on PyPI


def test_the_presets_table_is_the_presets_data():
    import smartframe

    text = (ROOT / "docs" / "presets.md").read_text(encoding="utf-8")
    rows = {cells[0].strip("` "): cells for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
             if line.startswith("| `"))}
    presets = list(smartframe.presets().values())
    assert set(rows) >= {p.name for p in presets}
    for preset in presets:
        cells = rows[preset.name]
        assert cells[2] == ", ".join(f"{s.width}x{s.height}" for s in preset.sizes), preset.name
        assert cells[3] == ", ".join(preset.formats), preset.name
        assert cells[4].split()[0] == str(preset.max_bytes), preset.name
        assert cells[5] == ("refused" if preset.refuses_faces else "allowed"), preset.name


def github_slug(heading: str, seen: dict[str, int]) -> str:
    text = re.sub(r"[`*]", "", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).lower()
    slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {github_slug(m.group(1), seen) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_checker_finds_a_broken_link_and_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A `code` title\n\n[ok](#a-code-title) [bad](#nope) [gone](missing.md)\n"
                    "```bash\n[not a link](nowhere.md)\n```\n", encoding="utf-8")
    assert links(page) == ["#a-code-title", "#nope", "missing.md"]
    assert anchors(page) == {"a-code-title"}


def test_the_block_reader_follows_the_conventions(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- illustration: a server -->\n```bash\nsmartframe serve\n```\n\n"
                    "```console\n$ smartframe check photo.jpg -s sora-2   # exit 1\nphoto.jpg: FAIL\n"
                    "$ smartframe presets\n```\n```bash\ncurl -s \\\n  http://x\n# note\n```\n", encoding="utf-8")
    found = blocks(page)
    assert [(b.language, b.illustration) for b in found] == [("bash", True), ("console", False), ("bash", False)]
    assert commands(found[1]) == [("smartframe check photo.jpg -s sora-2   # exit 1", 1), ("smartframe presets", 0)]
    assert commands(found[2]) == [("curl -s    http://x", 0)]
    with pytest.raises(AssertionError, match="from a checkout"):
        extras_named('pip install "smartframe[serve]"')
    assert extras_named('pip install ".[serve]"') == ["serve"]
