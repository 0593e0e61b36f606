"""What native libraries print straight to the process's stderr, captured.

libjpeg (inside OpenCV) prints "Corrupt JPEG data: ..." warnings and libtiff its errors to
file descriptor 2, past Python's ``sys.stderr``. The library turns them into notes or log
records and the CLI into its one-line messages, so nothing reaches the terminal unannounced.

The redirection is process-wide (file descriptors are): while a capture is open, other
threads' direct writes to fd 2 land in it too. smartframe's batch runs use processes; its
in-image thread (the content map, computed while the faces are detected) calls nothing that
prints.

Also here: :func:`second_thread_allowed`, the one rule for those in-image threads.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

import cv2

__all__ = ["captured_stderr", "second_thread_allowed"]


def second_thread_allowed() -> bool:
    """Whether one image's work may use a second thread: OpenCV's thread limit is above one.

    Batch workers set that limit to their share of the cores (``cv2.setNumThreads``), so with
    one worker per core a second thread would only compete with the other workers.
    """
    return cv2.getNumThreads() > 1


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Capture fd 2 for the block; the yielded list holds the non-empty lines afterwards."""
    lines: list[str] = []
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to capture
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())
