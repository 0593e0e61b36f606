"""The server's Prometheus metrics, in a registry of its own (one per app).

Endpoint labels are the route paths (``/v1/frame``) or ``other``, never the raw path, so a
client cannot grow the label set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, pool_states, pool_waiting) -> None:
        """``pool_states()`` returns the workers' states (``[{"pid", "state"}, ...]``),
        ``pool_waiting()`` how many requests wait for a worker."""
        self.registry = CollectorRegistry()
        self.requests = Counter("smartframe_http_requests", "HTTP requests answered, by endpoint, "
                                "status and error kind ('none' for a success)",
                                ["endpoint", "status", "kind"], registry=self.registry)
        self.latency = Histogram("smartframe_http_request_duration_seconds", "Time from a request's "
                                 "arrival to the end of its answer", ["endpoint"], buckets=_SECONDS,
                                 registry=self.registry)
        self.in_flight = Gauge("smartframe_http_requests_in_flight", "Requests being answered now, "
                               "every endpoint", registry=self.registry)
        self.admitted = Gauge("smartframe_api_requests_admitted", "API requests admitted: uploading, "
                              "waiting for a worker or being worked on", registry=self.registry)
        queued = Gauge("smartframe_api_requests_queued", "API requests waiting for a free worker",
                       registry=self.registry)
        queued.set_function(pool_waiting)
        self.upload_bytes = Counter("smartframe_upload_bytes", "Request body bytes read",
                                    registry=self.registry)
        self.restarts = Counter("smartframe_worker_restarts", "Workers replaced, by reason (died, "
                                "timeout)", ["reason"], registry=self.registry)
        workers = Gauge("smartframe_workers", "Worker processes by state (starting, idle, busy)",
                        ["state"], registry=self.registry)
        for state in ("starting", "idle", "busy"):
            workers.labels(state).set_function(
                lambda state=state: sum(w["state"] == state for w in pool_states()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
