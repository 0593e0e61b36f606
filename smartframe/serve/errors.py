"""HTTP statuses for the library's error kinds, and the JSON body every error answer has.

Every error answer is ``{"error": {"kind": ..., "type": ..., "message": ...}}``: ``kind`` is the
library's kind (``usage``, ``input``, ``constraint``, ``model``, ``timeout``, ``output``) or one
of the server's own (``overload``, ``unauthorized``, ``not_found``, ``method``, ``internal``);
``type`` is the error class. The status is chosen by class, most specific first, so a new
subclass of a kind gets its kind's status without a change here.
"""

from __future__ import annotations

from ..errors import (
    ConstraintError,
    FacesFoundError,
    ImageTooLargeError,
    InputError,
    ModelError,
    NotAnImageError,
    OptionError,
    OutputError,
    ProcessingTimeout,
    SmartframeError,
    UnsupportedImageError,
)

__all__ = ["ApiError", "STATUS_BY_CLASS", "status_for", "from_library", "internal_error"]

#: (class, HTTP status), most specific first; the first class the error is an instance of wins.
STATUS_BY_CLASS: tuple[tuple[type[SmartframeError], int], ...] = (
    (NotAnImageError, 415),  # Unsupported Media Type: not a format smartframe reads
    (UnsupportedImageError, 415),  # a valid image in a layout that cannot be decoded
    (ImageTooLargeError, 413),  # Content Too Large: a limit, checked from the header
    (InputError, 422),  # corrupt or truncated data: the request was understood, the image is bad
    (OptionError, 400),  # a bad option value: the request itself is wrong
    (ConstraintError, 422),  # the image was read but the request cannot be met (faces, bytes)
    (ProcessingTimeout, 504),
    (ModelError, 500),  # the server's bundled models are missing or corrupt
    (OutputError, 500),
    (SmartframeError, 500),
)


class ApiError(Exception):
    """An answer that is an error: status, the JSON body's fields, and extra headers."""

    def __init__(self, status: int, kind: str, type_: str, message: str, *,
                 headers: dict[str, str] | None = None, detail: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.type = type_
        self.message = message
        self.headers = dict(headers or {})
        self.detail = dict(detail or {})

    def body(self) -> dict:
        return {"error": {"kind": self.kind, "type": self.type, "message": self.message, **self.detail}}


def status_for(error: SmartframeError) -> int:
    for cls, status in STATUS_BY_CLASS:
        if isinstance(error, cls):
            return status
    return 500


def from_library(error: SmartframeError) -> ApiError:
    """The answer for one of the library's errors: its kind, class and message (the message
    without the source prefix: the source is the upload)."""
    detail = {}
    if isinstance(error, OptionError):
        detail["option"] = error.field
    if isinstance(error, FacesFoundError):
        detail["faces"] = error.faces_to_dict()  # box: source pixels; output_box: output pixels
    return ApiError(status_for(error), error.kind, type(error).__name__, error.message, detail=detail)


def internal_error(request_id: str) -> ApiError:
    """An unexpected error (a bug): no traceback to the client; the log has it, under the id."""
    return ApiError(500, "internal", "InternalError",
                    f"an unexpected error in the server; its log has the details under request id {request_id}")
