"""Worker functions for the batch tests: the real one, with a fault injected for marked inputs.

They live in their own small module so that worker processes can import them by name.
"""

from __future__ import annotations

import os
import signal
import time

import smartframe.batch as batch
import smartframe.batch.item as item


def stall_on_stuck(task):
    """Sleeps (as a worker stuck in a decoder would) on inputs whose name contains 'stuck'."""
    if "stuck" in os.path.basename(task.input):
        time.sleep(3600)
    return batch.frame_item(task)


def crash_on_crash(task):
    """Kills its own process (as a crash in native code would) on inputs named '*crash*'."""
    if "crash" in os.path.basename(task.input):
        os.kill(os.getpid(), signal.SIGKILL)
    return batch.frame_item(task)


def bug_on_bug(task):
    """Raises an unexpected exception inside the pipeline on inputs named '*bug*'."""
    real = item.frame_sizes

    def buggy(source, sizes, **kwargs):
        if "bug" in os.path.basename(str(source)):
            raise ZeroDivisionError("an injected bug")
        return real(source, sizes, **kwargs)

    item.frame_sizes = buggy  # the name frame_item looks up
    try:
        return batch.frame_item(task)
    finally:
        item.frame_sizes = real


def slow(task):
    """The real work plus 0.3 s, so a run lasts long enough to be interrupted."""
    time.sleep(0.3)
    return batch.frame_item(task)


def slow_long(task):
    """The real work after 30 s (for manual checks of a killed run)."""
    time.sleep(30)
    return batch.frame_item(task)
