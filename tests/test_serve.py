"""smartframe serve, tested over HTTP against real servers (subprocesses on loopback ports).

One shared server answers most tests; a strict one (one worker, no queue, a 2 s time limit, a
token, CORS for one origin) tests the limits; two more are killed or drained by their tests.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid

import numpy as np
import pytest
from PIL import Image

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as missing:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # CI installs .[test]: it must run these
        pytest.fail(f"CI must run the server tests, but {missing}", pytrace=False)
    pytest.skip(f'the serve extra is not installed ({missing}): pip install ".[test]"', allow_module_level=True)

import smartframe  # noqa: E402
from smartframe import errors as sf_errors  # noqa: E402
from smartframe.options import FacePolicy, Fit, FrameOptions, Strategy  # noqa: E402
from smartframe.scenes import face_scene, landscape_with_subject  # noqa: E402
from smartframe.serve.errors import STATUS_BY_CLASS, status_for  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from serve_server import Server, alive, descendants  # noqa: E402

TOKEN = "t0ken-for-the-tests-" + uuid.uuid4().hex
UPLOAD_LIMIT = 24 * 1024 * 1024
ORIGIN = "https://app.example"


def jpeg(array: np.ndarray, **params) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=92, **params)
    return buffer.getvalue()


FACE_JPEG = jpeg(face_scene(1600, 1000, 800, 500, 300))
PLAIN_JPEG = jpeg(landscape_with_subject(1280, 720)[0])


@pytest.fixture(scope="module")
def slow_png() -> bytes:
    """A 12000x11000 PNG (132 MP, about 2 MB): decoding and explaining it at max_side=4096 keeps
    a worker busy for several seconds even on a quiet machine (a 48 MP one finished within the
    2 s time limit there), long enough to kill the worker or drain the server while it runs."""
    x = (np.arange(12000) % 256).astype(np.uint8)
    y = (np.arange(11000) % 256).astype(np.uint8)
    pixels = np.empty((11000, 12000, 3), np.uint8)
    pixels[..., 0] = x[None, :]
    pixels[..., 1] = y[:, None]
    pixels[..., 2] = x[None, :] + y[:, None]  # wraps around at 256, as intended
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


SLOW_EXPLAIN = "/v1/explain?size=3840x2160&max_side=4096"


@pytest.fixture(scope="module")
def tmpdir_for_server():
    with tempfile.TemporaryDirectory(prefix="smartframe-serve-tmp-") as folder:
        yield folder


@pytest.fixture(scope="module")
def server(tmpdir_for_server):
    running = Server("--workers", "2", "--max-upload-bytes", str(UPLOAD_LIMIT),
                     env={"TMPDIR": tmpdir_for_server})
    yield running
    assert running.stop() in (0, -signal.SIGTERM), running.log()


@pytest.fixture(scope="module")
def strict():
    running = Server("--workers", "1", "--queue", "0", "--time-limit", "2",
                     "--cors-origins", ORIGIN, "--max-upload-bytes", "4000000",
                     env={"SMARTFRAME_TOKEN": TOKEN})
    yield running
    assert running.stop() in (0, -signal.SIGTERM), running.log()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- operations -----------------------------------------------------------------------------

def test_healthz_and_readyz(server):
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = server.get("/readyz")
    assert ready.status == 200
    body = ready.json()
    assert body["ready"] is True and body["configured"] == 2
    assert len(body["workers"]) == 2 and all(w["state"] == "idle" for w in body["workers"])


def test_every_response_has_the_security_headers(server):
    replies = [server.get("/"), server.get("/static/app.js"), server.get("/static/style.css"),
               server.get("/healthz"), server.get("/openapi.json"), server.get("/nope"),
               server.request("DELETE", "/v1/check"), server.post("/v1/check?size=bad", b"x"),
               server.post("/v1/frame?size=320x180", PLAIN_JPEG)]
    for reply in replies:
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "img-src 'self' blob:" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no other host is allowed anything
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert len(reply.headers["x-request-id"]) == 16
        assert "server" not in reply.headers


def test_page_and_assets_are_served_by_the_package(server):
    page = server.get("/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert "/static/app.js" in html and "/static/style.css" in html
    assert "//" not in html.replace("://www.w3.org", "")  # nothing from another host, no CDN
    script = server.get("/static/app.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "http://" not in script.body.decode() and "https://" not in script.body.decode()
    assert server.get("/static/style.css").headers["content-type"].startswith("text/css")


def test_metrics_in_the_prometheus_format(server):
    from prometheus_client.parser import text_string_to_metric_families

    assert server.post("/v1/check?size=sora-2", PLAIN_JPEG).status == 200
    assert server.post("/v1/check?size=sora-2", b"not an image").status == 415
    reply = server.get("/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.body.decode())}
    requests = {tuple(sorted(s.labels.items())): s.value for s in families["smartframe_http_requests"].samples
                if s.name.endswith("_total")}
    assert requests[(("endpoint", "/v1/check"), ("kind", "none"), ("status", "200"))] >= 1
    assert requests[(("endpoint", "/v1/check"), ("kind", "input"), ("status", "415"))] >= 1
    latency = [s for s in families["smartframe_http_request_duration_seconds"].samples
               if s.name.endswith("_count") and s.labels["endpoint"] == "/v1/check"]
    assert latency and latency[0].value >= 2
    assert [s.value for s in families["smartframe_http_requests_in_flight"].samples] == [1.0]  # this one
    assert "smartframe_api_requests_queued" in families and "smartframe_api_requests_admitted" in families
    workers = {s.labels["state"]: s.value for s in families["smartframe_workers"].samples}
    assert workers["idle"] + workers["busy"] == 2


def test_one_log_line_per_request(server):
    reply = server.post("/v1/check?size=sora-2&min_face_px=20", FACE_JPEG)
    assert reply.status == 200
    request_id = reply.headers["x-request-id"]
    time.sleep(0.2)
    lines = [line for line in server.log().splitlines() if request_id in line]
    assert len(lines) == 1, lines
    assert '"POST /v1/check?size=sora-2&min_face_px=20" 200' in lines[0]
    assert f"in={len(FACE_JPEG)}" in lines[0]


def test_openapi_describes_every_endpoint_with_the_librarys_options(server):
    spec = server.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path, method in [("/v1/check", "post"), ("/v1/frame", "post"), ("/v1/explain", "post"),
                         ("/v1/presets", "get"), ("/healthz", "get"), ("/readyz", "get"),
                         ("/metrics", "get"), ("/", "get")]:
        assert "responses" in spec["paths"][path][method], path
    frame = {p["name"]: p for p in spec["paths"]["/v1/frame"]["post"]["parameters"]}
    option_names = [name for name in FrameOptions.field_names() if name != "limits"]
    assert set(frame) == {"size", *option_names, "format", "quality", "max_bytes", "metadata"}
    # The choices are the library's enums, read when the server starts: a new member shows up.
    assert frame["strategy"]["schema"]["enum"] == [m.value for m in Strategy]
    assert frame["faces"]["schema"]["enum"] == [m.value for m in FacePolicy]
    assert frame["fit"]["schema"]["enum"] == [m.value for m in Fit]
    assert frame["min_face_px"]["schema"]["type"] == "number"
    assert frame["quality"]["schema"]["type"] == "integer"
    check = {p["name"] for p in spec["paths"]["/v1/check"]["post"]["parameters"]}
    assert check == {"size", "faces", "min_face_px", "min_face_score"}
    responses = spec["paths"]["/v1/frame"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "500", "503", "504"} <= set(responses)


# --- the API --------------------------------------------------------------------------------

def test_check_reports_rule_by_rule(server):
    reply = server.post("/v1/check?size=sora-2", FACE_JPEG)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    report = reply.json()
    library = smartframe.check(FACE_JPEG, "sora-2").to_dict()
    assert {k: report[k] for k in library} == library  # the smartframe check --json report
    assert list(report)[:3] == ["ok", "violations", "faces"]
    assert report["ok"] is False and len(report["faces"]) == 1
    status = {rule["rule"]: rule["status"] for rule in report["rules"]}
    assert status == {"dimensions": "fail", "format": "pass", "bytes": "pass", "mode": "pass",
                      "orientation": "pass", "profile": "pass", "faces": "fail"}
    assert "refuses" in next(r["message"] for r in report["rules"] if r["rule"] == "faces")

    skipped = server.post("/v1/check?size=sora-2&faces=false", FACE_JPEG).json()
    assert {r["rule"]: r["status"] for r in skipped["rules"]}["faces"] == "skipped"
    assert skipped["faces"] == []

    passing = server.post("/v1/check?size=sora-2", PLAIN_JPEG).json()
    assert passing["ok"] is True and all(r["status"] == "pass" for r in passing["rules"])


def test_frame_returns_the_image_with_its_report(server):
    reply = server.post("/v1/frame?size=sora-2&faces=blur", FACE_JPEG)
    assert reply.status == 200 and reply.headers["content-type"] == "image/jpeg"
    image = decode(reply.body)
    assert image.size == (1280, 720) and image.format == "JPEG"
    report = json.loads(reply.headers["smartframe-report"])
    assert report["output_size"] == [1280, 720] and report["target"] == "sora-2:1280x720"
    assert report["output"] == {"format": "jpeg", "bytes": len(reply.body), "quality": 90}
    assert report["redacted"], "the face was blurred"
    assert smartframe.check(reply.body, "sora-2").ok  # framed and blurred: it passes now


def test_frame_several_sizes_as_json(server):
    sizes = "sora-2-pro:1280x720,sora-2-pro:720x1280,sora-2-pro:1024x1792"
    reply = server.post(f"/v1/frame?size={sizes}&format=png&faces=blur", FACE_JPEG)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    results = reply.json()["results"]
    assert [r["report"]["output_size"] for r in results] == [[1280, 720], [720, 1280], [1024, 1792]]
    for result in results:
        image = decode(base64.b64decode(result["data"]))
        assert list(image.size) == result["report"]["output_size"] and image.format == "PNG"
        assert result["media_type"] == "image/png"


def test_frame_as_json_on_request_and_from_a_multipart_form(server):
    reply = server.post("/v1/frame?size=640x640&fit=pad&background=blur", PLAIN_JPEG,
                        headers={"Accept": "application/json"})
    (result,) = reply.json()["results"]
    assert decode(base64.b64decode(result["data"])).size == (640, 640)
    assert result["report"]["fit"] == "pad"

    boundary = "----smartframe" + uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + PLAIN_JPEG + f"\r\n--{boundary}--\r\n".encode()
    reply = server.post("/v1/frame?size=300x500&format=webp", form,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert reply.status == 200 and reply.headers["content-type"] == "image/webp"
    assert decode(reply.body).size == (300, 500)


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart body (boundary ``xyz``) of ``(name, filename or None, data)`` parts."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--xyz\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + b"--xyz--\r\n"


# A form carries the image, in one field named 'image', and nothing else: a file in another
# field, a second image, or an option sent as a form field would otherwise be used, or ignored,
# silently (the options are query parameters; a repeated one is refused the same way).
FORMS = [
    ("the image", [("image", "a.jpg", b"IMG")], None),
    ("the image without a file name", [("image", None, b"IMG")], None),
    ("a file in another field", [("file", "a.jpg", b"IMG")], ("BadForm", "a file named 'file'")),
    ("the image and another file", [("image", "a.jpg", b"IMG"), ("photo", "b.jpg", b"B")],
     ("BadForm", "a file named 'photo'")),
    ("an option as a form field", [("size", None, b"sora-2"), ("image", "a.jpg", b"IMG")],
     ("BadForm", "a field named 'size'")),
    ("two images", [("image", "a.jpg", b"IMG"), ("image", "b.jpg", b"B")], ("BadForm", "2 fields named 'image'")),
    ("no field", [], ("NoImage", "a field named 'image'")),
    ("an empty image", [("image", "a.jpg", b"")], ("NoImage", "a field named 'image'")),
]


@pytest.mark.parametrize("parts, refusal", [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
def test_a_form_holds_one_image_field_and_nothing_else(parts, refusal):
    from smartframe.serve.errors import ApiError
    from smartframe.serve.upload import image_from_form

    body = _form(*parts)
    if refusal is None:
        assert image_from_form(body, "multipart/form-data; boundary=xyz") == b"IMG"
        return
    with pytest.raises(ApiError) as raised:
        image_from_form(body, "multipart/form-data; boundary=xyz")
    error = raised.value
    assert (error.status, error.kind, error.type) == (400, "usage", refusal[0])
    assert refusal[1] in error.message


def test_a_refused_form_is_a_400_naming_the_field(server):
    reply = server.post("/v1/frame?size=320x180", _form(("upload", "a.jpg", PLAIN_JPEG)),
                        headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert reply.status == 400, reply
    assert reply.json()["error"]["type"] == "BadForm" and "'upload'" in reply.json()["error"]["message"]
    reply = server.post("/v1/frame?size=320x180", _form(("image", "a.jpg", PLAIN_JPEG), ("image", "b.jpg", FACE_JPEG)),
                        headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert reply.status == 400 and "one image per request" in reply.json()["error"]["message"]


# (format, quality): the service warns in the report exactly where the CLI warns.
ENCODE_SETTINGS = [("png", 50), ("jpeg", 50), ("webp", 50), ("png", None)]


@pytest.mark.parametrize("fmt, quality", ENCODE_SETTINGS, ids=[f"{f}-{q}" for f, q in ENCODE_SETTINGS])
def test_the_service_warns_where_the_cli_warns(server, tmp_path, fmt, quality):
    from click.testing import CliRunner

    from smartframe.cli import main

    query = f"size=320x180&format={fmt}" + (f"&quality={quality}" if quality else "")
    reply = server.post(f"/v1/frame?{query}", PLAIN_JPEG)
    assert reply.status == 200, reply
    said = [w for w in json.loads(reply.headers["smartframe-report"])["warnings"] if "does nothing" in w]
    several = server.post(f"/v1/frame?{query.replace('320x180', '320x180,180x320')}", PLAIN_JPEG).json()
    source = tmp_path / "in.jpg"
    source.write_bytes(PLAIN_JPEG)
    args = ["frame", str(source), "-s", "320x180", "-o", str(tmp_path / "out") + "/", "--format", fmt]
    printed = CliRunner().invoke(main, args + (["--quality", str(quality)] if quality else []))
    assert printed.exit_code == 0, printed.output
    cli_warns = "does nothing for PNG" in printed.stderr
    if fmt == "png" and quality:
        assert cli_warns and said == [f"quality={quality} does nothing for PNG output (PNG is lossless)"]
        assert all(said[0] in r["report"]["warnings"] for r in several["results"])
    else:
        assert not cli_warns and said == []


def test_the_page_is_native_modules_served_as_javascript(server):
    """Every script of the page is an ES module served with a JavaScript media type (a browser
    refuses to run a module served otherwise), and every module it imports is served."""
    import re
    from importlib import resources

    page = server.get("/").body.decode()
    assert '<script type="module" src="/static/app.js"></script>' in page
    assert "<script" not in page.replace('<script type="module" src="/static/app.js"></script>', "")
    folder = resources.files("smartframe.serve").joinpath("static")
    modules = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".js"))
    assert len(modules) >= 6  # the API client, the form, the check, the results, the overlay, the entry
    for name in modules:
        reply = server.get(f"/static/{name}")
        assert reply.status == 200 and reply.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        source = reply.body.decode()
        assert len(source.splitlines()) < 300, name  # one concern per module
        for imported in re.findall(r'^import .* from "([^"]+)";$', source, re.M):
            assert imported.startswith("./") and imported[2:] in modules, (name, imported)  # nothing from elsewhere
        assert "fetch(" not in source or name == "api.js", name  # one API client


def test_explain_returns_the_overlay(server):
    reply = server.post("/v1/explain?size=sora-2&max_side=400", FACE_JPEG)
    assert reply.status == 200 and reply.headers["content-type"] == "image/png"
    assert max(decode(reply.body).size) == 400
    (plan,) = json.loads(reply.headers["smartframe-plans"])
    assert plan["output_size"] == [1280, 720] and len(plan["faces"]) == 1
    as_json = server.post("/v1/explain?size=1280x720,720x1280", FACE_JPEG,
                          headers={"Accept": "application/json"}).json()
    assert len(as_json["plans"]) == 2 and max(as_json["size"]) == 1280


def test_presets_are_the_clis(server):
    from click.testing import CliRunner

    from smartframe.cli import main

    printed = CliRunner().invoke(main, ["presets", "--json"])
    assert server.get("/v1/presets").json() == json.loads(printed.output)


# --- errors ---------------------------------------------------------------------------------

def _png_declaring(width: int, height: int) -> bytes:
    from conftest import png_declaring

    return png_declaring(width, height)


FORM_WITHOUT_IMAGE = b'--xyz--\r\n'
FORM_WITH_ANOTHER_FIELD = b'--xyz\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--xyz--\r\n'

ERROR_CASES = [
    # (query, body, status, kind, type, option)
    ("/v1/frame?size=sora-2&fit=zoom", "face", 400, "usage", "OptionError", "fit"),
    ("/v1/frame?size=sora-2&strategy=centr", "face", 400, "usage", "OptionError", "strategy"),
    ("/v1/frame?size=sora-2&quality=101", "face", 400, "usage", "OptionError", "quality"),
    ("/v1/frame?size=sora-2&min_face_px=many", "face", 400, "usage", "OptionError", "min_face_px"),
    ("/v1/frame?size=sora-2&max_pixels=1", "face", 400, "usage", "OptionError", "max_pixels"),
    ("/v1/frame?size=sora-2&fit=pad&fit=cover", "face", 400, "usage", "OptionError", "fit"),
    ("/v1/frame?size=nowhere", "face", 400, "usage", "OptionError", "size"),
    ("/v1/frame", "face", 400, "usage", "OptionError", "size"),
    ("/v1/check?size=sora-2&faces=maybe", "face", 400, "usage", "OptionError", "faces"),
    ("/v1/check?size=1280x720,720x1280", "face", 400, "usage", "OptionError", "size"),
    ("/v1/explain?size=sora-2&max_side=10", "face", 400, "usage", "OptionError", "max_side"),
    ("/v1/frame?size=sora-2", "", 415, "input", "NotAnImageError", None),
    ("/v1/frame?size=sora-2", "form-without-image", 400, "usage", "NoImage", None),
    ("/v1/frame?size=sora-2", "form-with-another-field", 400, "usage", "BadForm", None),
    ("/v1/frame?size=sora-2", "text", 415, "input", "NotAnImageError", None),
    ("/v1/check?size=sora-2", "truncated", 422, "input", "CorruptImageError", None),
    ("/v1/check?size=sora-2", "bomb", 413, "input", "ImageTooLargeError", None),
    ("/v1/frame?size=sora-2&faces=reject", "face", 422, "constraint", "FacesFoundError", None),
    ("/v1/frame?size=sora-2&max_bytes=500&faces=blur", "face", 422, "constraint", "ByteBudgetError", None),
]


@pytest.mark.parametrize("path, body, status, kind, type_, option", ERROR_CASES,
                         ids=[f"{c[3]}-{c[4]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_errors_are_json_with_the_librarys_kind_and_a_fitting_status(server, path, body, status, kind,
                                                                     type_, option):
    data = {"face": FACE_JPEG, "": b"", "text": b"just some text, not a picture",
            "truncated": FACE_JPEG[: len(FACE_JPEG) // 3], "form-without-image": FORM_WITHOUT_IMAGE,
            "form-with-another-field": FORM_WITH_ANOTHER_FIELD, "bomb": _png_declaring(20000, 20000)}[body]
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"} if body.startswith("form") else {}
    reply = server.post(path, data, headers=headers)
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert (error["kind"], error["type"]) == (kind, type_), error
    assert error["message"] and "Traceback" not in reply.body.decode()
    if option is not None:
        assert error["option"] == option
    if type_ == "FacesFoundError":
        assert len(error["faces"]) == 1


def test_every_library_error_class_has_a_status():
    classes = [getattr(sf_errors, name) for name in sf_errors.__all__
               if isinstance(getattr(sf_errors, name), type)]
    for cls in classes:
        status = next(s for c, s in STATUS_BY_CLASS if issubclass(cls, c))
        if issubclass(cls, sf_errors.OptionError):
            error = cls("fit", "zoom", "one of ...")
        elif issubclass(cls, sf_errors.FacesFoundError):
            error = cls("faces")
        else:
            error = cls("message")
        assert status_for(error) == status
        expected = {"usage": 400, "constraint": 422, "model": 500, "timeout": 504, "output": 500,
                    "error": 500}.get(cls.kind)
        if cls.kind == "input":
            expected = {"NotAnImageError": 415, "UnsupportedImageError": 415,
                        "ImageTooLargeError": 413}.get(cls.__name__, 422)
        assert status == expected, cls


def test_the_hostile_corpus_over_http(server):
    """Every hostile input of tests/hostile_corpus.py through /v1/check: the documented error
    kind with its status, or a report; never a 500."""
    import concurrent.futures

    import hostile_corpus

    def run(case):
        return case, server.post("/v1/check?size=1280x720", case.make())

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(run, hostile_corpus.CASES))
    assert len(outcomes) > 100
    for case, reply in outcomes:
        if case.expect is None:
            assert reply.status == 200, (case.id, reply)
            continue
        error = reply.json()["error"]
        assert issubclass(getattr(sf_errors, error["type"]), case.expect), (case.id, error)
        assert reply.status == status_for(case.expect("x")), (case.id, reply)
        assert error["kind"] == "input"


def test_unknown_paths_and_methods(server):
    missing = server.get("/v1/crop")
    assert missing.status == 404 and missing.json()["error"]["kind"] == "not_found"
    wrong = server.get("/v1/frame?size=sora-2")
    assert wrong.status == 405 and wrong.json()["error"]["kind"] == "method"


# --- limits and safety ------------------------------------------------------------------------

def _read_answer(sock: socket.socket, answer: bytes = b"") -> bytes:
    """The rest of one HTTP answer: headers, then Content-Length bytes (or until closed)."""
    try:
        while True:
            head, _, body = answer.partition(b"\r\n\r\n")
            if _:
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    return answer
            data = sock.recv(65536)
            if not data:
                return answer
            answer += data
    except OSError:
        return answer


def _stream_until_answered(port: int, head: bytes, frame: bytes, budget: int, seconds: float = 20.0):
    """Send ``head``, then ``frame`` over and over until the server answers or closes, or
    ``budget`` bytes or ``seconds`` have gone. Returns (body bytes sent, the answer so far)."""
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(head)
        sock.setblocking(False)
        sent, pending, answer = 0, b"", b""
        started = time.monotonic()
        while sent < budget and time.monotonic() - started < seconds:
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
                if b"\r\n\r\n" in answer:
                    break
            if writable:
                pending = pending or frame
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    break
                except BlockingIOError:
                    continue
                sent, pending = sent + count, pending[count:]
        sock.setblocking(True)
        sock.settimeout(5)
        return sent, _read_answer(sock, answer)
    finally:
        sock.close()


def test_the_body_limit_is_enforced_while_the_upload_streams_in(server):
    """A 2 GB chunked upload that would never end is refused once the limit has arrived."""
    chunk = b"\xff" * 65536
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    head = b"POST /v1/check?size=sora-2 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    started = time.monotonic()
    sent, answer = _stream_until_answered(server.port, head, frame, budget=2 * 2**30)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"kind":"input"' in answer and b"UploadTooLarge" in answer
    assert sent < UPLOAD_LIMIT + 16 * 2**20, f"{sent} bytes were taken before the refusal"
    assert time.monotonic() - started < 15
    assert server.get("/readyz").status == 200


def test_a_declared_length_over_the_limit_is_refused_before_reading(server):
    head = b"POST /v1/frame?size=sora-2 HTTP/1.1\r\nHost: test\r\nContent-Length: 2147483648\r\n\r\n"
    sent, answer = _stream_until_answered(server.port, head, b"\0" * 65536, budget=2 * 2**30)
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    assert sent < 16 * 2**20
    time.sleep(0.2)
    line = [x for x in server.log().splitlines() if "/v1/frame?size=sora-2\" 413" in x][-1]
    assert " in=0 " in line  # not one byte of the body was read


@pytest.mark.parametrize("path", ["/v1/frame?size=sora-2&fit=zoom", "/v1/nothing-here"])
def test_an_answer_before_the_body_closes_the_connection(server, path):
    """Refused before the body is read (a bad option, no such endpoint): the connection closes,
    so the rest of a large upload is not read and discarded."""
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 2147483648\r\n\r\n".encode()
    sent, answer = _stream_until_answered(server.port, head, b"\0" * 65536, budget=2 * 2**30)
    assert answer.split(b" ")[1] in (b"400", b"404") and b"connection: close" in answer.lower()
    assert sent < 16 * 2**20


def test_uploads_are_never_written_to_disk(server, tmpdir_for_server):
    big = jpeg(np.random.default_rng(3).integers(0, 255, (2000, 3000, 3), dtype=np.uint8))
    assert len(big) > 4 * 2**20  # larger than Starlette's 1 MiB spooling threshold
    boundary = "b" + uuid.uuid4().hex
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n\r\n"
            ).encode() + big + f"\r\n--{boundary}--\r\n".encode()
    assert server.post("/v1/check?size=sora-2&faces=false", form,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}).status == 200
    assert server.post("/v1/frame?size=1280x720", big).status == 200
    files = [os.path.join(folder, name) for folder, _, names in os.walk(tmpdir_for_server) for name in names]
    regular = [path for path in files if os.path.isfile(path) and not os.path.islink(path)
               and not __import__("stat").S_ISSOCK(os.stat(path).st_mode)]
    assert regular == [], regular  # only multiprocessing's forkserver socket lives there


def test_the_server_never_fetches_urls(server):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(1.0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/photo.jpg"
        assert server.post("/v1/frame?size=sora-2", url.encode()).status == 415
        assert server.post(f"/v1/frame?size={url}", FACE_JPEG).status == 400
        with pytest.raises(socket.timeout):
            listener.accept()


def test_no_cors_unless_configured(server):
    preflight = server.request("OPTIONS", "/v1/check", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    reply = server.post("/v1/check?size=sora-2", PLAIN_JPEG, headers={"Origin": ORIGIN})
    assert reply.status == 200 and "access-control-allow-origin" not in reply.headers


def test_cors_for_the_configured_origin_only(strict):
    allowed = strict.request("OPTIONS", "/v1/check", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert allowed.status == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = strict.request("OPTIONS", "/v1/check", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    assert "content-security-policy" in other.headers


def test_the_token(strict):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        for reply in (strict.post("/v1/check?size=sora-2", PLAIN_JPEG, headers=headers),
                      strict.get("/v1/presets", headers=headers), strict.get("/metrics", headers=headers)):
            assert reply.status == 401, (headers, reply)
            assert reply.json()["error"]["kind"] == "unauthorized"
            assert reply.headers["www-authenticate"].startswith("Bearer")
    assert strict.post("/v1/check?size=sora-2", PLAIN_JPEG, headers=AUTH).status == 200
    assert strict.get("/metrics", headers=AUTH).status == 200
    # What a load balancer and a person need stays open.
    assert strict.get("/healthz").status == 200 and strict.get("/readyz").status == 200
    assert strict.get("/").status == 200
    # The token is checked before the options and before the body.
    assert strict.post("/v1/frame?size=bad", b"x").status == 401


def test_a_slow_upload_gets_408_at_the_time_limit(strict):
    head = (b"POST /v1/check?size=sora-2 HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", strict.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head + b"\xff\xd8" * 5)
        answer = _read_answer(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"UploadTimeout" in answer and 1.5 < waited < 6


def test_overload_then_timeout_then_a_fresh_worker(strict, slow_png):
    """One worker, no queue, 2 s: a slow request takes the worker; the next is refused at once
    with 503 and Retry-After; the slow one is stopped at the limit (504) and its worker replaced."""
    (before,) = strict.workers()
    outcome = {}

    def slow():
        outcome["reply"] = strict.post(SLOW_EXPLAIN, slow_png, headers=AUTH)

    thread = threading.Thread(target=slow)
    thread.start()
    strict.wait_workers("busy", 1)
    started = time.monotonic()
    refused = strict.post("/v1/check?size=sora-2", PLAIN_JPEG, headers=AUTH)
    assert time.monotonic() - started < 1.0  # at once, not after waiting
    assert refused.status == 503 and refused.json()["error"]["kind"] == "overload"
    assert int(refused.headers["retry-after"]) >= 1
    thread.join(30)
    timed_out = outcome["reply"]
    assert timed_out.status == 504, timed_out
    assert timed_out.json()["error"] == {
        "kind": "timeout", "type": "ProcessingTimeout",
        "message": "the request took longer than the time limit of 2 s; its worker was stopped and replaced"}
    (after,) = strict.wait_workers("idle", 1)
    assert after["pid"] != before["pid"] and not alive(before["pid"])
    assert strict.post("/v1/check?size=sora-2", PLAIN_JPEG, headers=AUTH).status == 200


def test_a_worker_killed_mid_request_fails_only_that_request(server, slow_png):
    outcome = {}

    def slow():
        outcome["reply"] = server.post(SLOW_EXPLAIN, slow_png)

    thread = threading.Thread(target=slow)
    thread.start()
    workers = server.wait_workers("busy", 1)
    (victim,) = [w["pid"] for w in workers if w["state"] == "busy"]
    assert victim in descendants(server.process.pid)
    os.kill(victim, signal.SIGKILL)
    thread.join(30)
    reply = outcome["reply"]
    assert reply.status == 500, reply
    error = reply.json()["error"]
    assert (error["kind"], error["type"]) == ("internal", "WorkerDied") and "SIGKILL" in error["message"]
    assert "Traceback" not in reply.body.decode()
    # The other worker answered all along, and the dead one was replaced.
    assert server.post("/v1/check?size=sora-2", PLAIN_JPEG).status == 200
    workers = server.wait_workers("idle", 2)
    assert victim not in {w["pid"] for w in workers}
    reply = server.post("/v1/frame?size=sora-2&faces=blur", FACE_JPEG)
    assert reply.status == 200 and decode(reply.body).size == (1280, 720)
    metrics = server.get("/metrics").body.decode()
    assert 'smartframe_worker_restarts_total{reason="died"} 1.0' in metrics


def test_sigterm_drains_the_requests_in_flight(slow_png):
    draining = Server("--workers", "2")
    try:
        workers = {w["pid"] for w in draining.workers()}
        replies = []

        def frame():
            replies.append(draining.post("/v1/frame?size=3840x2160", slow_png))

        threads = [threading.Thread(target=frame) for _ in range(2)]
        for thread in threads:
            thread.start()
        draining.wait_workers("busy", 2)
        draining.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # new connections are refused at once...
            try:
                socket.create_connection(("127.0.0.1", draining.port), timeout=0.5).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server still accepted connections 5 s after SIGTERM")
        for thread in threads:  # ...and the requests in flight are answered
            thread.join(60)
        assert [r.status for r in replies] == [200, 200], replies
        assert all(decode(r.body).size == (3840, 2160) for r in replies)
        assert draining.process.wait(60) == -signal.SIGTERM  # drained, then exits by the signal (uvicorn)
        assert not any(alive(pid) for pid in workers)
        assert "workers stopped" in draining.log()
    finally:
        draining.kill()


def test_a_server_whose_models_are_broken_does_not_start(tmp_path):
    from smartframe.analysis.model_files import model_directory

    for path in model_directory().iterdir():
        if path.is_file():
            data = path.read_bytes()
            (tmp_path / path.name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if path.suffix == ".onnx" else data)
    with pytest.raises(RuntimeError, match="exited") as failure:
        Server("--workers", "1", env={"SMARTFRAME_MODEL_DIR": str(tmp_path)}, start_timeout=60)
    assert "ModelError" in str(failure.value) or "checksum" in str(failure.value).lower()


def test_every_setting_has_a_flag_and_a_variable():
    from click.testing import CliRunner

    from smartframe.cli import main

    shown = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    for flag, variable in [("--host", "HOST"), ("--port", "PORT"), ("--workers", "WORKERS"),
                           ("--max-upload-bytes", "MAX_UPLOAD_BYTES"), ("--time-limit", "TIME_LIMIT"),
                           ("--queue", "QUEUE"), ("--token", "TOKEN"), ("--cors-origins", "CORS_ORIGINS"),
                           ("--max-pixels", "MAX_PIXELS")]:
        assert flag in shown and f"SMARTFRAME_{variable}" in shown, flag
    # Bad values are usage errors (exit 2) before anything starts, from a flag or a variable.
    assert CliRunner().invoke(main, ["serve", "--workers", "0"]).exit_code == 2
    assert CliRunner().invoke(main, ["serve"], env={"SMARTFRAME_TIME_LIMIT": "soon"}).exit_code == 2
    short = CliRunner().invoke(main, ["serve", "--token", "too-short"])
    assert short.exit_code == 2 and "token" in short.output
    assert "too-short" not in short.output  # a secret is never echoed
