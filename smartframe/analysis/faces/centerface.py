"""CenterFace, the second face model: its file, the graph made size-free, its input and decoding.

CenterFace (Xu et al. 2019, Star-Clouds/CenterFace; MIT, bundled byte-identical as
``models/centerface.onnx``, see ``models/PROVENANCE.md``) is an anchor-free detector of 1.8 M
parameters: per cell of a stride-4 map it predicts a face-centre heatmap, the face's height and
width (log, in units of 4 px), a sub-cell offset and five landmarks. It is slower than YuNet
(~100 ms at 640x480 on one thread against ~10 ms) and scores differently, which is what a second
opinion is for (see :mod:`.detector`).

**The graph's input size.** The published file declares a fixed 10x3x32x32 input (and 10x?x8x8
outputs); onnxruntime refuses any other shape and cannot be told to ignore declared dims. Every
layer is convolutional, so the file is run as published and only the *declared* shapes are
rewritten in memory before onnxruntime reads it: :func:`dynamic_input_model` replaces the batch,
height and width dims of the image input and of the four outputs with symbolic names. It edits
the protobuf wire format directly (a handful of nested length-delimited fields), so the ``onnx``
package is not needed, and the file on disk -- the one whose SHA-256 is verified -- stays the
published one.

Input: the BGR image as float32 0..255, NCHW, zero-padded at the bottom and right to a multiple
of 32 (:func:`~.yunet.network_input` makes exactly that). Outputs at stride 4, in the graph's
order: heatmap (N, 1, h, w) 0..1, scale (N, 2, h, w) as log(height / 4), log(width / 4),
offset (N, 2, h, w) as dy, dx in cells, landmarks (N, 10, h, w) as (dy, dx) pairs in units of the
box's height and width from its top-left corner. Decoding as the authors' ``centerface.py``
does; boxes in the pixels of the array given to the network.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import ModelError
from ..model_files import ModelFile
from .runtime import Session
from .yunet import Detections, network_input, suppress

__all__ = ["CENTERFACE", "STRIDE", "CenterFace", "dynamic_input_model", "decode"]

#: The bundled CenterFace file, as published (fixed 10x3x32x32 declared input).
CENTERFACE = ModelFile("centerface", "centerface.onnx",
                       "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc")
#: The output stride; the input is padded to a multiple of 32 (five stride-2 stages).
STRIDE = 4

# ModelProto.graph = 7; GraphProto.input = 11, .output = 12; ValueInfoProto.name = 1, .type = 2;
# TypeProto.tensor_type = 1; TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1;
# Dimension.dim_value = 1 (varint), .dim_param = 2 (string).
_GRAPH, _INPUT, _OUTPUT, _NAME, _TYPE, _TENSOR, _SHAPE, _DIM, _DIM_PARAM = 7, 11, 12, 1, 2, 1, 2, 1, 2
_IMAGE_INPUT = b"input.1"
_OUTPUTS = (b"537", b"538", b"539", b"540")  # heatmap, scale, offset, landmarks
_FREE_DIMS = {0: b"N", 2: b"H", 3: b"W"}  # NCHW: the channel count stays fixed


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ModelError("centerface: truncated protobuf varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes):
    """(field number, wire type, payload or None, the field's raw bytes) of a message."""
    i = 0
    while i < len(buf):
        key, j = _varint(buf, i)
        number, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, k = _varint(buf, j)
        elif wire == 1:
            k = j + 8
        elif wire == 5:
            k = j + 4
        elif wire == 2:
            length, j = _varint(buf, j)
            k = j + length
            payload = buf[j:k]
        else:
            raise ModelError(f"centerface: unsupported protobuf wire type {wire}")
        if k > len(buf):
            raise ModelError("centerface: truncated protobuf field")
        yield number, wire, payload, buf[i:k]
        i = k


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _rewrite(buf: bytes, number: int, edit) -> tuple[bytes, int]:
    """``buf`` with each length-delimited field ``number`` replaced by ``edit(payload)`` (None:
    kept as it is); and how many were replaced."""
    out, count = [], 0
    for num, wire, payload, raw in _fields(buf):
        new = edit(payload) if (num == number and wire == 2) else None
        if new is None:
            out.append(raw)
        else:
            out.append(_field(num, new))
            count += 1
    return b"".join(out), count


def _free_shape(shape: bytes) -> bytes:
    dims = [payload for num, wire, payload, _ in _fields(shape) if num == _DIM and wire == 2]
    if len(dims) != 4:
        raise ModelError(f"centerface: expected a 4-d declared shape, found {len(dims)} dims")
    out = [_field(_DIM, _field(_DIM_PARAM, _FREE_DIMS[i]) if i in _FREE_DIMS else dim)
           for i, dim in enumerate(dims)]
    return b"".join(out)


def dynamic_input_model(model: bytes) -> bytes:
    """The CenterFace model bytes with the image input and the four outputs declared as
    (N, C, H, W) with symbolic N, H and W instead of the published fixed 10x?x32x32 / 10x?x8x8.

    Only those declared shapes change (the weights and nodes are copied byte for byte). Raises
    :class:`~smartframe.errors.ModelError` if the graph does not have the expected input and
    outputs (a different file).
    """
    freed: list[bytes] = []

    def value_info(info: bytes) -> bytes | None:
        names = [payload for num, _, payload, _ in _fields(info) if num == _NAME]
        if not names or names[0] not in (_IMAGE_INPUT, *_OUTPUTS):
            return None  # the weights listed as graph inputs (opset 9 exports) stay as they are
        freed.append(names[0])
        tensor = lambda t: _rewrite(t, _SHAPE, _free_shape)[0]  # noqa: E731
        type_ = lambda t: _rewrite(t, _TENSOR, tensor)[0]  # noqa: E731
        return _rewrite(info, _TYPE, type_)[0]

    def graph(payload: bytes) -> bytes:
        payload = _rewrite(payload, _INPUT, value_info)[0]
        return _rewrite(payload, _OUTPUT, value_info)[0]

    out, graphs = _rewrite(model, _GRAPH, graph)
    missing = {_IMAGE_INPUT, *_OUTPUTS} - set(freed)
    if graphs != 1 or missing or len(freed) != 1 + len(_OUTPUTS):
        raise ModelError(f"centerface: not the expected graph (missing input/outputs {sorted(missing)})")
    return out


def decode(outputs: list[np.ndarray], index: int, score_floor: float) -> Detections:
    """The faces of batch element ``index`` whose heatmap peak is at least ``score_floor``,
    before non-maximum suppression, in the pixels of the (padded) network input.

    ``outputs``: the four arrays in the graph's order (heatmap, scale, offset, landmarks).
    """
    heatmap, scale, offset, marks = (o[index] for o in outputs)
    rows, cols = np.nonzero(heatmap[0] >= score_floor)
    if not len(rows):
        return Detections.empty()
    height = np.exp(scale[0, rows, cols].astype(np.float64)) * STRIDE
    width = np.exp(scale[1, rows, cols].astype(np.float64)) * STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    x0, y0 = cx - width / 2, cy - height / 2
    boxes = np.stack([x0, y0, x0 + width, y0 + height], axis=1)
    lm = marks[:, rows, cols].astype(np.float64).T.reshape(-1, 5, 2)  # (dy, dx) pairs
    landmarks = np.stack([x0[:, None] + lm[:, :, 1] * width[:, None],
                          y0[:, None] + lm[:, :, 0] * height[:, None]], axis=2)
    return Detections(boxes, landmarks, heatmap[0, rows, cols].astype(np.float64))


class CenterFace:
    """CenterFace on one onnxruntime session (the verified file, made size-free in memory).

    ``model_dir`` overrides where the file is found (a folder or the file itself; verified either
    way); ``threads`` as :class:`~.runtime.Session`.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, *, threads: int = 1):
        self._session = Session(CENTERFACE, model_dir, threads=threads, prepare=dynamic_input_model)

    def run(self, rgb_images: list[np.ndarray], score_floor: float, nms_iou: float = 0.3) -> list[Detections]:
        """The faces scoring ``score_floor`` or more in each of the same-sized RGB uint8
        ``rgb_images`` (one batch), after non-maximum suppression, best first, each in the pixels
        of its image."""
        outputs = self._session.run(network_input(rgb_images))
        ordered = [outputs[name] for name in self._session.output_names]
        return [suppress(decode(ordered, i, score_floor), score_floor, nms_iou) for i in range(len(rgb_images))]

    def close(self) -> None:
        self._session.close()
