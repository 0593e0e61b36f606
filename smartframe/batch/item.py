"""Batch stage 4, one item: frame one input to its sizes and write the outputs.

The work a worker does, the same on every engine: the local worker processes
(:mod:`smartframe.batch.local_engine`) and the Dask workers (:mod:`smartframe.batch.dask_engine`)
both run :func:`frame_item` on each :class:`~smartframe.batch.records.Task`, after
:func:`initialise_worker` prepared their process once.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..errors import ConstraintError, FacesFoundError
from ..options import Limits
from ..pipeline import FROM_TARGET, frame_sizes
from .naming import write_output
from .records import ErrorInfo, ItemRecord, Job, Task, Timings, _ms_since, _worker_name

__all__ = ["frame_item", "initialise_worker"]


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
            return task.failed(ErrorInfo.from_exception(error), timings=Timings(total=_ms_since(started)),
                               faces=error.faces if isinstance(error, FacesFoundError) else ())
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
        written = time.perf_counter()
        path = write_output(job.out_dir, task.input, result.target.name, encoded)
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
