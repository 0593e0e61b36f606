"""What native libraries print straight to the process's stderr, captured.

libjpeg (inside OpenCV) prints "Corrupt JPEG data: ..." warnings and libtiff its errors to
file descriptor 2, past Python's ``sys.stderr``. The library turns them into notes or log
records and the CLI into its one-line messages, so nothing reaches the terminal unannounced.

The redirection is process-wide (file descriptors are): while a capture is open, other
threads' direct writes to fd 2 land in it too. Captures may overlap on several threads; they
share one redirection. smartframe's batch runs use processes; its in-image thread (the maps,
made while the faces are detected) calls nothing else that prints.

Also here: :func:`second_thread_allowed`, the one rule for those in-image threads.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
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


class _Capture:
    """The process-wide redirection of fd 2 shared by every open :func:`captured_stderr`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0  # open captures, on any thread
        self.saved: int | None = None  # the real fd 2 while redirected
        self.sink = None  # the temporary file fd 2 points at
        self.open = threading.local()  # each thread's stack of open captures


class _Span:
    """One open capture: where it started in the sink, and the spans nested in it on its thread."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.nested: list[tuple[int, int]] = []


_capture = _Capture()


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Capture fd 2 for the block; the yielded list holds the non-empty lines afterwards.

    Nested captures on one thread work as nested redirections would: the inner one gets the
    lines written while it was open, the outer one the rest. Captures may also be open on
    several threads at once (the subject network is loaded on the maps thread while the CLI's
    or a serve worker's capture is open on the main one): they share one redirection (the first to open redirects fd 2 to a temporary file, the last
    to close restores it), and a capture gets every line written while it was open, on any
    thread, except those a capture nested in it on its own thread took.
    """
    lines: list[str] = []
    sys.stderr.flush()
    with _capture.lock:
        if _capture.depth == 0:
            try:
                saved = os.dup(2)
            except OSError:  # no descriptor 2 (a detached process): nothing to capture
                saved = None
            if saved is not None:
                sink = tempfile.TemporaryFile()
                os.dup2(sink.fileno(), 2)
                _capture.saved, _capture.sink = saved, sink
        span = None
        if _capture.saved is not None:
            _capture.depth += 1
            span = _Span(os.lseek(_capture.sink.fileno(), 0, os.SEEK_CUR))  # fd 2 shares this offset
    if span is None:
        yield lines
        return
    stack = getattr(_capture.open, "stack", None)
    if stack is None:
        stack = _capture.open.stack = []
    stack.append(span)
    try:
        yield lines
    finally:
        stack.pop()
        with _capture.lock:
            sink = _capture.sink
            end = os.lseek(sink.fileno(), 0, os.SEEK_CUR)
            pieces, at = [], span.start
            for nested_start, nested_end in sorted(span.nested):
                if nested_start > at:
                    pieces.append(os.pread(sink.fileno(), nested_start - at, at))
                at = max(at, nested_end)
            if end > at:
                pieces.append(os.pread(sink.fileno(), end - at, at))
            _capture.depth -= 1
            if _capture.depth == 0:
                os.dup2(_capture.saved, 2)
                os.close(_capture.saved)
                sink.close()
                _capture.saved = _capture.sink = None
        if stack:
            stack[-1].nested.append((span.start, end))
        text = b"".join(pieces).decode("utf-8", "replace")
        lines.extend(line.strip() for line in text.splitlines() if line.strip())
