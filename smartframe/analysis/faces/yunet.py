"""YuNet, the face model: its file, its input tensor and the decoding of its outputs.

YuNet-n (Wu, Peng & Yu 2023, libfacedetection.train; Apache-2.0, bundled as
``models/yunet_n_dynamic.onnx``, see ``models/PROVENANCE.md``) is a fully convolutional
detector of 75 856 parameters: it runs on an image of any size and finds faces from about
10 to several hundred of its input pixels. Per cell of its stride-8, 16 and 32 feature maps it
predicts a class and an objectness score, a box and five landmarks.

This module is pure NumPy/OpenCV and does what OpenCV's ``cv2.FaceDetectorYN``
(``modules/objdetect/src/face_detect.cpp``) does around the network, so that the two give the
same faces (``tests/test_faces.py`` compares them): the input is the BGR image as float32
0..255, NCHW, zero-padded at the bottom and right to a multiple of 32; a cell's score is
``sqrt(clip(cls) * clip(obj))``; its box centre is ``(cell + d) * stride`` and its size
``exp(d) * stride``; landmarks are ``(cell + d) * stride``; then non-maximum suppression on
the integer boxes. Everything is in the pixels of the array given to the network.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from ..model_files import ModelFile

__all__ = ["YUNET_N", "STRIDES", "Detections", "network_input", "decode", "suppress", "resized", "unturn_points"]

#: The bundled YuNet-n export with a dynamic input size (batch, 3, height, width).
YUNET_N = ModelFile("yunet-n", "yunet_n_dynamic.onnx",
                    "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12")
#: The network's output strides; the input is padded to a multiple of the largest.
STRIDES = (8, 16, 32)


class Detections(NamedTuple):
    """Faces found by one network run, in the pixels of the array it ran on.

    ``boxes`` (K, 4) float64 ``x0, y0, x1, y1`` (x1/y1 exclusive); ``landmarks`` (K, 5, 2) the
    subject's right eye, left eye, nose tip, right and left mouth corner as ``x, y``;
    ``scores`` (K,) 0..1. Best score first after :func:`suppress`.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0))

    def __len__(self) -> int:  # the number of faces, not the tuple's three fields
        return len(self.scores)

    def take(self, index) -> Detections:
        return Detections(self.boxes[index], self.landmarks[index], self.scores[index])

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same faces on another pixel grid (x times ``sx``, y times ``sy``)."""
        k = np.array([sx, sy, sx, sy])
        return Detections(self.boxes * k, self.landmarks * np.array([sx, sy]), self.scores)

    def shifted(self, dx: float, dy: float) -> Detections:
        return Detections(self.boxes + np.array([dx, dy, dx, dy]), self.landmarks + np.array([dx, dy]),
                          self.scores)

    def unturned(self, turns: int, width: int, height: int) -> Detections:
        """Faces found in ``np.rot90(image, turns)`` (``turns`` quarter turns counter-clockwise),
        in the pixels of ``image`` itself, a ``width x height`` array. Landmarks keep their
        order (the subject's right eye stays first); boxes stay the boxes of the same pixels."""
        return Detections(_unturn_boxes(self.boxes, turns, width, height),
                          unturn_points(self.landmarks, turns, width, height), self.scores)


def unturn_points(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Points ``(..., 2)`` as ``x, y`` in ``np.rot90(image, turns)`` -> the same points in
    ``image`` (``width x height``). Continuous pixel coordinates: a pixel's edges map to the
    other pixel's edges."""
    x, y = points[..., 0], points[..., 1]
    turns %= 4
    if turns == 0:
        return points.copy()
    if turns == 1:  # rot90 once: new[i, j] = old[j, W-1-i]
        ux, uy = width - y, x
    elif turns == 2:
        ux, uy = width - x, height - y
    else:  # new[i, j] = old[H-1-j, i]
        ux, uy = y, height - x
    return np.stack([ux, uy], axis=-1)


def _unturn_boxes(boxes: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    corners = unturn_points(boxes.reshape(-1, 2, 2), turns, width, height)
    return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).reshape(-1, 4)


def padded_size(width: int, height: int) -> tuple[int, int]:
    """The network input size for a ``width x height`` image: each side up to a multiple of 32."""
    step = STRIDES[-1]
    return -(-width // step) * step, -(-height // step) * step


def network_input(rgb_images: list[np.ndarray]) -> np.ndarray:
    """A (N, 3, H, W) float32 BGR 0..255 batch of same-sized RGB uint8 images, zero-padded at
    the bottom and right to a multiple of 32."""
    height, width = rgb_images[0].shape[:2]
    pw, ph = padded_size(width, height)
    blob = np.zeros((len(rgb_images), 3, ph, pw), np.float32)
    for i, rgb in enumerate(rgb_images):
        blob[i, :, :height, :width] = rgb[..., ::-1].transpose(2, 0, 1)  # RGB -> BGR planes
    return blob


def decode(outputs: dict[str, np.ndarray], input_size: tuple[int, int], index: int,
           score_floor: float) -> Detections:
    """The faces of batch element ``index`` scoring at least ``score_floor``, before NMS.

    ``outputs`` maps the network's output names (``cls_8`` ... ``kps_32``) to arrays of shape
    (batch, cells, channels); ``input_size`` is the padded (width, height) it ran on.
    """
    pw, _ = input_size
    parts = []
    for stride in STRIDES:
        cols = pw // stride
        cls = np.clip(outputs[f"cls_{stride}"][index, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"][index, :, 0], 0.0, 1.0)
        score = np.sqrt(cls * obj)
        cell = np.nonzero(score >= score_floor)[0]
        if not len(cell):
            continue
        cx_cell = (cell % cols).astype(np.float64)
        cy_cell = (cell // cols).astype(np.float64)
        bbox = outputs[f"bbox_{stride}"][index, cell].astype(np.float64)
        kps = outputs[f"kps_{stride}"][index, cell].astype(np.float64).reshape(-1, 5, 2)
        cx, cy = (cx_cell + bbox[:, 0]) * stride, (cy_cell + bbox[:, 1]) * stride
        half_w, half_h = np.exp(bbox[:, 2]) * stride / 2.0, np.exp(bbox[:, 3]) * stride / 2.0
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        landmarks = (np.stack([cx_cell, cy_cell], axis=1)[:, None, :] + kps) * stride
        parts.append(Detections(boxes, landmarks, score[cell].astype(np.float64)))
    if not parts:
        return Detections.empty()
    return Detections(*(np.concatenate(field) for field in zip(*parts)))


def suppress(found: Detections, score_floor: float, nms_iou: float, top_k: int = 5000) -> Detections:
    """Non-maximum suppression as ``cv2.FaceDetectorYN`` does it (``cv2.dnn.NMSBoxes`` on
    the boxes truncated to integers); the survivors, best score first."""
    if not len(found):
        return found
    x0, y0 = found.boxes[:, 0], found.boxes[:, 1]
    w, h = found.boxes[:, 2] - x0, found.boxes[:, 3] - y0
    # FaceDetectorYN builds Rect2i(int(x), int(y), int(w), int(h)) from float32 values
    rects = np.stack([x0, y0, w, h], axis=1).astype(np.float32).astype(np.int32)
    keep = cv2.dnn.NMSBoxes(rects.tolist(), found.scores.astype(np.float32).tolist(), score_floor, nms_iou,
                            top_k=top_k)
    return found.take(np.asarray(keep, int).reshape(-1))


def resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` resampled to ``width x height``: area-averaged when shrinking, linear when
    enlarging. A shrink by more than 2x first samples linearly to twice the size, then
    averages exact 2x2 blocks -- as INTER_AREA would, at a third of its cost at a non-integer
    ratio on a multi-megapixel image."""
    h, w = rgb.shape[:2]
    if (width, height) == (w, h):
        return rgb
    if width < w and height < h:
        if 2 * width < w and 2 * height < h:
            rgb = cv2.resize(rgb, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
