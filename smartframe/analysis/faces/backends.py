"""Backends that run a BlazeFace model on prepared windows: OpenCV ``cv2.dnn`` and mediapipe.

* :class:`MediaPipeShortBackend` -- mediapipe Tasks ``FaceDetector`` with the short model
  (the only place mediapipe is imported, lazily);
* :class:`OpenCVBlazeFaceBackend` -- ``cv2.dnn.readNetFromTFLite`` (classic engine) for
  either model, with vectorised anchors, decoding and weighted NMS. It is also the
  fallback for the short model where no mediapipe wheel exists.

Both take :class:`~.windows.Prepared` tiles and return faces in input pixels.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence

import cv2
import numpy as np

from ...errors import ModelError
from ...native import captured_stderr
from ..model_files import resolve
from .blazeface import SHORT_RANGE, BlazeFaceModel, anchor_group_sizes, decode_detections, ssd_anchors, weighted_nms
from .face import DEFAULT_MIN_SCORE, Face
from .windows import Prepared, Pyramid, Window, as_rgb_uint8, letterbox_window, prepare_windows

log = logging.getLogger(__name__)

__all__ = ["Backend", "OpenCVBlazeFaceBackend", "MediaPipeShortBackend", "mediapipe_available"]


class Backend(ABC):
    """What both backends share.

    ``prepare`` renders square model tensors for windows of one image (cut from a
    per-call ``Pyramid``); ``run_each`` runs the model on them and returns each window's
    faces in input pixels (it touches no shared image state, so it may run on another
    thread). ``detect_windows`` combines both; ``detect`` is the one-shot convenience for a
    whole, letterboxed image.
    """

    name: str

    @abstractmethod
    def prepare(self, pyr: Pyramid, windows: Sequence[Window]) -> Prepared: ...

    @abstractmethod
    def run_each(self, prep: Prepared, *, min_score: float) -> list[list[Face]]: ...

    def run_merged(self, prep: Prepared, *, min_score: float) -> list[Face]:
        """All windows' faces; backends that cannot merge return them window by window."""
        return [f for fs in self.run_each(prep, min_score=min_score) for f in fs]

    @abstractmethod
    def close(self) -> None: ...

    def detect_windows(self, pyr: Pyramid, windows: Sequence[Window], *, min_score: float) -> list[Face]:
        """Faces of all windows in input pixels, merged across windows where the backend
        can (overlapping tiles see a face twice)."""
        return self.run_merged(self.prepare(pyr, windows), min_score=min_score)

    def detect(self, rgb: np.ndarray, *, min_score: float = DEFAULT_MIN_SCORE) -> list[Face]:
        """Faces in a whole image, letterboxed into one model input."""
        pyr = Pyramid(as_rgb_uint8(rgb))
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
        spec: BlazeFaceModel,
        model_dir: str | os.PathLike | None = None,
        *,
        nms_iou: float = 0.3,
        score_floor: float = 0.3,
    ):
        self.spec = spec
        self.name = f"opencv-{spec.name}"
        self.path = resolve(spec.file, model_dir)
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

    def prepare(self, pyr: Pyramid, windows: Sequence[Window]) -> Prepared:
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
        self.path = resolve(SHORT_RANGE.file, model_dir)
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

    def prepare(self, pyr: Pyramid, windows: Sequence[Window]) -> Prepared:
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

