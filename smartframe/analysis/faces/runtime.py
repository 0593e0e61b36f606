"""Running the face models: one onnxruntime session per verified model file.

onnxruntime runs YuNet about 1.7x faster end to end than ``cv2.FaceDetectorYN`` here and gives
the same faces (the face research of issue 11; ``tests/test_faces.py`` compares the two), and
that speed is what keeps ``check`` within its time budget.

Threads are set deliberately. A session uses ``threads`` intra-op threads (default 1, and
always 1 where :func:`~smartframe.native.second_thread_allowed` says no: a batch worker per
core); inter-op parallelism is off, and idle threads do not spin (on a shared machine a
spinning thread takes a core from someone else). ``InferenceSession.run`` is thread-safe, so
one session serves every thread of a process; a forked child must build its own (the
detector's process-wide instance does).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ...errors import ModelError
from ...native import second_thread_allowed
from ..model_files import ModelFile, import_onnxruntime, resolve

__all__ = ["Session"]


class Session:
    """An onnxruntime ``InferenceSession`` for one bundled model, with its output names.

    The file is verified (SHA-256, :func:`~smartframe.analysis.model_files.resolve`) before
    onnxruntime reads it; a missing or altered file raises :class:`ModelError`. ``prepare``, when
    given, turns the verified file's bytes into the model onnxruntime loads (CenterFace's declared
    input size is made free that way, see :mod:`.centerface`).
    """

    def __init__(self, model: ModelFile, model_dir: str | os.PathLike | None = None, *, threads: int = 1,
                 prepare: Callable[[bytes], bytes] | None = None):
        ort = import_onnxruntime()  # when the first detector is built (~0.2 s), telemetry off

        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        self.model = model
        self.path = resolve(model, model_dir)
        self.threads = threads if second_thread_allowed() else 1
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: its start-up notes are not ours to print
        source = str(self.path) if prepare is None else prepare(self.path.read_bytes())
        try:
            self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own (unexported) exception types
            raise ModelError(f"onnxruntime cannot load {self.path}: {error}") from error
        self.input_name = self._session.get_inputs()[0].name
        self.output_names = [o.name for o in self._session.get_outputs()]

    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        """The model's outputs for the float32 input ``blob``, by output name."""
        session = self._session
        if session is None:
            raise RuntimeError(f"the {self.model.name} session is closed")
        outputs = session.run(self.output_names, {self.input_name: blob})
        return dict(zip(self.output_names, outputs))

    def close(self) -> None:
        """Release the session (its memory goes with the last reference)."""
        self._session = None
