"""The HTTP application: a thin shell. Request -> library call on a worker -> status code.

Order of the rules for an API request, cheapest first, so a refused request costs little:
token (401) -> options, validated by the library (400) -> admission: a free place among the
workers and the queue, or 503 at once (the body is not read) -> the body, read while it streams
in, refused past the upload limit (413) or the time limit (408) -> a worker, by the deadline
(503) -> the library's answer, or its error kind mapped to a status (see ``errors.py``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import math
import pickle
import time
import uuid
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import SmartframeError
from ..targets import presets
from . import params
from .config import ServeConfig
from .errors import ApiError, from_library, internal_error
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .openapi import openapi
from .pool import Overloaded, WorkerDied, WorkerPool, WorkerTimedOut
from .upload import read_upload

__all__ = ["create_app", "SECURITY_HEADERS"]

log = logging.getLogger("smartframe.serve")

#: On every response. The page's scripts, styles and images come from this server only; result
#: images are shown from blob: URLs the page makes of the API's answers.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' blob:; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
#: The page's files: ``smartframe/serve/static/*``, each served at ``/static/<name>`` (the page
#: itself at ``/``) with the media type of its extension. The scripts are native ES modules,
#: which a browser runs only when served with a JavaScript media type.
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _static_files() -> dict[str, tuple[str, str]]:
    """``{url path: (file name, media type)}`` for every file of the page."""
    folder = resources.files("smartframe.serve").joinpath("static")
    found = {"/": ("index.html", _MEDIA_TYPES[".html"])}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and entry.name != "index.html" and suffix in _MEDIA_TYPES:
            found[f"/static/{entry.name}"] = (entry.name, _MEDIA_TYPES[suffix])
    return found


_STATIC = _static_files()
_ENDPOINTS = (*_STATIC, "/openapi.json", "/healthz", "/readyz", "/metrics", "/v1/check", "/v1/frame",
              "/v1/explain", "/v1/presets")

class _Shell:
    """Pure ASGI middleware for what every request gets: a request id, the security headers,
    the in-flight gauge, the metrics, exactly one log line, and ``Connection: close`` on an
    answer given before the request's body was read."""

    def __init__(self, app, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        request_id = uuid.uuid4().hex[:16]
        info = scope["smartframe"] = {"id": request_id, "started": started, "kind": None}
        endpoint = scope["path"] if scope["path"] in _ENDPOINTS else "other"
        counts = {"in": 0, "out": 0, "status": 500}
        request_headers = dict(scope.get("headers", []))
        unread = {"body": request_headers.get(b"content-length", b"0") != b"0"
                  or b"transfer-encoding" in request_headers}

        async def counting_receive():
            message = await receive()
            counts["in"] += len(message.get("body", b""))
            if message["type"] == "http.request" and not message.get("more_body", False):
                unread["body"] = False
            return message

        async def secured_send(message) -> None:
            if message["type"] == "http.response.start":
                counts["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])]
                present = {k.lower() for k, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                            if k.encode() not in present]
                headers.append((b"x-request-id", request_id.encode()))
                if unread["body"] and b"connection" not in present:
                    # Answered before the body was read to its end (refused early): close the
                    # connection, or the HTTP server would go on reading and discarding the
                    # rest of the body, however large.
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                counts["out"] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, counting_receive, secured_send)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.monotonic() - started
            kind = info["kind"] or ("none" if counts["status"] < 400 else "http")
            self.metrics.requests.labels(endpoint, str(counts["status"]), kind).inc()
            self.metrics.latency.labels(endpoint).observe(elapsed)
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{query}" if query else "")
            log.info('%s "%s %s" %d in=%d out=%d %.1fms kind=%s id=%s', client[0], scope["method"],
                     ascii(target)[1:-1], counts["status"], counts["in"], counts["out"], elapsed * 1000,
                     info["kind"] or "-", request_id)


def _error_response(error: ApiError, scope) -> JSONResponse:
    scope["smartframe"]["kind"] = error.kind
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class _Server:
    """The routes, with the pool, the config and the metrics they share."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.pool = WorkerPool(config.workers, on_restart=lambda reason: self.metrics.restarts.labels(reason).inc())
        self.metrics = Metrics(self.pool.states, lambda: self.pool.waiting)
        self.admitted = 0
        self.job_seconds = 0.5  # moving average of the work per request, for Retry-After
        self._expected = None if config.token is None else f"Bearer {config.token}".encode()
        package = resources.files("smartframe.serve").joinpath("static")
        self.static = {path: (package.joinpath(name).read_bytes(), media)
                       for path, (name, media) in _STATIC.items()}
        self.spec = openapi(token=config.token is not None)

    # --- helpers ---------------------------------------------------------------------------

    def authorise(self, request: Request) -> None:
        if self._expected is None:
            return
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, self._expected):  # constant time
            raise ApiError(401, "unauthorized", "Unauthorized", "this server needs "
                           "'Authorization: Bearer <token>'", headers={"www-authenticate": 'Bearer realm="smartframe"'})

    def retry_after(self) -> str:
        """Seconds until a place is likely free: the queue ahead, worked off at the measured rate."""
        return str(max(1, math.ceil(self.job_seconds * (self.admitted + 1) / self.config.workers)))

    @contextlib.contextmanager
    def admission(self):
        if self.admitted >= self.config.admitted:
            raise ApiError(503, "overload", "Overloaded",
                           f"the server is busy: {self.config.workers} worker(s) and a queue of "
                           f"{self.config.queue} are taken; retry later",
                           headers={"retry-after": self.retry_after()})
        self.admitted += 1
        self.metrics.admitted.inc()
        try:
            yield
        finally:
            self.admitted -= 1
            self.metrics.admitted.dec()

    async def work(self, request: Request, job: str, build) -> tuple:
        """The shared path of the three image endpoints; returns the worker's payload."""
        self.authorise(request)
        call = build(list(request.query_params.multi_items()), self.config.limits)
        info = request.scope["smartframe"]
        deadline = info["started"] + self.config.time_limit
        with self.admission():
            body = await read_upload(request, self.config.max_upload_bytes, deadline)
            self.metrics.upload_bytes.inc(len(body))
            head = pickle.dumps((job, call, info["id"]), protocol=pickle.HIGHEST_PROTOCOL)
            began = time.monotonic()
            try:
                reply = await self.pool.run(head, body, deadline)
            except Overloaded:
                raise ApiError(503, "overload", "Overloaded", "no worker became free within the time "
                               f"limit of {self.config.time_limit:g} s; retry later",
                               headers={"retry-after": self.retry_after()}) from None
            except WorkerDied as died:
                raise ApiError(500, "internal", "WorkerDied", f"the worker process running this request "
                               f"died ({died}); it has been replaced") from None
            except WorkerTimedOut:
                raise ApiError(504, "timeout", "ProcessingTimeout", "the request took longer than the "
                               f"time limit of {self.config.time_limit:g} s; its worker was stopped and "
                               "replaced") from None
            self.job_seconds = 0.8 * self.job_seconds + 0.2 * (time.monotonic() - began)
        if reply[0] == "error":
            _, status, body = reply
            raise ApiError(status, body["error"]["kind"], body["error"]["type"], body["error"]["message"],
                           detail={k: v for k, v in body["error"].items() if k not in ("kind", "type", "message")})
        return reply[1]

    # --- endpoints ------------------------------------------------------------------------------

    async def check(self, request: Request) -> Response:
        return JSONResponse(await self.work(request, "check", params.check_call))

    async def frame(self, request: Request) -> Response:
        results = (await self.work(request, "frame", params.frame_call))["results"]
        if len(results) == 1 and not _wants_json(request):
            entry = results[0]
            return Response(entry["data"], media_type=entry["media_type"], headers={
                "smartframe-report": _header_json(entry["report"]),
                "content-disposition": f'inline; filename="{entry["name"]}"',
                "cache-control": "no-store"})
        return JSONResponse({"results": [
            {"report": e["report"], "media_type": e["media_type"], "name": e["name"],
             "data": base64.b64encode(e["data"]).decode("ascii")} for e in results]},
            headers={"cache-control": "no-store"})

    async def explain(self, request: Request) -> Response:
        payload = await self.work(request, "explain", params.explain_call)
        if _wants_json(request):
            return JSONResponse({"plans": payload["plans"], "media_type": payload["media_type"],
                                 "size": payload["size"],
                                 "data": base64.b64encode(payload["data"]).decode("ascii")},
                                headers={"cache-control": "no-store"})
        return Response(payload["data"], media_type="image/png", headers={
            "smartframe-plans": _header_json(payload["plans"]), "cache-control": "no-store"})

    async def presets(self, request: Request) -> Response:
        self.authorise(request)
        return JSONResponse([preset.to_dict() for preset in presets().values()])

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})

    async def readyz(self, request: Request) -> Response:
        idle, busy = self.pool.count("idle"), self.pool.count("busy")
        ready = idle + busy > 0
        return JSONResponse({"ready": ready, "workers": self.pool.states(), "configured": self.config.workers,
                             "admitted": self.admitted, "queued": self.pool.waiting},
                            status_code=200 if ready else 503, headers={"cache-control": "no-store"})

    async def metrics_text(self, request: Request) -> Response:
        self.authorise(request)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST,
                        headers={"cache-control": "no-store"})

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.spec)

    async def static_file(self, request: Request) -> Response:
        data, media = self.static[request.url.path]
        return Response(data, media_type=media, headers={"cache-control": "no-cache"})


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _header_json(data) -> str:
    """JSON on one header line: ASCII only (non-ASCII and control characters escaped)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def _guarded(handler):
    """Every answer, even a bug's, is JSON from inside the middleware (so it has the headers)."""
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return _error_response(error, request.scope)
        except SmartframeError as error:
            return _error_response(from_library(error), request.scope)
        except Exception:  # noqa: BLE001 -- a bug: the log has the traceback, the client a JSON 500
            log.exception("request %s: unexpected error", request.scope["smartframe"]["id"])
            return _error_response(internal_error(request.scope["smartframe"]["id"]), request.scope)

    return endpoint


async def _http_error(request: Request, error: HTTPException) -> Response:
    kinds = {404: ("not_found", "NotFound", f"no such endpoint: {request.url.path}"),
             405: ("method", "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}")}
    kind, type_, message = kinds.get(error.status_code, ("usage", "HTTPError", str(error.detail)))
    return _error_response(ApiError(error.status_code, kind, type_, message, headers=error.headers),
                           request.scope)


def create_app(config: ServeConfig) -> Starlette:
    """The ASGI app for ``config``; its lifespan starts and stops the worker pool."""
    server = _Server(config)
    routes = [Route(path, _guarded(server.static_file), methods=["GET"]) for path in _STATIC]
    routes += [
        Route("/v1/check", _guarded(server.check), methods=["POST"]),
        Route("/v1/frame", _guarded(server.frame), methods=["POST"]),
        Route("/v1/explain", _guarded(server.explain), methods=["POST"]),
        Route("/v1/presets", _guarded(server.presets), methods=["GET"]),
        Route("/healthz", _guarded(server.healthz), methods=["GET"]),
        Route("/readyz", _guarded(server.readyz), methods=["GET"]),
        Route("/metrics", _guarded(server.metrics_text), methods=["GET"]),
        Route("/openapi.json", _guarded(server.openapi_json), methods=["GET"]),
    ]
    middleware = [Middleware(_Shell, metrics=server.metrics)]
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
            expose_headers=["smartframe-report", "smartframe-plans", "retry-after", "x-request-id"]))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await server.pool.start()
        watcher = asyncio.get_running_loop().create_task(server.pool.watch())
        log.info("%d worker(s) ready; upload limit %d bytes, time limit %g s, queue %d, token %s, CORS %s",
                 config.workers, config.max_upload_bytes, config.time_limit, config.queue,
                 "required" if config.token else "off", ", ".join(config.cors_origins) or "off")
        try:
            yield
        finally:
            watcher.cancel()
            await server.pool.close()
            log.info("workers stopped")

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.server = server
    return app
