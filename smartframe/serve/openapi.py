"""The OpenAPI 3.1 description of the server, built from the same parameter lists the server
reads requests with (:data:`smartframe.serve.params.ENDPOINT_PARAMS`), so it cannot drift."""

from __future__ import annotations

from .. import __version__
from .errors import STATUS_BY_CLASS
from .params import ENDPOINT_PARAMS

__all__ = ["openapi"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_IMAGE_BODY = {
    "required": True,
    "description": "The image: the raw bytes (any Content-Type), or a multipart/form-data form "
                   "with one field, named `image` (any other field, or a second `image`, is a 400: "
                   "options are query parameters). Formats are recognised from the content.",
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "format": "binary"}}, "additionalProperties": False}},
    },
}


def _errors(*statuses: int) -> dict:
    words = {
        400: "A bad option or request (kind usage); the message names the option and what is allowed.",
        401: "A token is configured and the request has no valid `Authorization: Bearer` header.",
        408: "The upload did not arrive within the time limit (kind timeout).",
        413: "The body is larger than the upload limit, or the image breaks a limit (kind input).",
        415: "Not an image in a format smartframe reads, or a layout it cannot decode (kind input).",
        422: "A corrupt image (kind input), or the request cannot be met (kind constraint: faces "
             "refused, byte budget, redaction).",
        500: "A bundled model is broken (kind model), a worker died on the request, or a bug "
             "(kind internal); never a traceback.",
        503: "Overloaded: every worker is busy and the queue is full, or no worker became free in "
             "time (kind overload). Retry after `Retry-After` seconds.",
        504: "The work took longer than the time limit (kind timeout); its worker was replaced.",
    }
    return {str(s): {"description": words[s], "content": {"application/json": {"schema": _ERROR}}}
            for s in statuses}


def _parameters(endpoint: str) -> list[dict]:
    out = []
    for param in ENDPOINT_PARAMS[endpoint]:
        out.append({"name": param.name, "in": "query", "required": param.name == "size",
                    "description": param.description, "schema": param.schema()})
    return out


_API_ERRORS = (400, 401, 408, 413, 415, 422, 500, 503, 504)


def openapi(*, token: bool) -> dict:
    security = [{"bearer": []}] if token else []
    report_header = {"Smartframe-Report": {"description": "The plan's report as JSON (one line).",
                                           "schema": {"type": "string"}}}
    paths = {
        "/v1/check": {"post": {
            "summary": "Check an image against a target's rules, rule by rule",
            "description": "The `smartframe check --json` report, plus `rules` (every rule with "
                           "pass/fail/skipped). 200 whether or not the image passes: see `ok`.",
            "parameters": _parameters("check"), "requestBody": _IMAGE_BODY, "security": security,
            "responses": {"200": {"description": "The report.", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CheckReport"}}}}, **_errors(*_API_ERRORS)}}},
        "/v1/frame": {"post": {
            "summary": "Frame an image to exactly the size asked",
            "description": "One size: the image itself, with its report in the `Smartframe-Report` "
                           "header; with `Accept: application/json`, or several sizes, JSON with "
                           "each image as base64 and its report.",
            "parameters": _parameters("frame"), "requestBody": _IMAGE_BODY, "security": security,
            "responses": {"200": {"description": "The framed image(s).", "headers": report_header,
                                  "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                                              "image/png": {"schema": {"type": "string", "format": "binary"}},
                                              "image/webp": {"schema": {"type": "string", "format": "binary"}},
                                              "application/json": {"schema": {"$ref": "#/components/schemas/FrameResults"}}}},
                          **_errors(*_API_ERRORS)}}},
        "/v1/explain": {"post": {
            "summary": "The overlay picture of the plan(s): importance map, windows, faces",
            "parameters": _parameters("explain"), "requestBody": _IMAGE_BODY, "security": security,
            "responses": {"200": {"description": "A PNG; the plans are in the `Smartframe-Plans` header "
                                                 "(JSON), or with `Accept: application/json` all as JSON.",
                                  "headers": {"Smartframe-Plans": {"schema": {"type": "string"}}},
                                  "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                                              "application/json": {"schema": {"type": "object"}}}},
                          **_errors(*_API_ERRORS)}}},
        "/v1/presets": {"get": {
            "summary": "Every preset: its sizes and rules (`smartframe presets --json`)",
            "security": security,
            "responses": {"200": {"description": "The presets.", "content": {"application/json": {
                "schema": {"type": "array", "items": {"type": "object"}}}}}, **_errors(401)}}},
        "/healthz": {"get": {"summary": "Alive: the process answers", "responses": {
            "200": {"description": "`{\"status\": \"ok\"}`"}}}},
        "/readyz": {"get": {"summary": "Ready: models loaded, a worker up, not draining", "responses": {
            "200": {"description": "Ready; the body lists the workers and their states."},
            "503": {"description": "Not ready (no worker ready)."}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text format)", "security": security,
                             "responses": {"200": {"description": "Metrics.", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}, **_errors(401)}}},
        "/": {"get": {"summary": "The upload page", "responses": {"200": {"description": "HTML."}}}},
    }
    kinds = sorted({cls.kind for cls, _ in STATUS_BY_CLASS} |
                   {"overload", "unauthorized", "not_found", "method", "internal"})
    return {
        "openapi": "3.1.0",
        "info": {"title": "smartframe", "version": __version__,
                 "description": "Pre-screen and frame images for image-to-video APIs and social formats."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["kind", "type", "message"], "properties": {
                        "kind": {"type": "string", "enum": kinds},
                        "type": {"type": "string", "description": "The error class, e.g. NotAnImageError."},
                        "message": {"type": "string"},
                        "option": {"type": "string", "description": "The option at fault (kind usage)."},
                        "faces": {"type": "array", "items": {"type": "object"}}}}}},
                "CheckReport": {"type": "object", "required": ["ok", "violations", "faces", "rules"],
                                "properties": {
                                    "ok": {"type": "boolean"},
                                    "violations": {"type": "array", "items": {"type": "object"}},
                                    "faces": {"type": "array", "items": {"type": "object"}},
                                    "rules": {"type": "array", "items": {"type": "object", "properties": {
                                        "rule": {"type": "string"},
                                        "status": {"type": "string", "enum": ["pass", "fail", "skipped"]},
                                        "message": {"type": "string"}}}}}},
                "FrameResults": {"type": "object", "properties": {"results": {"type": "array", "items": {
                    "type": "object", "properties": {
                        "report": {"type": "object"}, "media_type": {"type": "string"},
                        "name": {"type": "string"}, "data": {"type": "string", "contentEncoding": "base64"}}}}}},
            },
        },
    }
