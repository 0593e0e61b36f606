"""Outputs: the one door for files. Where an output goes, and how it is written.

Every front end (``FrameResult.save``, the CLI, batch, the server's downloads) asks this
module, so one rule holds everywhere:

* **An ``--out`` value** is a *file* (``out.jpg``), a *pattern* (``out/{stem}_{size}.png``)
  or a *folder* (an existing folder, or a name ending in ``/``). A pattern's placeholders are
  ``{size}`` (``1280x720``), ``{target}`` (``sora-2_1280x720``: the resolved target, ``:`` as
  ``_``; a plain size is just ``1280x720``) and ``{stem}`` (the input's name without its
  extension); any other ``{...}`` is refused, naming the allowed ones. Several outputs need a
  folder, or ``{size}`` or ``{target}`` in the pattern.
* **In a folder** an output is named ``<stem>-<WxH>.<ext>``. When two outputs of one call have
  the same pixel size (``-s sora-2,veo-3.1``: both 1280x720), each of those is named by its
  target instead: ``<stem>-<target>.<ext>`` (``photo-sora-2_1280x720.jpg``,
  ``photo-veo-3.1_1280x720.jpg``). The extension is ``jpg``, ``png`` or ``webp``.
* **The server's downloads** (``/v1/frame``) are named as in a folder, with the stem
  ``smartframe``: ``smartframe-1280x720.jpg``, ``smartframe-sora-2_1280x720.jpg``.
* **Never the input**: an output that is the input file (by path, through a symlink, or a
  hard link to it) is refused unless asked (``overwrite_input=True``, ``--overwrite-input``);
  two outputs of one call that are the same file are refused.
* **A batch** (``smartframe batch``, :func:`smartframe.frame_many`) writes every output directly
  into its folder as ``<stem>-<target>-<digest>.<ext>`` (:func:`batch_name`): the stem made
  safe (ASCII, no leading dot or dash, at most 64 characters), the target as above, and the
  first 12 hex digits of the SHA-256 of the input's absolute path, so the same stem in two
  input folders never collides and a rerun writes the same names. A batch refuses to start
  when an output would replace one of its inputs (:func:`refuse_inputs_as_outputs`).
* **Missing folders are created**; the bytes are written atomically (a temporary file in the
  same folder, renamed over the target), so a reader sees the old file or the whole new one.

Errors: :class:`~smartframe.errors.OptionError` for what the caller asked wrongly (exit 2),
:class:`~smartframe.errors.OutputError` for what cannot be written (exit 73).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .encode import choose_format, format_from_path, normalise_format
from .errors import OptionError, OutputError
from .geometry import Size
from .targets import Target, parse_target

__all__ = ["PLACEHOLDERS", "OutSpec", "parse_out", "extension", "target_label", "folder_names",
           "check_formats", "check_writable", "refuse_clashes", "same_file", "make_folder", "write",
           "write_atomic", "stem_of", "batch_name", "refuse_inputs_as_outputs", "BATCH_NAME", "TEMPORARY_NAME"]

#: The placeholders of an ``--out`` pattern, in the order the messages list them.
PLACEHOLDERS = ("size", "target", "stem")
_BRACED = re.compile(r"\{([^{}]*)\}")


def extension(fmt: str) -> str:
    """The file extension smartframe writes for a format: ``jpg``, ``png`` or ``webp``."""
    return "jpg" if fmt == "jpeg" else fmt


def target_label(target: Target) -> str:
    """The target as a file-name part: ``sora-2_1280x720`` (``:`` is not allowed in names on
    every system), or ``1280x720`` for a plain size."""
    return target.name.replace(":", "_")


def stem_of(input: str | os.PathLike | None) -> str:
    """The input's name without its folder and extension; ``image`` when there is no name."""
    if input is None:
        return "image"
    return Path(os.fspath(input)).stem or "image"


def folder_names(stem: str, outputs: Sequence[tuple[Target, str]]) -> list[str]:
    """The file names of ``outputs`` (``(target, format)`` pairs) in one folder: ``<stem>-<WxH>.<ext>``,
    or ``<stem>-<target>.<ext>`` for every output whose pixel size another output shares."""
    counts: dict[Size, int] = {}
    for target, _ in outputs:
        counts[target.size] = counts.get(target.size, 0) + 1
    return [f"{stem}-{target.size if counts[target.size] == 1 else target_label(target)}.{extension(fmt)}"
            for target, fmt in outputs]


@dataclass(frozen=True)
class OutSpec:
    """What an ``--out`` value asks for (see the module docstring): ``kind`` is ``"file"``,
    ``"pattern"`` or ``"folder"``; ``format`` is the format every output is written in, or
    None when each target chooses (a folder without a format)."""

    text: str
    kind: str
    format: str | None

    def paths(self, input: str | os.PathLike | None, outputs: Sequence[tuple[Target, str]]) -> list[Path]:
        """The path of each output (``(target, format)`` pairs, the format being what will be
        written), in order. Does not check them: see :func:`refuse_clashes`."""
        stem = stem_of(input)
        if self.kind == "folder":
            return [Path(self.text) / name for name in folder_names(stem, outputs)]
        if self.kind == "pattern":
            return [Path(_fill(self.text, stem, target)) for target, _ in outputs]
        return [Path(self.text) for _ in outputs]

    def sample(self) -> Path:
        """A path like those this spec makes, to check before any work that it can be written."""
        if self.kind == "folder":
            return Path(self.text) / "x"
        return Path(_BRACED.sub("x", self.text))


def parse_out(out: str | os.PathLike, *, format: str | None = None, count: int = 1,
              field: str = "out") -> OutSpec:
    """Read an ``--out`` value for ``count`` outputs, before any work.

    ``format`` (``--format``) must agree with a file's or pattern's extension; in a folder it
    is the format of every output. Raises OptionError naming ``field`` for an unknown
    placeholder or a stray brace, several outputs into one name, an extension smartframe
    cannot write, or a format the extension contradicts.
    """
    text = os.fspath(out)
    names = _BRACED.findall(text)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    if unknown:
        raise OptionError(field, text, f"the placeholders {allowed} only; {{{unknown[0]}}} is not one")
    if "{" in _BRACED.sub("", text) or "}" in _BRACED.sub("", text):
        raise OptionError(field, text, f"braces only around a placeholder: {allowed}")
    if names:
        kind = "pattern"
    elif os.path.isdir(text) or text.endswith(("/", os.sep)):
        kind = "folder"
    else:
        kind = "file"
    if count > 1 and kind != "folder" and not {"size", "target"} & set(names):
        raise OptionError(field, text, "{size} or {target} in the name, or a folder: several sizes "
                          "would all write the same file")
    if kind == "folder":
        return OutSpec(text, kind, normalise_format(format) if format else None)
    fmt = format_from_path(text)
    if format is not None and normalise_format(format) != fmt:
        raise OptionError("format", format, f"the format of --{field} {text} ({fmt}), or "
                          "--format left out (the extension decides)")
    return OutSpec(text, kind, fmt)


def check_formats(sizes: Sequence[object], fmt: str | None, *, alpha: bool, field: str = "format") -> None:
    """OptionError before any work when a target cannot be written in ``fmt`` (None: the
    target's own choice): a preset's formats bind the output, JPEG cannot keep transparency
    (``alpha``), WebP holds at most 16383 px a side."""
    for spec in sizes:
        choose_format(parse_target(spec), fmt, alpha=alpha, field=field)


def _fill(pattern: str, stem: str, target: Target) -> str:
    values = {"size": str(target.size), "target": target_label(target), "stem": stem}
    return _BRACED.sub(lambda match: values[match.group(1)], pattern)


def check_writable(path: str | os.PathLike) -> None:
    """OutputError unless ``path`` could be written: its nearest existing folder must be a
    folder smartframe can write in (missing folders below it are created when writing), and
    ``path`` itself not a folder."""
    path = Path(path)
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write: {folder} is not a folder", source=path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write: no permission to write in {folder}", source=path)
    if path.is_dir():
        raise OutputError("cannot write: is a folder", source=path)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path, a symlink to it, or a hard link
    (the same device and inode). A path that does not exist is no file yet."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _identity(path: str | os.PathLike) -> object:
    """What makes two outputs the same file: the inode of an existing file (hard links), or
    the resolved path of one still to be made."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return os.path.realpath(path)
    return (status.st_dev, status.st_ino)


def refuse_clashes(paths: Sequence[str | os.PathLike], input: str | os.PathLike | None, *,
                   field: str = "out", overwrite_input: bool = False, allow_hint: str | None = None,
                   report: str | os.PathLike | None = None) -> None:
    """OptionError when two of ``paths`` (or the ``report``) are one file, or one of them is
    the ``input`` (by path, symlink or hard link) and ``overwrite_input`` is False.

    ``allow_hint`` says how a caller allows replacing the input (``"--overwrite-input"``);
    None when it cannot be allowed. The report may never replace the input."""
    seen: set[object] = set()
    named = [(field, path) for path in paths] + ([("report", report)] if report is not None else [])
    for name, path in named:
        key = _identity(path)
        if key in seen:
            raise OptionError(name, str(path), "a different file for each size and for the report")
        seen.add(key)
        if input is None or not same_file(path, input):
            continue
        if name == "report" or not overwrite_input:
            hint = allow_hint if name != "report" else None
            how = f"choose another name, or {hint} to replace it" if hint else "choose another name"
            raise OptionError(name, str(path), "a file that is not the input", message=(
                f"{name}={str(path)!r} would overwrite the input {os.fspath(input)}; {how}"))


def make_folder(path: str | os.PathLike) -> None:
    """Create the folder ``path`` will be written in (and its parents); OutputError naming
    ``path`` when it cannot be made."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {folder} ({error.strerror or error})",
                          source=path) from error


def write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path``: missing folders are created, the file replaced atomically.
    OutputError (naming ``path``) when it cannot be."""
    make_folder(path)
    write_atomic(path, data)


# The process's umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: What :func:`write_atomic` names its temporary file: "." + final name + "." + 8 random
#: characters + ".part" (a killed process leaves it behind; a batch removes its own).
TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.part$")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the
    temporary file is renamed over ``path`` (atomic on POSIX and Windows). On any failure
    the temporary file is removed; an OS error (a missing folder, no permission, a full
    disk) is raised as :class:`OutputError` naming ``path``.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                                             suffix=".part")
    except OSError as error:
        raise OutputError(f"cannot write ({error.strerror or error})", source=target) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass  # already renamed or never created: nothing left behind
        if isinstance(error, OSError):
            raise OutputError(f"cannot write ({error.strerror or error})", source=target) from error
        raise


# --- a batch's outputs ----------------------------------------------------------------------------

_DIGEST_HEX = 12
_STEM_MAX = 64
#: The shape of every :func:`batch_name`.
BATCH_NAME = re.compile(r"^[A-Za-z0-9._-]+-[A-Za-z0-9_-]+-[0-9a-f]{%d}\.(jpg|png|webp)$" % _DIGEST_HEX)


def batch_name(input_path: str, target_name: str, format: str) -> str:
    """A batch's output file name for ``input_path`` framed to ``target_name`` (see the module
    docstring for the rule). ``format`` is ``jpeg``, ``png`` or ``webp``.

    >>> batch_name("/photos/Été 2024.JPG", "sora-2:1280x720", "jpeg")[:-17]
    'Ete_2024-sora-2_1280x720'
    """
    label = re.sub(r"[^A-Za-z0-9-]+", "_", target_name)
    return f"{_safe_stem(input_path)}-{label}-{_path_digest(input_path)}.{extension(format)}"


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-")[:_STEM_MAX].strip("._-")
    return cleaned or "image"


def _path_digest(path: str) -> str:
    return hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:_DIGEST_HEX]


def refuse_inputs_as_outputs(files: Sequence[str], folder: str, names: Callable[[str], Iterable[str]], *,
                             manifest: str | None = None) -> None:
    """OptionError when a name that ``names(path)`` gives an input's outputs in ``folder`` is
    already one of the ``files`` (by path, symlink or hard link), or the ``manifest`` is: a
    batch refuses to start rather than replace an input. Only names present in ``folder``
    cost a look (a fresh folder costs one listing)."""
    inputs: dict[object, str] = {}
    for path in files:
        inputs.setdefault(_identity(path), path)
    if manifest is not None and _identity(manifest) in inputs:
        raise OptionError("manifest", manifest, "a file that is not one of the inputs")
    try:
        present = {name for name in os.listdir(folder) if BATCH_NAME.match(name)}
    except (FileNotFoundError, NotADirectoryError):
        return
    if not present:
        return
    for path in files:
        for name in names(path):
            candidate = os.path.join(os.path.realpath(folder), name)
            if name in present and _identity(candidate) in inputs:
                raise OptionError("inputs", candidate, f"files that are not outputs of this batch: framing "
                                  f"{path} would overwrite it; move it out of --out")
