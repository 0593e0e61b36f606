"""Worker processes: what batch runs and the server share about the processes they start.

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

__all__ = ["exit_text", "exit_with_parent"]


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
