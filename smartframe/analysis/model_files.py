"""Bundled model files: where they are, and proof that each is the file it claims to be.

Every model smartframe runs ships in the ``smartframe.models`` package (the top-level
``models/`` folder of a source checkout), listed in ``models/SHA256SUMS`` with its licence
and source in ``models/PROVENANCE.md``. Nothing is downloaded at run time. Before a model is
loaded, :func:`resolve` checks the file's SHA-256 against the digest pinned in its
:class:`ModelFile`; a missing or different file raises
:class:`~smartframe.errors.ModelError` (exit code 5) instead of running an unknown network.

One loader serves every model (faces and subject), so the rules above hold for all of them.
:func:`import_onnxruntime` is the one way in to onnxruntime, which runs them: it turns off
onnxruntime's telemetry (from 1.29 on Linux and macOS it uploads usage events to Microsoft and
writes a device id under ``~/.cache`` and a session file in the temporary folder unless
``ORT_DISABLE_TELEMETRY=1`` is set before onnxruntime is first imported).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ModelError

__all__ = ["ModelFile", "model_directory", "sha256_file", "resolve", "import_onnxruntime"]


@dataclass(frozen=True)
class ModelFile:
    """A bundled model file: a short ``name`` for messages, its ``filename`` in the model
    folder and the ``sha256`` hex digest it must have."""

    name: str
    filename: str
    sha256: str


def model_directory() -> Path:
    """Where the bundled models are: ``$SMARTFRAME_MODEL_DIR`` when set, else the installed
    ``smartframe.models`` package, else the ``models/`` folder of a source checkout.

    The last case matters because ``python -m pytest`` run from the checkout imports the
    ``smartframe/`` source folder ahead of the installed copy, and the models are installed
    from the top-level ``models/`` folder (see ``package-dir`` in pyproject.toml).
    """
    override = os.environ.get("SMARTFRAME_MODEL_DIR")
    if override:
        return Path(override)
    if importlib.util.find_spec("smartframe.models") is not None:
        return Path(str(resources.files("smartframe.models")))
    return Path(__file__).resolve().parents[2] / "models"


# Digests of files already verified in this process, keyed by (path, size, mtime): a model
# is hashed once per process, not once per detector or session.
_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(model: ModelFile, model_dir: str | os.PathLike | None = None) -> Path:
    """The path of ``model``'s file, after verifying its SHA-256.

    ``model_dir`` may be a folder holding ``model.filename`` or the model file itself;
    by default :func:`model_directory`. Raises :class:`~smartframe.errors.ModelError`
    when the file is missing or its digest does not match (a corrupt file, or another
    version of the model).
    """
    if model_dir is not None and Path(model_dir).is_file():
        path = Path(model_dir)
    else:
        path = (Path(model_dir) if model_dir is not None else model_directory()) / model.filename
    if not path.is_file():
        raise ModelError(f"model {model.name!r} ({model.filename}) not found; looked in: {path}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        digest = _verified.get(key)
    if digest is None:
        digest = sha256_file(path)
    if digest != model.sha256:
        raise ModelError(
            f"model {model.name!r} at {path} has SHA-256 {digest}, expected {model.sha256}; "
            f"the file is corrupt or a different model version - replace it with the pinned "
            f"{model.filename}"
        )
    with _verified_lock:
        _verified[key] = digest
    return path


def import_onnxruntime():
    """The ``onnxruntime`` module, imported with its telemetry off.

    smartframe never talks to the network, so ``ORT_DISABLE_TELEMETRY`` defaults to 1 (a value
    the caller set is kept). onnxruntime reads the switch when it is first imported: if it was
    imported earlier without it, a warning says so (once).
    """
    global _warned
    if "onnxruntime" in sys.modules and "ORT_DISABLE_TELEMETRY" not in os.environ and not _warned:
        _warned = True
        logging.getLogger(__name__).warning(
            "onnxruntime was imported before smartframe could turn its telemetry off; set "
            "ORT_DISABLE_TELEMETRY=1 in the environment to keep it from reporting usage")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


_warned = False
