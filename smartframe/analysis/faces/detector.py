"""The combined face detector, the process-wide instance, and the source-pixel helpers.

:class:`FaceDetector` combines the backends (measurements in ``benchmarks/README.md``):

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
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...errors import ModelError
from ...native import second_thread_allowed
from . import backends
from .backends import MediaPipeShortBackend, OpenCVBlazeFaceBackend
from .blazeface import FULL_RANGE, SHORT_RANGE, box_iou
from .face import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, Face
from .windows import Pyramid, Window, as_rgb_uint8

__all__ = ["MODEL_MIN_FACE_PX", "DetectionPlan", "plan_windows", "Candidate", "FaceDetector",
           "merge_faces", "default_backend", "get_detector", "close_all_detectors", "detect_faces",
           "detect_source_faces", "identifiable_faces"]



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
        use_mp = backend == "mediapipe" or (backend == "auto" and backends.mediapipe_available())
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
        pyr = Pyramid(rgb)
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