"""Batch: frame many inputs to one or more sizes, in parallel, with a manifest and resume.

The flow, top to bottom::

    collect inputs -> decide what is left to do (manifest) -> run it (worker processes, or a
    Dask cluster) -> one manifest line per (input, size) as each item finishes

**Inputs.** Files, folders (searched recursively for image extensions, hidden names and the
output folder skipped) and glob patterns. A file named explicitly is taken as given; a name
that matches nothing is recorded as a failed input (kind ``input``), so every name the caller
gave is accounted for.

**Naming rule.** Every output goes directly into ``out`` as::

    <stem>-<target>-<digest>.<ext>

``stem`` is the input's file name without its extension, transliterated to ASCII with every
run of characters other than ``A-Z a-z 0-9 . _ -`` replaced by ``_``, leading and trailing
``.``, ``_`` and ``-`` removed (no hidden names, none that reads as a command-line option;
at most 64 characters, ``image`` when nothing is left); ``target`` is the resolved target name with ``:`` as ``_``
(``1280x720``, ``sora-2_720x1280``); ``digest`` is the first 12 hex digits of the SHA-256 of the
input's absolute path; ``ext`` is ``jpg``, ``png`` or ``webp``. The name depends only on the
input's path and the target, so a rerun writes the same names, the same stem in two folders
never collides, and no input name can place a file outside ``out``. An output never
replaces an input: the run refuses to start when one would.

**Manifest.** JSON lines, one per (input, size): see :class:`ItemRecord`. The key is the
input's absolute path and the size label (the size as parsed: ``1280x720``, ``sora-2``).

**Resume.** Running again with the same manifest does only what is missing. An item counts
as done when its last line says ``done``, was made with the same settings (options, format,
quality, byte limit, metadata: the ``settings`` digest) and its output file still exists in
``out``; its line is left exactly as the earlier run wrote it. Everything else (failed items,
items never finished, items whose output was deleted) is done again: at the start the
manifest is rewritten atomically without their old lines, and their new lines are appended as
they finish. So the final manifest holds each (input, size) exactly once, whatever happened to
earlier runs. A line cut short by a killed run is dropped. Outputs are written atomically
(temporary file + rename), so a killed run leaves no partial output; its stale temporary files
are removed at the start of the next run, under a lock that keeps two runs out of one folder.

**Time limit.** An input that takes longer than ``timeout`` seconds is recorded as
:class:`~smartframe.errors.ProcessingTimeout` (exit code 6) and the worker process that was
stuck on it is stopped and replaced.
"""

from __future__ import annotations

import glob
import hashlib
import importlib
import json
import multiprocessing
import os
import re
import signal
import socket
import time
import traceback
import unicodedata
from collections import deque
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait as wait_for_any
from typing import Callable, Iterable, Sequence

import numpy as np

from .analysis import Face
from .encode import check_encode_settings, choose_format, normalise_format, write_atomic
from .errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    ConstraintError,
    ImageNotFoundError,
    InputError,
    ModelError,
    OptionError,
    OutputError,
    ProcessingTimeout,
    SmartframeError,
)
from .geometry import whole_number
from .options import AlphaPolicy, FrameOptions, Limits, real_number
from .pipeline import FROM_TARGET, frame_sizes, make_options
from .processes import exit_text, exit_with_parent
from .targets import Preset, parse_target

__all__ = [
    "frame_many",
    "BatchReport",
    "BatchInterrupted",
    "ItemRecord",
    "ErrorInfo",
    "Timings",
    "Job",
    "Task",
    "frame_item",
    "collect_inputs",
    "output_name",
    "read_manifest",
    "IMAGE_EXTENSIONS",
    "DEFAULT_TIMEOUT",
    "MANIFEST_NAME",
]

#: File extensions a folder or glob search picks up (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp",
                              ".tif", ".tiff", ".avif", ".heic", ".heif"})
#: Seconds one input may take (all its sizes) before its worker is replaced.
DEFAULT_TIMEOUT = 60.0
#: The manifest's file name in ``out`` when no other path is given.
MANIFEST_NAME = "manifest.jsonl"
_LOCK_NAME = ".smartframe-batch.lock"
_DIGEST_HEX = 12
_STEM_MAX = 64
# What write_atomic leaves behind when its process is killed between mkstemp and rename:
# "." + final name + "." + 8 random characters + ".part".
_TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.part$")
_OUTPUT_PATTERN = re.compile(r"^[A-Za-z0-9._-]+-[A-Za-z0-9_-]+-[0-9a-f]{%d}\.(jpg|png|webp)$" % _DIGEST_HEX)
_GLOB_CHARS = re.compile(r"[*?[]")
_STATUSES = ("done", "failed")


# --- the records -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """What every item of a run shares: the options, the encoding, the output folder.

    ``out_dir`` is an absolute path. ``format`` None means the target's first accepted
    format; ``max_bytes`` defaults to the target's limit (``FROM_TARGET``); ``metadata`` is
    ``"strip"`` or ``"keep"`` (see :meth:`smartframe.FrameResult.encode`).
    """

    out_dir: str
    options: FrameOptions
    format: str | None = None
    quality: int | None = None
    max_bytes: object = FROM_TARGET
    metadata: str = "strip"

    @property
    def settings(self) -> str:
        """12 hex digits that change whenever anything that shapes an output changes."""
        text = repr((self.options, self.format, self.quality, self.max_bytes, self.metadata))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class ErrorInfo:
    """Why an item failed: the error kind, class name, CLI exit code and message.

    ``message`` does not repeat the input path (the record has it). ``traceback`` is kept
    for internal errors only (bugs), so they can be reported.
    """

    kind: str
    type: str
    exit_code: int
    message: str
    traceback: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        if isinstance(error, SmartframeError):
            return cls(error.kind, type(error).__name__, error.exit_code, error.message)
        text = "".join(traceback.format_exception(error))
        return cls("internal", type(error).__name__, EXIT_INTERNAL,
                   str(error) or type(error).__name__, text)

    def to_dict(self) -> dict:
        data = {"kind": self.kind, "type": self.type, "exit_code": self.exit_code,
                "message": self.message}
        if self.traceback:
            data["traceback"] = self.traceback
        return data


@dataclass(frozen=True)
class Timings:
    """Wall-clock milliseconds spent on one item in its worker.

    ``frame`` is load + analysis + plan + render for *all* sizes of the input together (one
    decode serves them all); ``encode`` and ``write`` are for this size; ``total`` is their
    sum. A failed item has only ``total`` (time until it failed; the time limit for a timeout).
    """

    frame: float | None = None
    encode: float | None = None
    write: float | None = None
    total: float | None = None

    def to_dict(self) -> dict:
        return {k: round(v, 2) for k, v in (("frame", self.frame), ("encode", self.encode),
                                             ("write", self.write), ("total", self.total))
                if v is not None}


@dataclass(frozen=True)
class ItemRecord:
    """One manifest line: what became of one (input, size).

    ``input`` is the absolute input path; ``size`` the size label (the key, with ``input``);
    ``status`` is ``"done"`` or ``"failed"``. For ``done``: ``output`` (absolute path),
    ``target`` (resolved target name), ``format``, ``file_bytes``, ``quality``, ``crop_box``
    and ``faces`` (source pixels after EXIF orientation, ``(x0, y0, x1, y1)``), ``strategy``,
    ``warnings``. For ``failed``: ``error``. Both: ``timings_ms``, ``settings`` (the
    :attr:`Job.settings` digest) and ``worker`` (``host:pid``).
    """

    input: str
    size: str
    status: str
    settings: str
    output: str | None = None
    target: str | None = None
    format: str | None = None
    file_bytes: int | None = None
    quality: int | None = None
    crop_box: tuple[float, float, float, float] | None = None
    strategy: str | None = None
    faces: tuple[Face, ...] = ()
    warnings: tuple[str, ...] = ()
    timings_ms: Timings = field(default_factory=Timings)
    error: ErrorInfo | None = None
    worker: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.input, self.size)

    def to_json(self) -> str:
        """The record as one line of JSON (no newline)."""
        return json.dumps({
            "input": self.input, "size": self.size, "status": self.status,
            "output": self.output, "target": self.target, "format": self.format,
            "file_bytes": self.file_bytes, "quality": self.quality,
            "crop_box": None if self.crop_box is None else [round(v, 3) for v in self.crop_box],
            "strategy": self.strategy, "faces": [face.to_dict() for face in self.faces],
            "warnings": list(self.warnings), "timings_ms": self.timings_ms.to_dict(),
            "error": None if self.error is None else self.error.to_dict(),
            "settings": self.settings, "worker": self.worker,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str | bytes) -> ItemRecord:
        """Read a manifest line; raises ValueError when it is not one."""
        data = json.loads(line)
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str)
                                                 for k in ("input", "size", "status", "settings")):
            raise ValueError("not a smartframe manifest record")
        if data["status"] not in _STATUSES:
            raise ValueError(f"unknown status {data['status']!r}")
        error = data.get("error")
        faces = tuple(Face(*face["box"], face["score"]) for face in data.get("faces") or ())
        timings = data.get("timings_ms") or {}
        return cls(
            input=data["input"], size=data["size"], status=data["status"],
            settings=data["settings"], output=data.get("output"), target=data.get("target"),
            format=data.get("format"), file_bytes=data.get("file_bytes"),
            quality=data.get("quality"),
            crop_box=None if data.get("crop_box") is None else tuple(data["crop_box"]),
            strategy=data.get("strategy"), faces=faces,
            warnings=tuple(data.get("warnings") or ()),
            timings_ms=Timings(**{k: timings.get(k) for k in ("frame", "encode", "write", "total")}),
            error=None if error is None else ErrorInfo(**error), worker=data.get("worker"),
        )


@dataclass(frozen=True)
class Task:
    """One input and the size labels still to make from it: the unit of work of a worker."""

    input: str
    sizes: tuple[str, ...]
    job: Job

    def failed(self, error: ErrorInfo, *, timings: Timings = Timings(),
               worker: str | None = None) -> tuple[ItemRecord, ...]:
        """One ``failed`` record per size, all for the same reason. ``worker`` defaults to
        this process."""
        return tuple(ItemRecord(input=self.input, size=size, status="failed",
                                settings=self.job.settings, error=error, timings_ms=timings,
                                worker=worker or _worker_name())
                     for size in self.sizes)

    def timed_out(self, timeout: float, aftermath: str, *, worker: str | None = None) -> tuple[ItemRecord, ...]:
        """The records of a task that ran past ``timeout`` seconds; ``aftermath`` says what
        was done about its worker. The same for the local and the Dask engine."""
        error = ProcessingTimeout(f"took longer than the time limit of {timeout:g} s; {aftermath}")
        return self.failed(ErrorInfo.from_exception(error), timings=Timings(total=timeout * 1000.0),
                           worker=worker)


@dataclass(frozen=True)
class BatchReport:
    """The outcome of :func:`frame_many`.

    Counts are (input, size) items: ``total`` for this run's inputs, ``done`` and
    ``failed`` in this run, ``already_done`` found done in the manifest and left as they
    were. ``records`` are the lines this run wrote, in the order they finished.
    ``elapsed_ms`` is the wall-clock time of the whole run. ``earlier_failures`` are
    ``failed`` lines the manifest keeps from earlier runs for inputs that are not in this
    run (an input since deleted, or one another run was given): they are neither retried
    nor counted, and are listed so that a clean run does not hide them.
    """

    out_dir: str
    manifest: str
    total: int
    done: int
    failed: int
    already_done: int
    records: tuple[ItemRecord, ...]
    elapsed_ms: float
    earlier_failures: tuple[ItemRecord, ...] = ()

    @property
    def not_started(self) -> int:
        """Items of this run with no outcome yet (non-zero only for an interrupted run)."""
        return self.total - self.done - self.failed - self.already_done

    @property
    def failures(self) -> tuple[ItemRecord, ...]:
        return tuple(r for r in self.records if r.status == "failed")

    @property
    def exit_code(self) -> int:
        """0 when every item is done, 1 when any failed (the ``batch`` command's exit code)."""
        return EXIT_OK if self.failed == 0 else EXIT_FAILED


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) stopped :func:`frame_many`. ``report`` counts what was finished and
    recorded before it; running the same call again resumes."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__(f"interrupted after {report.done} done, {report.failed} failed")
        self.report = report


#: ``progress(finished, total, record)``: called once with ``record=None`` when the work is
#: planned, then once per record. ``total`` counts the items this run does (not those found done).
Progress = Callable[[int, int, "ItemRecord | None"], None]


# --- inputs ------------------------------------------------------------------------------------

def collect_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike], *,
                   exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[str], list[str]]:
    """Expand files, folders and glob patterns into absolute file paths.

    Returns ``(files, unmatched)``: the files in order (each once; folders sorted and
    searched recursively), and the names that matched nothing (absolute). Folder and glob
    searches keep only :data:`IMAGE_EXTENSIONS`, skip hidden names (starting with ``.``),
    things that are not files (FIFOs, devices), and anything under an ``exclude`` path (the
    output folder, the manifest). A file named explicitly is taken as given.
    """
    excluded = [os.path.realpath(p) for p in exclude]
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    files: list[str] = []
    unmatched: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        path = os.path.abspath(path)
        if path not in seen:
            seen.add(path)
            files.append(path)

    for item in items:
        name = os.fspath(item)
        if os.path.isdir(name):
            for path in _search_folder(name, excluded):
                add(path)
        elif os.path.lexists(name):
            add(name)
        elif _GLOB_CHARS.search(name):
            matches = sorted(glob.glob(name, recursive=True))
            found = [p for m in matches for p in (_search_folder(m, excluded) if os.path.isdir(m)
                                                  else [m] if _wanted(m, excluded) else [])]
            if not found:
                unmatched.append(os.path.abspath(name))
            for path in found:
                add(path)
        else:
            unmatched.append(os.path.abspath(name))
    return files, [u for u in dict.fromkeys(unmatched) if u not in seen]


def _search_folder(root: str, excluded: list[str]) -> list[str]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".")
                               and not _is_excluded(os.path.join(folder, d), excluded))
        found.extend(os.path.join(folder, n) for n in sorted(names)
                     if _wanted(os.path.join(folder, n), excluded))
    return found


def _wanted(path: str, excluded: list[str]) -> bool:
    name = os.path.basename(path)
    if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
        return False
    if os.path.exists(path) and not os.path.isfile(path):
        return False  # a folder, FIFO or device with an image-like name (a broken link stays in)
    return not _is_excluded(path, excluded)


def _is_excluded(path: str, excluded: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == e or real.startswith(e.rstrip(os.sep) + os.sep) for e in excluded)


# --- naming ------------------------------------------------------------------------------------

def output_name(input_path: str, target_name: str, format: str) -> str:
    """The output file name for ``input_path`` framed to ``target_name`` (see the module
    docstring for the rule). ``format`` is ``jpeg``, ``png`` or ``webp``.

    >>> output_name("/photos/Été 2024.JPG", "sora-2:1280x720", "jpeg")[:-16]
    'Ete_2024-sora-2_1280x720'
    """
    ext = "jpg" if format == "jpeg" else format
    label = re.sub(r"[^A-Za-z0-9-]+", "_", target_name)
    return f"{_safe_stem(input_path)}-{label}-{_path_digest(input_path)}.{ext}"


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-")[:_STEM_MAX].strip("._-")
    return cleaned or "image"


def _path_digest(path: str) -> str:
    return hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:_DIGEST_HEX]


def _size_label(spec: object) -> str:
    """The canonical label of a size spec (raises OptionError when it is not one)."""
    return _spec_label(parse_target(spec))


def _spec_label(parsed: object) -> str:
    """``sora-2-pro``, ``sora-2-pro:16:9``, ``sora-2:1280x720`` or ``1280x720``."""
    return parsed.label if isinstance(parsed, Preset) else parsed.name


def _possible_targets(label: str) -> list[str]:
    parsed = parse_target(label)
    if isinstance(parsed, Preset):
        return [parsed.target(size).name for size in parsed.sizes]
    return [parsed.name]


# --- the work of one worker ----------------------------------------------------------------------

def frame_item(task: Task) -> tuple[ItemRecord, ...]:
    """Frame one input to each of its sizes and write the outputs: the work of one worker.

    Returns one record per size, in order, ``done`` or ``failed``; never raises for a
    problem with the input or an output. Writes only into ``task.job.out_dir``, atomically.
    """
    started = time.perf_counter()
    try:
        results = frame_sizes(task.input, list(task.sizes), options=task.job.options)
    except ConstraintError as error:
        if len(task.sizes) == 1:
            return task.failed(ErrorInfo.from_exception(error), timings=Timings(total=_ms_since(started)))
        # One size's constraint (faces refused at that size, say) must not fail the others.
        return tuple(record for size in task.sizes
                     for record in frame_item(replace(task, sizes=(size,))))
    except Exception as error:  # noqa: BLE001
        # The one deliberate broad catch: a bad input (a SmartframeError) or a bug met on one
        # image must not stop the batch. A bug is recorded with kind "internal" and its
        # traceback (ErrorInfo.from_exception), and the run goes on.
        return task.failed(ErrorInfo.from_exception(error), timings=Timings(total=_ms_since(started)))
    frame_ms = _ms_since(started)
    return tuple(_write_output(task, size, result, frame_ms)
                 for size, result in zip(task.sizes, results))


def _write_output(task: Task, size: str, result, frame_ms: float) -> ItemRecord:
    job = task.job
    started = time.perf_counter()
    encode_ms = None
    try:
        encoded = result.encode(job.format or FROM_TARGET, quality=job.quality,
                                max_bytes=job.max_bytes, metadata=job.metadata)
        encode_ms = _ms_since(started)
        path = os.path.join(job.out_dir, output_name(task.input, result.target.name, encoded.format))
        written = time.perf_counter()
        try:
            write_atomic(path, encoded.data)
        except OutputError as error:  # it names the output; the record also names the input
            raise OutputError(str(error), source=task.input) from error
        write_ms = _ms_since(written)
    except Exception as error:  # noqa: BLE001 -- as in frame_item: a bug is recorded as "internal"
        timings = Timings(frame=frame_ms, encode=encode_ms, total=frame_ms + _ms_since(started))
        return replace(task, sizes=(size,)).failed(ErrorInfo.from_exception(error), timings=timings)[0]
    return ItemRecord(
        input=task.input, size=size, status="done", settings=job.settings, output=path,
        target=result.target.name, format=encoded.format, file_bytes=len(encoded),
        quality=encoded.quality, crop_box=result.crop_box, strategy=result.strategy,
        faces=result.faces, warnings=result.warnings,
        timings_ms=Timings(frame=frame_ms, encode=encode_ms, write=write_ms,
                           total=frame_ms + encode_ms + write_ms),
        worker=_worker_name())


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def initialise_worker(job: Job, threads: int | None = None) -> None:
    """Prepare a worker process once, before its first item.

    Frames a small grey picture with the run's options, so that everything loaded lazily
    (the face detector, a per-process singleton; the analysis code) is loaded here and not
    inside the first item's time limit. ``threads`` caps OpenCV's threads, so that N workers
    on N cores do not fight over them.
    """
    if threads is not None:
        import cv2

        cv2.setNumThreads(max(1, threads))
    warm_up = replace(job.options, limits=Limits())  # the run's limits are for its inputs
    frame_sizes(np.full((48, 64, 3), 128, np.uint8), ["64x36"], options=warm_up)


# --- the manifest ------------------------------------------------------------------------------

def read_manifest(path: str | os.PathLike) -> tuple[dict[tuple[str, str], ItemRecord], bool]:
    """The last record for each (input, size) in a manifest, and whether a cut-short last
    line (left by a killed run) was dropped. A missing file is an empty manifest.

    Raises :class:`OptionError` when the file is not a smartframe manifest.
    """
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        return {}, False
    except OSError as error:
        raise OptionError("manifest", os.fspath(path), f"a readable file ({error.strerror})") from None
    lines = data.split(b"\n")
    records: dict[tuple[str, str], ItemRecord] = {}
    dropped = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = ItemRecord.from_json(line)
        except (ValueError, TypeError, KeyError):
            if number == len(lines):  # no newline after it: a write cut short by a kill
                dropped = True
                continue
            raise OptionError("manifest", os.fspath(path),
                              f"a smartframe manifest (JSON lines); line {number} is not a record") from None
        records[record.key] = record
    return records, dropped


class _ManifestWriter:
    """Rewrites the manifest once (atomically), then appends one line per record."""

    def __init__(self, path: str, kept: Iterable[ItemRecord]) -> None:
        write_atomic(path, "".join(r.to_json() + "\n" for r in kept).encode("utf-8"))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def append(self, record: ItemRecord) -> None:
        # One write() per line on an O_APPEND descriptor: the kernel has the whole line when it
        # returns, so a killed run loses no finished line (at most one cut short mid-write).
        data = (record.to_json() + "\n").encode("utf-8")
        while data:
            data = data[os.write(self._fd, data):]

    def close(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)


# --- the output folder -----------------------------------------------------------------------

class _FolderLock:
    """An exclusive lock on the output folder for one run (released by the OS if killed).

    The lock file is removed when the run ends. Because a waiting run may have opened the
    file just before it was removed, a run that gets the lock checks that its file is still
    the one at the path, and otherwise tries again on the new one.
    """

    def __init__(self, folder: str) -> None:
        self._path = os.path.join(folder, _LOCK_NAME)
        self._fd: int | None = None
        self._flock = None

    def __enter__(self) -> _FolderLock:
        try:
            import fcntl
        except ImportError:
            fcntl = None  # no fcntl (Windows): runs are not protected from each other
        self._flock = fcntl
        while True:
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise OptionError("out", os.path.dirname(self._path),
                                  f"a folder smartframe can write to ({error.strerror})") from None
            if fcntl is None:
                self._fd = fd
                return self
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OptionError("out", os.path.dirname(self._path),
                                  "a folder no other batch run is writing to (another run holds "
                                  f"{_LOCK_NAME}; wait for it to finish)") from None
            try:
                current = os.stat(self._path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                self._fd = fd
                return self
            os.close(fd)  # the run before removed this file as it ended: lock the new one

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            if self._flock is not None:
                try:
                    os.unlink(self._path)  # while still holding the lock (see the class docstring)
                except FileNotFoundError:
                    pass  # removed by hand during the run: nothing to clean up
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def _remove_stale_temporaries(out_dir: str, manifest: str) -> int:
    """Delete what write_atomic left behind in killed runs; returns how many files.

    Only temporary files of smartframe outputs (in ``out_dir``) and of the manifest (next to
    it) are touched, and only while this run holds the folder lock, so no live writer owns them.
    """
    removed = 0
    manifest_dir, manifest_name = os.path.split(manifest)
    for folder in dict.fromkeys((out_dir, manifest_dir)):
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _TEMP_PATTERN.match(entry.name)
                if not match or not entry.is_file(follow_symlinks=False):
                    continue
                name = match.group("name")
                ours = (folder == out_dir and _OUTPUT_PATTERN.match(name)) or (
                    folder == manifest_dir and name == manifest_name)
                if ours:
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        continue  # gone already
    return removed


# --- local worker processes ----------------------------------------------------------------------

def _process_context():
    """forkserver where the platform has it (fast, clean replacements); spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["smartframe.batch"])
        return context
    return multiprocessing.get_context("spawn")


def _worker_main(conn, job: Job, process_item, threads: int) -> None:
    """The loop of one worker process: start up, then one task at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    exit_with_parent()
    try:
        initialise_worker(job, threads)
    except Exception as error:  # noqa: BLE001 -- any start-up failure goes to the parent, which stops the run
        conn.send(("failed-to-start", ErrorInfo.from_exception(error)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return  # the parent is gone
        if task is None:
            return
        records = process_item(task)
        try:
            conn.send(("done", records))
        except BrokenPipeError:
            return  # the parent is gone; a resumed run redoes this item (same output name)


class _Worker:
    def __init__(self, context, job: Job, process_item, threads: int) -> None:
        self.conn, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child_end, job, process_item, threads),
                                       daemon=True, name="smartframe-batch-worker")
        self.process.start()
        child_end.close()
        self.name = f"{socket.gethostname()}:{self.process.pid}"
        self.started = time.monotonic()
        self.ready = False
        self.task: Task | None = None
        self.deadline = float("inf")

    def assign(self, task: Task, timeout: float) -> None:
        self.task, self.deadline = task, time.monotonic() + timeout
        self.conn.send(task)

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                self.process.kill()  # already gone or unreachable
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _run_locally(tasks: list[Task], deliver: Callable[[tuple[ItemRecord, ...]], None], *,
                 workers: int, timeout: float, process_item) -> None:
    """Run ``tasks`` on ``workers`` processes, one task per process at a time.

    A worker that overruns ``timeout`` seconds on a task is killed and replaced, and the task
    recorded as ProcessingTimeout; one that dies (a crash in native code, the OOM killer) is
    replaced and its task recorded as an internal error. A worker that fails to start stops
    the run (every item would fail the same way).
    """
    context = _process_context()
    threads = max(1, (os.cpu_count() or 1) // workers)
    start_limit = max(120.0, timeout)  # a worker's start-up (imports, models)
    pending = deque(tasks)
    pool = [_Worker(context, tasks[0].job, process_item, threads) for _ in range(min(workers, len(tasks)))]

    def replace_worker(worker: _Worker) -> None:
        worker.stop(kill=True)
        pool[pool.index(worker)] = _Worker(context, tasks[0].job, process_item, threads)

    try:
        while pending or any(w.task for w in pool):
            for worker in pool:
                if worker.ready and worker.task is None and pending:
                    worker.assign(pending.popleft(), timeout)
            deadline = min(w.deadline if w.ready else w.started + start_limit for w in pool)
            ready = wait_for_any([w.conn for w in pool] + [w.process.sentinel for w in pool],
                                 timeout=None if deadline == float("inf")
                                 else max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            for worker in list(pool):
                message = _receive(worker) if worker.conn in ready else None
                if message is not None:
                    kind, payload = message
                    if kind == "failed-to-start":
                        raise _start_error(payload)
                    if kind == "ready":
                        worker.ready = True
                    else:  # "done"
                        worker.task, worker.deadline = None, float("inf")
                        deliver(payload)
                elif not worker.process.is_alive():  # died without a word
                    worker.process.join(timeout=1)
                    how = exit_text(worker.process.exitcode)
                    if not worker.ready:
                        raise _start_error(ErrorInfo("internal", "WorkerDied", EXIT_INTERNAL,
                                                     f"a worker process died while starting ({how})"))
                    if worker.task is not None:
                        deliver(worker.task.failed(
                            ErrorInfo("internal", "WorkerDied", EXIT_INTERNAL,
                                      f"the worker process died on this input ({how}); it was replaced"),
                            worker=worker.name))
                    replace_worker(worker)
                elif worker.task is not None and now >= worker.deadline:
                    deliver(worker.task.timed_out(timeout, "its worker process was stopped and replaced",
                                                  worker=worker.name))
                    replace_worker(worker)
                elif not worker.ready and now >= worker.started + start_limit:
                    raise _start_error(ErrorInfo("internal", "WorkerStartTimeout", EXIT_INTERNAL,
                                                 f"a worker process did not start within {start_limit:g} s"))
    except BaseException:
        for worker in pool:
            worker.stop(kill=True)
        raise
    for worker in pool:
        worker.stop(kill=False)


def _receive(worker: _Worker):
    """The worker's next message, or None when its end of the pipe is closed (it died)."""
    try:
        return worker.conn.recv()
    except (EOFError, ConnectionResetError):
        return None


def _start_error(info: ErrorInfo) -> SmartframeError | RuntimeError:
    """The error a failed worker start-up raises in the parent, of the same kind when it has one."""
    message = f"a batch worker could not start: {info.type}: {info.message}"
    kinds = {"input": InputError, "constraint": ConstraintError, "model": ModelError,
             "output": OutputError, "timeout": ProcessingTimeout}
    if info.kind in kinds:
        return kinds[info.kind](message)
    if info.kind == "usage":
        return OptionError("options", info.message, "options every worker can start with")
    return RuntimeError(message + ("\n" + info.traceback if info.traceback else ""))


# --- the run -----------------------------------------------------------------------------------

def frame_many(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    sizes: Sequence[object],
    out: str | os.PathLike,
    *,
    options: FrameOptions | None = None,
    workers: int | None = None,
    manifest: str | os.PathLike | None = None,
    scheduler: object = None,
    timeout: float = DEFAULT_TIMEOUT,
    format: str | None = None,
    quality: int | None = None,
    max_bytes: object = FROM_TARGET,
    metadata: str = "strip",
    progress: Progress | None = None,
    process_item: Callable[[Task], tuple[ItemRecord, ...]] = frame_item,
    **option_values,
) -> BatchReport:
    """Frame every image in ``inputs`` to each of ``sizes``, writing into the folder ``out``.

    ``inputs``: files, folders (recursive) and glob patterns (see :func:`collect_inputs`).
    ``sizes``: a list of size specs, as for :func:`smartframe.frame_sizes`. Options are
    ``options=FrameOptions(...)`` and/or keyword arguments of FrameOptions; ``format``,
    ``quality``, ``max_bytes`` and ``metadata`` as for :meth:`smartframe.FrameResult.encode`.

    ``workers``: local processes (default: one per CPU). ``scheduler``: a Dask scheduler
    address (``"tcp://host:port"``) or a ``distributed.Client``, to run on a Dask cluster
    instead (inputs and ``out`` must be reachable by every worker at the same paths; needs
    ``pip install "smartframe[dask]"``). ``timeout``: seconds one input may take.
    ``manifest``: the JSON-lines manifest (default ``out/manifest.jsonl``); running again
    with the same manifest resumes (see the module docstring). ``progress``: see
    :data:`Progress`. ``process_item``: the function a worker runs on each :class:`Task`
    (replace it only to instrument or test the engine; it must be importable by workers).

    A failing input never stops the run: it is recorded and the run goes on. Raises
    :class:`OptionError` for bad usage (before any work), :class:`BatchInterrupted` (a
    KeyboardInterrupt holding the counts so far) when interrupted (finished items stay
    recorded; run again to resume).
    """
    started = time.perf_counter()
    job, labels, timeout = _validate(sizes, out, options, option_values, workers, scheduler,
                                     timeout, format, quality, max_bytes, metadata)
    workers = whole_number(workers) if workers is not None else None
    manifest_path = os.path.abspath(os.fspath(manifest) if manifest is not None
                                    else os.path.join(job.out_dir, MANIFEST_NAME))
    files, unmatched = collect_inputs(inputs, exclude=[job.out_dir, manifest_path])
    if not files and not unmatched:
        raise OptionError("inputs", inputs, "files, folders or patterns that hold at least one image")
    _refuse_overwriting_inputs(files, labels, job.out_dir, manifest_path)
    for folder, name in ((job.out_dir, "out"), (os.path.dirname(manifest_path), "manifest")):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise OptionError(name, folder, f"a folder smartframe can create ({error.strerror})") from None

    with _FolderLock(job.out_dir):
        _remove_stale_temporaries(job.out_dir, manifest_path)
        previous, _ = read_manifest(manifest_path)
        tasks, kept, already_done = _plan(files, labels, job, previous)
        missing = [Task(path, tuple(labels), job) for path in unmatched]
        absent = set(unmatched)  # recorded afresh below: their old lines go
        kept = [record for record in kept if record.input not in absent]
        records: list[ItemRecord] = []
        total = sum(len(t.sizes) for t in tasks) + len(missing) * len(labels)
        writer = _ManifestWriter(manifest_path, kept)

        def deliver(new_records: tuple[ItemRecord, ...]) -> None:
            for record in new_records:
                writer.append(record)
                records.append(record)
                if progress is not None:
                    progress(len(records), total, record)

        inputs_of_this_run = set(files) | absent
        earlier_failures = tuple(r for r in kept if r.status == "failed" and r.input not in inputs_of_this_run)

        def outcome() -> BatchReport:
            failed = sum(r.status == "failed" for r in records)
            return BatchReport(out_dir=job.out_dir, manifest=manifest_path, total=total + already_done,
                               done=len(records) - failed, failed=failed, already_done=already_done,
                               records=tuple(records), elapsed_ms=_ms_since(started),
                               earlier_failures=earlier_failures)

        try:
            if progress is not None:
                progress(0, total, None)
            for task in missing:
                deliver(task.failed(ErrorInfo.from_exception(
                    ImageNotFoundError("no such file, and no file matches it as a pattern"))))
            if tasks and scheduler is not None:
                _dask_engine().run_on_dask(scheduler, tasks, deliver, timeout=timeout,
                                           process_item=process_item)
            elif tasks:
                _run_locally(tasks, deliver, workers=workers or _cpu_count(), timeout=timeout,
                             process_item=process_item)
        except KeyboardInterrupt:
            raise BatchInterrupted(outcome()) from None
        finally:
            writer.close()
            _remove_stale_temporaries(job.out_dir, manifest_path)
    return outcome()


def _validate(sizes, out, options, option_values, workers, scheduler, timeout, format, quality,
              max_bytes, metadata) -> tuple[Job, list[str], float]:
    opts = make_options(options, option_values)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
        raise OptionError("sizes", sizes, "a list of sizes, e.g. ['1280x720']")
    sizes = list(sizes)
    specs = [parse_target(s) for s in sizes]
    labels = [_spec_label(spec) for spec in specs]
    if not labels:
        raise OptionError("sizes", sizes, "at least one size")
    for index, label in enumerate(labels):
        if label in labels[:index]:
            raise OptionError("sizes", sizes, f"each size once; {label!r} is given twice")
    number = whole_number(workers) if workers is not None else None
    if workers is not None and (number is None or number < 1):
        raise OptionError("workers", workers, "a whole number >= 1")
    workers = number
    if workers is not None and scheduler is not None:
        raise OptionError("workers", workers, "no value with a Dask scheduler (the cluster sizes itself)")
    seconds = real_number(timeout)
    if seconds is None or not (0 < seconds < float("inf")):
        raise OptionError("timeout", timeout, "a number of seconds > 0")
    if format is not None:
        format = normalise_format(format)
    for spec in specs:  # a preset's formats bind the output: refused here, before any work
        choose_format(spec, format, alpha=opts.alpha is AlphaPolicy.KEEP)
    quality, limit = check_encode_settings(quality=quality,
                                           max_bytes=None if max_bytes is FROM_TARGET else max_bytes,
                                           metadata=metadata)
    if max_bytes is not FROM_TARGET:
        max_bytes = limit
    if scheduler is not None:
        _dask_engine()  # a missing extra is a usage error, found before any work
    job = Job(out_dir=os.path.abspath(os.fspath(out)), options=opts, format=format, quality=quality,
              max_bytes=max_bytes, metadata=metadata)
    return job, labels, seconds


def _refuse_overwriting_inputs(files: list[str], labels: list[str], out_dir: str, manifest: str) -> None:
    """Raise OptionError when an output name or the manifest is one of the inputs."""
    real_out = os.path.realpath(out_dir)
    inside = {os.path.realpath(f) for f in files if os.path.dirname(os.path.realpath(f)) == real_out}
    if os.path.realpath(manifest) in {os.path.realpath(f) for f in files}:
        raise OptionError("manifest", manifest, "a file that is not one of the inputs")
    if not inside:
        return
    targets = [name for label in labels for name in _possible_targets(label)]
    for path in files:
        for target in targets:
            for fmt in ("jpeg", "png", "webp"):
                candidate = os.path.join(real_out, output_name(path, target, fmt))
                if candidate in inside:
                    raise OptionError("inputs", candidate,
                                      f"files that are not outputs of this batch: framing {path} would "
                                      "overwrite it; move it out of --out")


def _plan(files: list[str], labels: list[str], job: Job,
          previous: dict[tuple[str, str], ItemRecord]) -> tuple[list[Task], list[ItemRecord], int]:
    """What is left to do, which old lines stay, and how many items were done already."""
    tasks: list[Task] = []
    redo: set[tuple[str, str]] = set()
    for path in files:
        todo = tuple(label for label in labels if not _is_done(previous.get((path, label)), job))
        redo.update((path, label) for label in todo)
        if todo:
            tasks.append(Task(path, todo, job))
    already_done = len(files) * len(labels) - len(redo)
    kept = [record for key, record in previous.items() if key not in redo]
    return tasks, kept, already_done


def _is_done(record: ItemRecord | None, job: Job) -> bool:
    return (record is not None and record.status == "done" and record.settings == job.settings
            and record.output is not None and os.path.dirname(record.output) == job.out_dir
            and os.path.isfile(record.output))


def _dask_engine():
    """The Dask engine module, or OptionError naming the extra that installs Dask."""
    try:
        return importlib.import_module(".batch_dask", __package__)
    except ImportError as error:
        if error.name not in ("dask", "distributed"):
            raise
        raise OptionError("scheduler", "a Dask scheduler",
                          'the Dask extra installed first: pip install "smartframe[dask]"') from None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
