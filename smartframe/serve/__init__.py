"""``smartframe serve``: pre-screening and framing as an HTTP service.

``pip install ".[serve]"`` (in the smartframe checkout), then ``smartframe serve`` (127.0.0.1:8000). The modules,
in the order a request meets them::

    config.py   ServeConfig: flags / environment -> one validated settings object
    app.py      the Starlette app: middleware (headers, log line, metrics), routes, admission
    upload.py   the body, read in memory, refused past the limit while it streams in
    params.py   query parameters -> the library's options (validated by the library)
    pool.py     the worker processes: bounded, replaced when they die or overrun
    worker.py   inside a worker: models loaded once, then library calls
    errors.py   the library's error kinds -> HTTP statuses and JSON bodies
    metrics.py  Prometheus metrics;  openapi.py  the OpenAPI description
    static/     the upload page: HTML, CSS and native ES modules (app.js, the entry, imports
                api.js, form.js, check.js, frames.js, overlay.js); no build step
"""

from __future__ import annotations

import logging
import sys

from .config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run"]


def create_app(config: ServeConfig):
    """The ASGI app (Starlette) for ``config``; see :mod:`smartframe.serve.app`."""
    from .app import create_app as create

    return create(config)


def run(config: ServeConfig) -> bool:
    """Serve until SIGTERM or SIGINT, then drain: requests in flight are answered (for up to the
    time limit and 5 s), the listening socket is closed at once, and the workers are stopped.
    Returns False when the server could not start (a worker failed to load its models)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), host=config.host, port=config.port, log_config=None, access_log=False,
        server_header=False, lifespan="on", timeout_graceful_shutdown=config.drain_seconds,
        timeout_keep_alive=5))
    server.run()
    return server.started
