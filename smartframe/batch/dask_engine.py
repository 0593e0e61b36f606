"""Batch stage 5b, the Dask engine: the tasks of :func:`smartframe.frame_many` on a Dask cluster.

The only module that imports ``distributed``, and only when a scheduler is asked for, so
smartframe works without Dask installed (``pip install ".[dask]"`` in the checkout adds it).

The client process (the one calling ``frame_many``) keeps the manifest; workers run
:func:`smartframe.batch.item.frame_item` and write outputs atomically into the shared output
folder. Each worker is prepared once by a worker plugin (the per-process initializer of the
local engine). One task per worker thread is in flight at a time, so the time limit counts
from when a task is handed out; a task that overruns it is cancelled, recorded as
:class:`~smartframe.errors.ProcessingTimeout`, and the worker stuck on it is restarted
through its nanny (a worker started without a nanny cannot be restarted and stays busy).
"""

from __future__ import annotations

import queue
import time
import uuid
from collections import deque
from typing import Callable

import distributed

from ..errors import EXIT_INTERNAL, OptionError
from .item import initialise_worker
from .records import ErrorInfo, Job, Task

__all__ = ["run_on_dask"]

_RESTART_WAIT = 20.0  # seconds to wait for a restarted worker to come back


class WarmUp(distributed.WorkerPlugin):
    """Prepares each Dask worker once for a run: the per-process initializer of the engine."""

    name = "smartframe-batch"

    def __init__(self, job: Job) -> None:
        self.job = job

    def setup(self, worker) -> None:
        # One OpenCV thread: a cluster runs a worker process (or thread) per core already.
        initialise_worker(self.job, threads=1)


def run_on_dask(scheduler, tasks: list[Task], deliver: Callable, *, timeout: float,
                process_item: Callable) -> None:
    """Run ``tasks`` on the cluster at ``scheduler`` (an address such as
    ``"tcp://10.0.0.5:8786"``, or a ``distributed.Client``), passing each task's records to
    ``deliver`` as they arrive. ``timeout`` is in seconds per task."""
    own_client = not isinstance(scheduler, distributed.Client)
    if own_client:
        try:
            client = distributed.Client(scheduler, set_as_default=False, timeout="20s")
        except (OSError, TimeoutError, ValueError) as error:
            raise OptionError("scheduler", scheduler,
                              f"the address of a running Dask scheduler ({error})") from None
    else:
        client = scheduler
    finished: queue.Queue = queue.Queue()
    running: dict = {}  # future -> (task, deadline)
    try:
        client.register_plugin(WarmUp(tasks[0].job))
        slots = max(1, sum(client.nthreads().values()))
        pending = deque(tasks)
        while pending or running:
            while pending and len(running) < slots:
                task = pending.popleft()
                future = client.submit(process_item, task, pure=False,
                                       key=f"smartframe-{uuid.uuid4().hex}")
                running[future] = (task, time.monotonic() + timeout)
                future.add_done_callback(finished.put)
            wait = min(deadline for _, deadline in running.values()) - time.monotonic()
            try:
                future = finished.get(timeout=max(0.0, wait))
            except queue.Empty:
                future = None
            if future is not None and future in running:
                task, _ = running.pop(future)
                deliver(_outcome(future, task))
            now = time.monotonic()
            for stuck, (task, deadline) in list(running.items()):
                if now >= deadline and not stuck.done():
                    running.pop(stuck)
                    _stop(client, stuck)
                    deliver(task.timed_out(timeout, "its Dask worker was restarted"))
                    # The restart took time in which the other tasks could not finish: their
                    # clocks start again.
                    restarted = time.monotonic()
                    running = {f: (t, restarted + timeout) for f, (t, _) in running.items()}
    finally:
        if running:
            client.cancel(list(running), force=True)
        if own_client:
            client.close()


def _outcome(future, task: Task) -> tuple:
    """The records of a finished future: its result, or one failure per size."""
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        info = ErrorInfo("internal", "CancelledError", EXIT_INTERNAL,
                         "Dask cancelled the task (its worker was lost)")
    else:
        # Dask hands back the exception the task raised (KilledWorker after repeated worker
        # deaths, or a failure to unpickle on the worker): recorded, and the run goes on.
        info = ErrorInfo.from_exception(future.exception())
    return task.failed(info)


def _stop(client, future) -> None:
    """Cancel a stuck task and restart the worker that is running it."""
    holders = [address for address, keys in client.processing().items() if future.key in keys]
    client.cancel([future], force=True)
    # The cancel travels on the client's message stream, the restart on a separate call that
    # can overtake it: a worker restarted while the scheduler still counts the task as running
    # makes the scheduler run it again elsewhere (stuck again). Wait for the cancel to land.
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and any(future.key in keys for keys in client.processing().values()):
        time.sleep(0.02)
    if holders:
        # Bounded: the run goes on with the other workers if this one is slow to come back.
        client.restart_workers(holders, timeout=_RESTART_WAIT, raise_for_error=False)
