"""Batch stage 6, the run: :func:`frame_many` on top, choosing one engine.

Validates the call (before any work), collects the inputs (:mod:`.inputs`), refuses a run
that would overwrite an input (:mod:`.naming`), takes the output folder's lock, plans what is
left to do from the manifest (:mod:`.records`), and hands the tasks to the local engine
(:mod:`.local_engine`) or, given a scheduler, the Dask engine (:mod:`.dask_engine`, imported
only then), recording each item as it finishes.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Callable, Iterable, Sequence

from ..encode import check_encode_settings, normalise_format
from ..errors import ImageNotFoundError, OptionError, install_hint
from ..geometry import whole_number
from ..options import AlphaPolicy, FrameOptions, real_number
from ..outputs import check_formats
from ..pipeline import FROM_TARGET, make_options
from ..targets import parse_targets
from .inputs import collect_inputs
from .item import frame_item
from .local_engine import run_locally
from .naming import _refuse_overwriting_inputs, _remove_stale_temporaries, _spec_label
from .records import (
    MANIFEST_NAME,
    BatchInterrupted,
    BatchReport,
    ErrorInfo,
    ItemRecord,
    Job,
    Progress,
    Task,
    _FolderLock,
    _ManifestWriter,
    _ms_since,
    _plan,
    read_manifest,
)

__all__ = ["frame_many", "DEFAULT_TIMEOUT"]

#: Seconds one input may take (all its sizes) before its worker is replaced.
DEFAULT_TIMEOUT = 60.0


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
    ``pip install ".[dask]"`` in the smartframe checkout). ``timeout``: seconds one input may take.
    ``manifest``: the JSON-lines manifest (default ``out/manifest.jsonl``); running again
    with the same manifest resumes (see :mod:`smartframe.batch.records`). ``progress``: see
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
                run_locally(tasks, deliver, workers=workers or _cpu_count(), timeout=timeout,
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
    specs = parse_targets(sizes)  # none twice
    labels = [_spec_label(spec) for spec in specs]
    if not labels:
        raise OptionError("sizes", sizes, "at least one size")
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
    # a preset's formats bind the output: refused here, before any work
    check_formats(specs, format, alpha=opts.alpha is AlphaPolicy.KEEP)
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


def _dask_engine():
    """The Dask engine module, or OptionError naming the extra that installs Dask."""
    try:
        return importlib.import_module(".dask_engine", __package__)
    except ImportError as error:
        if error.name not in ("dask", "distributed"):
            raise
        raise OptionError("scheduler", "a Dask scheduler",
                          f"the Dask extra installed first: {install_hint('dask')}") from None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
