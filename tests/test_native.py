"""Capturing what native code prints on fd 2: nested, and on several threads at once."""

import os
import threading

from smartframe.native import captured_stderr


def write(text: str) -> None:
    os.write(2, text.encode() + b"\n")


def test_a_nested_capture_takes_its_own_lines():
    with captured_stderr() as outer:
        write("outer before")
        with captured_stderr() as inner:
            write("inner")
        write("outer after")
    assert outer == ["outer before", "outer after"] and inner == ["inner"]


def test_captures_on_several_threads_each_get_their_lines_and_release_fd_2(capfd):
    results: dict[int, list[str]] = {}
    started = threading.Barrier(3)

    def worker(k: int) -> None:
        with captured_stderr() as lines:
            started.wait()
            for i in range(3):
                write(f"thread {k} line {i}")
            started.wait()
        results[k] = lines

    with captured_stderr() as around:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for k, lines in results.items():
        assert all(f"thread {k} line {i}" in lines for i in range(3))
    # the other threads' captures are not nested in this thread's: it sees their lines too
    assert len(around) == 9
    capfd.readouterr()
    write("after every capture closed")
    assert "after every capture closed" in capfd.readouterr().err
