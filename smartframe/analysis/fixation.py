"""Fixation: where people look, from the bundled fixation network.

A 133k-parameter fully convolutional CNN (the subject network's shape, started from its
weights) trained on human eye-tracking data: the fixation density of 15-16 viewers on about
2,100 photos of three public sets, MIT1003, OSIE and EyeCrowd
(``training/train_fixation_student.py``; data list, configuration and checksums in
``training/README.md``). Salient-object maps say where the objects are; this map says where
viewers' eyes go: heads, faces, eyes, text, the point of action. It ships as
``models/fixation_student.onnx``, verified by :mod:`~smartframe.analysis.model_files` before
it is loaded, and runs with OpenCV's ``cv2.dnn`` like the subject network.

Stage: an RGB image of the framing region -> the fixation map on the analysis grid.

* Preprocessing: the subject network's (:func:`~smartframe.analysis.subject.network_input`:
  :data:`~smartframe.analysis.subject.INPUT_SIDE` px on the longer side, sides multiples of 16,
  RGB / 255), so one input tensor serves both networks.
* Inference: a map at 1/4 of the input, float32; its scale means nothing (the training loss
  compares maps normalised to sum 1), only its shape.
* The map: resized to the analysis grid (the caller's ``grid_shape``, rows x cols, covering the
  same region) and min-max normalised to 0..1, indexed ``[row, col]`` as the classic map.

One network per process, built on first use, rebuilt in a forked child; calls are serialised
by a lock (a ``cv2.dnn`` net is not safe to run from two threads at once).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .model_files import ModelFile
from .subject import SubjectNetwork, grid_map, network_input

__all__ = ["FIXATION_MODEL", "get_network", "fixation_map"]

#: The fixation student, run at every smart framing next to the subject network.
FIXATION_MODEL = ModelFile("fixation network", "fixation_student.onnx",
                           "283f9da78aaab9b7c48f619da48ff0474582edfdb968c093ffbca1b47ce8fc11")

_network: tuple[int, SubjectNetwork] | None = None
_network_lock = threading.Lock()


def get_network() -> SubjectNetwork:
    """The process's fixation network (built and verified on first use; a forked child builds
    its own). Raises ModelError when the file is missing or not the pinned one."""
    global _network
    pid = os.getpid()
    with _network_lock:
        if _network is None or _network[0] != pid:
            _network = (pid, SubjectNetwork(model=FIXATION_MODEL))
        return _network[1]


def fixation_map(region_rgb: np.ndarray, grid_shape: tuple[int, int], *,
                 network: SubjectNetwork | None = None, tensor: np.ndarray | None = None) -> np.ndarray:
    """Where people look in ``region_rgb`` (the framing region, RGB uint8, any size), on a grid
    of ``grid_shape`` = (rows, cols) covering the same region: float32, 0..1 (all zeros when the
    network's output is flat). ``tensor``: ``network_input(region_rgb)`` when already made."""
    net = network if network is not None else get_network()
    return grid_map(net.run(tensor if tensor is not None else network_input(region_rgb)), grid_shape)
