"""Batch stage 5a, the local engine: the tasks of a run on worker processes of this machine.

One task (an input and its sizes) per worker process at a time; each process is prepared once
(:func:`~smartframe.batch.item.initialise_worker`) and runs the run's ``process_item`` on each
task it is handed.

**Time limit.** An input that takes longer than ``timeout`` seconds is recorded as
:class:`~smartframe.errors.ProcessingTimeout` (exit code 6) and the worker process that was
stuck on it is stopped and replaced. A worker that dies (a crash in native code, the OOM
killer) is replaced and only its task is recorded as failed.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import deque
from multiprocessing.connection import wait as wait_for_any
from typing import Callable

from ..errors import (
    EXIT_INTERNAL,
    ConstraintError,
    InputError,
    ModelError,
    OptionError,
    OutputError,
    ProcessingTimeout,
    SmartframeError,
)
from ..processes import (
    START_LIMIT,
    exit_text,
    exit_with_parent,
    process_context,
    threads_per_worker,
)
from .item import initialise_worker
from .records import ErrorInfo, ItemRecord, Job, Task

__all__ = ["run_locally"]


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


def run_locally(tasks: list[Task], deliver: Callable[[tuple[ItemRecord, ...]], None], *,
                 workers: int, timeout: float, process_item) -> None:
    """Run ``tasks`` on ``workers`` processes, one task per process at a time.

    A worker that overruns ``timeout`` seconds on a task is killed and replaced, and the task
    recorded as ProcessingTimeout; one that dies (a crash in native code, the OOM killer) is
    replaced and its task recorded as an internal error. A worker that fails to start stops
    the run (every item would fail the same way).
    """
    context = process_context(__name__)
    threads = threads_per_worker(workers)
    start_limit = max(START_LIMIT, timeout)  # a worker's start-up (imports, models)
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
