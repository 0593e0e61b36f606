"""The server's settings: one frozen, validated object built from flags or the environment.

Every setting has a command-line flag and an environment variable (``SMARTFRAME_<NAME>``); the
flag wins. A bad value raises :class:`~smartframe.errors.OptionError` naming the setting.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..errors import OptionError
from ..options import Limits

__all__ = ["ServeConfig", "DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_TIME_LIMIT", "DEFAULT_QUEUE",
           "default_workers"]

#: Largest request body accepted, in bytes (32 MiB: three times any provider's image limit).
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
#: Seconds one request may take from its arrival to its answer (upload, queue and work).
DEFAULT_TIME_LIMIT = 30.0
#: Requests admitted beyond the ones the workers are running; more get 503 at once.
DEFAULT_QUEUE = 16


def default_workers() -> int:
    """One worker process per CPU the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Everything ``smartframe serve`` is configured with.

    host, port: where to listen (loopback by default: put a proxy or a load balancer in front).
    workers: worker processes; each runs one request at a time with its own face detector.
    max_upload_bytes: the largest request body; refused (413) as soon as more has arrived.
    time_limit: seconds from a request's arrival to its answer; a worker still busy then is
        killed and replaced (504), a request still waiting for a worker gets 503.
    queue: requests admitted beyond those the workers are running (they wait for a worker);
        one more gets 503 with Retry-After at once, before its body is read.
    token: when set, /v1/* and /metrics need ``Authorization: Bearer <token>``.
    cors_origins: origins allowed to call the API from a browser; none by default (no CORS).
    limits: the library's input limits (pixels, file bytes, decode memory), for every request.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=default_workers)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    time_limit: float = DEFAULT_TIME_LIMIT
    queue: int = DEFAULT_QUEUE
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise OptionError("host", self.host, "an address to listen on, like 127.0.0.1")
        _whole("port", self.port, 0, 65535)
        _whole("workers", self.workers, 1, 256)
        _whole("max_upload_bytes", self.max_upload_bytes, 1, 2**40)
        _whole("queue", self.queue, 0, 100_000)
        ok = (isinstance(self.time_limit, (int, float)) and not isinstance(self.time_limit, bool)
              and math.isfinite(self.time_limit) and self.time_limit > 0)
        if not ok:
            raise OptionError("time_limit", self.time_limit, "a positive number of seconds")
        if self.token is not None and (not isinstance(self.token, str) or len(self.token) < 16
                                       or not self.token.isprintable() or " " in self.token):
            raise OptionError("token", "<hidden>", "at least 16 printable characters without spaces")
        origins = tuple(self.cors_origins)
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise OptionError("cors_origins", origin, "origins like https://example.com, or *")
        object.__setattr__(self, "cors_origins", origins)
        if not isinstance(self.limits, Limits):
            raise OptionError("limits", self.limits, "a smartframe.Limits(...)")

    @property
    def admitted(self) -> int:
        """The most requests on the API at once: running plus waiting."""
        return self.workers + self.queue

    @property
    def drain_seconds(self) -> float:
        """How long SIGTERM waits for requests in flight: the time limit and a margin."""
        return self.time_limit + 5.0


def _whole(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OptionError(name, value, f"a whole number {low}..{high}")
