"""Worker processes: what batch runs and the server share about the processes they start.

Used by the batch engine (:mod:`smartframe.batch.local_engine`) and the server's pool
(:mod:`smartframe.serve.pool`); each keeps its own protocol with its workers.

* :func:`process_context` -- how workers are started (forkserver, or spawn elsewhere);
* :func:`threads_per_worker` -- OpenCV threads per worker, so N workers share the cores;
* :data:`START_LIMIT` -- how long a worker may take to start (imports, models);
* :func:`exit_text` -- a worker's exit status in words, for records and error messages;
* :func:`exit_with_parent` -- a worker stops at once, even mid-task, when the process that
  started it is gone (killed with SIGKILL), so no orphan keeps working or holding memory.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import wait as wait_for_any

__all__ = ["process_context", "threads_per_worker", "START_LIMIT", "exit_text", "exit_with_parent"]

#: Seconds a worker may take to start (imports, models) before it counts as failed.
START_LIMIT = 120.0


def process_context(preload: str):
    """The multiprocessing context workers start from: forkserver where the platform has it
    (workers start from a clean, small process, never forked from a parent with its threads
    or event loop; replacements start fast), with the module ``preload`` imported once in the
    server; spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        return context
    return multiprocessing.get_context("spawn")


def threads_per_worker(workers: int) -> int:
    """OpenCV threads for each of ``workers`` processes: the CPUs shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // workers)


def exit_text(code: int | None) -> str:
    """``multiprocessing.Process.exitcode`` in words: "killed by SIGKILL", "exit code 1"."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def exit_with_parent(thread_name: str = "smartframe-parent-watch") -> None:
    """In a worker process: a daemon thread waits on the parent's sentinel and ends this
    process (``os._exit(1)``) as soon as the parent is gone. No-op in the main process.

    Whatever the worker was writing is then a temporary file, which its owner removes.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait_for_any([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name=thread_name, daemon=True).start()
