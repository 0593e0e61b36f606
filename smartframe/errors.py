"""The error hierarchy: one root, a few kinds, each with its command-line exit code.

Every error smartframe raises on purpose derives from :class:`SmartframeError`. The kinds
are what a caller branches on; the exit code is what the CLI returns for each kind:

====  =========================  ==================================================
code  kind                       meaning
====  =========================  ==================================================
0     --                         success (``check``: the image passes every rule)
1     --                         ``check`` found violations; ``batch`` had failures
2     :class:`OptionError`       bad usage: an option value that is not allowed
3     :class:`InputError`        the input cannot be read as an image (or breaks a
                                 limit: too many pixels, too many bytes)
4     :class:`ConstraintError`   the image was read but the request cannot be met
                                 (byte budget, faces refused, redaction failed)
5     :class:`ModelError`        a bundled model is missing or corrupt
6     :class:`ProcessingTimeout` an image took longer than the time limit
70    --                         an unexpected internal error (a bug; ``--debug``)
73    :class:`OutputError`       an output file cannot be written (sysexits EX_CANTCREAT)
130   --                         interrupted (Ctrl-C)
====  =========================  ==================================================

Messages name the input (when there is one) and say what was wrong, so the CLI can
print ``str(error)`` on one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = [
    "SmartframeError",
    "OptionError",
    "InputError",
    "ImageNotFoundError",
    "ImageReadError",
    "NotAnImageError",
    "CorruptImageError",
    "UnsupportedImageError",
    "ImageTooLargeError",
    "ConstraintError",
    "ByteBudgetError",
    "FacesFoundError",
    "RedactionError",
    "ModelError",
    "ProcessingTimeout",
    "OutputError",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "naming_the_source",
    "install_hint",
]

EXIT_OK = 0
EXIT_FAILED = 1  # check violations, or a batch in which some inputs failed
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE: a bug, not the user's fault
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class SmartframeError(Exception):
    """Root of every error smartframe raises on purpose.

    ``source`` names the input the error is about (a path, or ``"<bytes>"``), or is None.
    """

    exit_code = EXIT_INTERNAL
    kind = "error"

    def __init__(self, message: str, *, source: str | os.PathLike | None = None) -> None:
        self.message = message
        self.source = None if source is None else str(source)
        super().__init__(f"{self.source}: {message}" if self.source else message)

    def name_source(self, source: str | os.PathLike) -> None:
        """Set ``source`` when the error was raised without one (the code that raised it did
        not know the input), so ``str(error)`` reads ``"<source>: <message>"``."""
        if self.source is None:
            self.source = str(source)
            self.args = (f"{self.source}: {self.message}",)


@contextlib.contextmanager
def naming_the_source(source: str | os.PathLike) -> Iterator[None]:
    """Name ``source`` in every SmartframeError raised inside the block without one (a byte
    budget, a face refused, a redaction failed): the one-line message then names the input."""
    try:
        yield
    except SmartframeError as error:
        error.name_source(source)
        raise


class OptionError(SmartframeError, ValueError):
    """An option has a value that is not allowed. Names the option, the value and what is."""

    exit_code = 2
    kind = "usage"

    def __init__(self, field: str, value: object, allowed: str, *, message: str | None = None) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        # ``message``: the whole sentence, where "... is not allowed: <allowed>" would read
        # wrong (an output that would overwrite the input).
        super().__init__(message or f"{field}={value!r} is not allowed: {allowed}")


def install_hint(extra: str) -> str:
    """How to add an optional extra, in words that work: smartframe is installed from its
    checkout, so naming the package with the extra would look for it on PyPI and fail."""
    return f'pip install ".[{extra}]" in the smartframe checkout'


class InputError(SmartframeError):
    """The input cannot be read as an image, or it breaks a configured limit."""

    exit_code = 3
    kind = "input"


class ImageNotFoundError(InputError, FileNotFoundError):
    """The input path does not exist."""


class ImageReadError(InputError):
    """The input exists but cannot be read (permissions, a directory, an I/O error)."""


class NotAnImageError(InputError):
    """The bytes are not an image in any format smartframe reads."""


class CorruptImageError(InputError):
    """The file claims to be an image but its data is truncated or corrupt."""


class UnsupportedImageError(InputError):
    """A valid image in a mode or layout smartframe does not convert (named in the message)."""


class ImageTooLargeError(InputError):
    """The image declares more pixels, or the file has more bytes, than the configured limit.

    Raised from the header, before any pixel is decoded.
    """


class ConstraintError(SmartframeError):
    """The image was read, but the request cannot be met as asked."""

    exit_code = 4
    kind = "constraint"


class ByteBudgetError(ConstraintError):
    """No encoding setting brings the output under the byte limit."""


class FacesFoundError(ConstraintError):
    """The face policy is ``reject`` and the image shows identifiable faces."""

    def __init__(self, message: str, *, faces: tuple = (), source=None) -> None:
        self.faces = tuple(faces)
        super().__init__(message, source=source)


class RedactionError(ConstraintError):
    """Faces were still detected after redaction at the strongest setting, or the redaction
    would cover nearly all of the output (``coverage``, the share 0..1 it would cover; None
    for a face that survived)."""

    def __init__(self, message: str, *, coverage: float | None = None, source=None) -> None:
        self.coverage = coverage
        super().__init__(message, source=source)


class ModelError(SmartframeError):
    """A bundled model file is missing or does not match its recorded checksum."""

    exit_code = 5
    kind = "model"


class ProcessingTimeout(SmartframeError):
    """Framing one image took longer than the configured time limit (batch runs)."""

    exit_code = 6
    kind = "timeout"


class OutputError(SmartframeError, OSError):
    """An output file cannot be written: a missing folder, no permission, a full disk.

    Names the output path. Also an ``OSError``, which it translates. A batch run records it
    for the one item and goes on.
    """

    exit_code = 73  # sysexits.h EX_CANTCREAT: a (user specified) output file cannot be created
    kind = "output"
