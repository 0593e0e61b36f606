"""Reading an upload: in memory only, refused as soon as it passes the limit or the deadline.

The body is read as it streams in, so a 2 GB upload is refused after ``limit`` bytes, not read
to its end; a declared ``Content-Length`` above the limit is refused before any byte is read.
Every refusal closes the connection (``Connection: close``, added by the app's middleware to any
answer given before the body was read): otherwise the HTTP server would go on reading, and
discarding, whatever the client still sends. Nothing is written to disk: a
multipart form is parsed from memory (Starlette's own form parser spools files to disk).
"""

from __future__ import annotations

import asyncio
import time

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .errors import ApiError

__all__ = ["read_upload", "image_from_form", "FORM_FIELD"]

#: The multipart form field that holds the image.
FORM_FIELD = "image"


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "input", "UploadTooLarge", f"{what}; this server accepts at most {limit} bytes")


async def read_upload(request: Request, limit: int, deadline: float) -> bytes | bytearray:
    """The image bytes of ``request``: its body, or the ``image`` field of a multipart form.

    The body is returned as the buffer it was read into (no copy): at most ``limit`` bytes are
    held per admitted request, plus the image's copy while a form is parsed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "usage", "BadRequest", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit, f"the body declares {int(declared)} bytes")
    buffer = bytearray()

    async def consume() -> None:
        async for chunk in request.stream():
            if len(buffer) + len(chunk) > limit:
                raise _too_large(limit, f"the body is larger than {limit} bytes")
            buffer.extend(chunk)

    try:
        await asyncio.wait_for(consume(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        raise ApiError(408, "timeout", "UploadTimeout", f"the upload did not arrive within the time "
                       f"limit ({len(buffer)} bytes had arrived)") from None
    except ClientDisconnect:
        raise ApiError(400, "usage", "ClientDisconnect",
                       "the client closed the connection during the upload") from None
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return image_from_form(buffer, content_type)
    return buffer  # an empty body is the library's to refuse, as an empty file is


def image_from_form(body: bytes | bytearray, content_type: str) -> bytes:
    """The bytes of the form's one ``image`` field; any other field is a usage error (400)."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "usage", "BadForm", "a multipart form needs a boundary in its Content-Type")
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header = {"field": b"", "value": b""}

    def on_part_begin() -> None:
        parts.append(({}, bytearray()))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1][0][header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # noqa: BLE001 -- python-multipart's parse errors have no common base
        raise ApiError(400, "usage", "BadForm", f"the multipart form cannot be parsed ({error})") from None
    return _the_image_part(parts)


def _the_image_part(parts: list[tuple[dict[bytes, bytes], bytearray]]) -> bytes:
    """The one ``image`` part of a parsed form. Any other field is refused, naming it: the
    options are query parameters, and a field the server would not read must not pass silently
    (nor a second ``image``, as a repeated query parameter is refused)."""
    found: list[bytearray] = []
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name != FORM_FIELD:
            what = "a file" if b"filename" in disposition else "a field"
            raise ApiError(400, "usage", "BadForm", f"the form has {what} named {name!r}: this server reads "
                           f"only the image, in a field named '{FORM_FIELD}' (options are query "
                           "parameters: ?size=...)")
        found.append(data)
    if len(found) > 1:
        raise ApiError(400, "usage", "BadForm", f"the form has {len(found)} fields named '{FORM_FIELD}': "
                       "send one image per request")
    if not found or not found[0]:
        raise ApiError(400, "usage", "NoImage", f"the form has no image: send it in a field named '{FORM_FIELD}'")
    return bytes(found[0])
