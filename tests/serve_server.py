"""A real ``smartframe serve`` in a subprocess on a free loopback port, and a tiny HTTP client.

The tests talk HTTP to it as any client would; nothing is called in-process.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The server's settings from the environment: the tests' own flags decide, not the caller's shell.
SERVE_VARIABLES = {f"SMARTFRAME_{name}" for name in (
    "HOST", "PORT", "WORKERS", "MAX_UPLOAD_BYTES", "TIME_LIMIT", "QUEUE", "TOKEN", "CORS_ORIGINS",
    "MAX_PIXELS", "MAX_FILE_BYTES", "MAX_DECODE_BYTES")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class Server:
    """``smartframe serve ARGS`` on a free port; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, start_timeout: float = 90.0) -> None:
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="smartframe-serve-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")
        environment = {k: v for k, v in os.environ.items() if k not in SERVE_VARIABLES}
        environment.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smartframe", "serve", "--port", str(self.port), *args],
            cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not become ready in {start_timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60.0) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: bytes, **kwargs) -> Reply:
        return self.request("POST", path, body=body, **kwargs)

    def workers(self) -> list[dict]:
        return self.get("/readyz").json()["workers"]

    def wait_workers(self, state: str, count: int, timeout: float = 60.0) -> list[dict]:
        """Wait until ``count`` workers are in ``state``; returns the workers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self.workers()
            if sum(w["state"] == state for w in workers) >= count:
                return workers
            time.sleep(0.02)
        raise AssertionError(f"not {count} worker(s) {state} within {timeout} s: {self.workers()}")

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
