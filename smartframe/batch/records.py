"""Batch stage 3, the records: what a run is made of and what it remembers.

The data every engine passes around (:class:`Job`, :class:`Task`, :class:`ItemRecord`,
:class:`ErrorInfo`, :class:`Timings`), the outcome of a run (:class:`BatchReport`), the
manifest (read, rewrite, append), resume (what is left to do), and the lock that keeps two
runs out of one output folder.

**Manifest.** JSON lines, one per (input, size): see :class:`ItemRecord`. The key is the
input's absolute path and the size label (the size as parsed: ``1280x720``, ``sora-2``).

**Resume.** Running again with the same manifest does only what is missing. An item counts
as done when its last line says ``done``, was made with the same settings (options, format,
quality, byte limit, metadata: the ``settings`` digest) and its output file still exists in
``out``; its line is left exactly as the earlier run wrote it. Everything else (failed items,
items never finished, items whose output was deleted) is done again: at the start the
manifest is rewritten atomically without their old lines, and their new lines are appended as
they finish. So the final manifest holds each (input, size) exactly once, whatever happened to
earlier runs. A line cut short by a killed run is dropped.

Imports nothing from the rest of :mod:`smartframe.batch`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..analysis import Face
from ..outputs import write_atomic
from ..errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    OptionError,
    ProcessingTimeout,
    SmartframeError,
)
from ..options import FrameOptions
from ..pipeline import FROM_TARGET

__all__ = [
    "Job", "Task", "ItemRecord", "ErrorInfo", "Timings", "BatchReport", "BatchInterrupted",
    "Progress", "read_manifest", "MANIFEST_NAME",
]

#: The manifest's file name in ``out`` when no other path is given.
MANIFEST_NAME = "manifest.jsonl"
_LOCK_NAME = ".smartframe-batch.lock"
_STATUSES = ("done", "failed")


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
    ``warnings``. For ``failed``: ``error``, and ``faces`` when the faces were refused
    (``faces="reject"`` or a target that refuses them). Both: ``timings_ms``, ``settings`` (the
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
               worker: str | None = None, faces: tuple[Face, ...] = ()) -> tuple[ItemRecord, ...]:
        """One ``failed`` record per size, all for the same reason. ``worker`` defaults to
        this process; ``faces``: the faces that caused a refusal (source pixels)."""
        return tuple(ItemRecord(input=self.input, size=size, status="failed",
                                settings=self.job.settings, faces=tuple(faces), error=error,
                                timings_ms=timings, worker=worker or _worker_name())
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


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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

# --- resume ------------------------------------------------------------------------------------

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
