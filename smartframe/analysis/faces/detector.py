"""Face detection in three stages -- proposal, re-look, decision -- and the process-wide detector.

For an RGB image and ``min_size_px``, the smallest face that matters *in that image's pixels*
(20 px of the output for framing, of the target size for ``check``, converted by the caller):

1. **Proposal.** YuNet runs once on the whole image resized by
   ``scale = min(1, detector_px / min_size_px)`` so that the smallest face that matters is
   ``detector_px`` (15) detector pixels: below that YuNet's recall drops, above it the extra
   pixels only cost time (a 12 MP photo checked for 1280x720 is searched at 960x640). The
   resized image is capped at ``max_detector_mp`` (4 MP). Faces scoring ``proposal_floor``
   (0.3) or more survive NMS at ``nms_iou`` (0.3); those whose box is at least
   :data:`~.face.SIZE_MARGIN` x ``min_size_px`` are candidates. A *close-up pass* adds the
   faces YuNet finds on the whole image zoomed out ``closeup_zoom`` (1.5) times into a
   ``closeup_px`` (192) square with a black border: a face that fills or overflows the frame
   is missed at the image's own size and found there. Close-up candidates overlapping a
   proposal (IoU > 0.3) are dropped as duplicates.
   **Turned faces.** YuNet finds upright faces: a face lying on its side or upside down (a
   phone that lost its EXIF orientation, a person lying down, an acrobat) scores low or not at
   all. So the same search also runs on the image turned by 90, 180 and 270 degrees
   (:data:`TURNS`), at the scale where a face ``turned_min_factor`` (2) times the smallest one
   is ``detector_px`` -- a quarter of the upright search's pixels per turn, which is what
   keeps ``check``'s time -- and the close-up square is turned the same ways. Turned
   candidates (from 2 x 0.85 x ``min_size_px``) carry their ``turns`` and are re-looked
   turned; a face proposed in several orientations is kept once, the way it scored best.
2. **Re-look.** Each candidate (best proposal score first, at most ``max_relooks``) is cut out
   on a square window ``relook_zoom`` (3) times its size, centred on it (black outside the
   image), resized to ``relook_px`` (192) px -- the face then at ~64 px, YuNet's best range --
   turned as it was found, and YuNet runs again on all windows in one batch (a face larger
   than the image's shorter side is cut out ``closeup_zoom`` times its size instead). The best
   score of a face found there that overlaps the candidate (IoU > ``relook_iou``) is the
   candidate's score; 0 when none does. This is the verification: it separates faces from
   animal faces, toys and patterns, and it runs on the image the caller gave.
   **Second opinion.** CenterFace (:mod:`.centerface`, a larger network that scores
   differently) looks at the same window (``second_px``, 160) of each candidate whose answer
   it can change -- re-looked at ``second_low`` (0.4) or more but under the score needed, not
   already counted by the group rule; at most ``max_second`` (8) -- and its score counts on the
   re-look's scale with ``second_accept`` (0.75) worth 0.80 (:meth:`FaceDetector.consult`).
   When YuNet accepts no face at all, CenterFace also looks at the whole image at ``whole_px``
   (512) and a face it scores ``whole_accept`` (0.70) or more counts
   (:meth:`FaceDetector.look_whole`): large faces YuNet never proposes (heavy make-up, masks).
3. **Decision.** A face counts when its score is at least ``min_score`` (0.80 by default), or,
   with the *group rule*, when at least ``group_count`` (3) candidates of the image re-look at
   ``group_score`` (0.40) or more: faces come in groups, one dog's face does not. Grouped faces
   score ``group_accept`` (0.80) at least, and candidates past ``max_relooks`` count in a
   grouped image when their proposal scored ``unverified_group_score`` (0.6). The re-check
   after redaction turns the group rule off (blurred faces in a crowd corroborate each other)
   and uses a lower ``min_score``; CenterFace then also looks again at every covered place
   (:meth:`FaceDetector.look_again`).

Thresholds were chosen on the tune half of the research sets and are measured by
``benchmarks/faces.py``. CenterFace's were chosen by photo-grouped 5-fold cross-validation on
the tune half, upright and turned: the second opinion's thresholds are the ones that add no
face-free flag in any orientation (looser ones found 1-3 more photos in 100 and flagged 1-4
more face-free photos, dogs mostly). Boxes are in the pixel frame of the array given to the
detector, x1/y1 exclusive (they may extend past the border for faces cut by it); the
``*_source_faces`` helpers return source pixels after EXIF orientation. One detector per
process (:func:`get_detector`); a forked child builds its own; all are closed at exit.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
from dataclasses import dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np

from ...errors import OptionError
from .centerface import CenterFace
from .face import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, SIZE_MARGIN, Face, is_identifiable
from .runtime import Session
from .yunet import YUNET_N, Detections, decode, network_input, padded_size, resized, suppress

#: The quarter turns (counter-clockwise) searched besides upright: 90, 180 and 270 degrees.
TURNS = (1, 2, 3)

__all__ = ["TURNS", "DetectorSettings", "Candidate", "FaceDetector", "decide", "as_rgb_uint8", "get_detector",
           "close_all_detectors", "detect_faces", "detect_source_faces", "identifiable_faces"]


@dataclass(frozen=True)
class DetectorSettings:
    """How the detector searches, verifies and decides (see the module docstring)."""

    detector_px: float = 15.0
    max_detector_mp: float = 4.0
    proposal_floor: float = 0.3
    nms_iou: float = 0.3
    closeup_zoom: float = 1.5
    closeup_px: int = 192
    relook_zoom: float = 3.0
    relook_px: int = 192
    relook_floor: float = 0.2
    relook_iou: float = 0.3
    max_relooks: int = 32
    group_score: float = 0.40
    group_count: int = 3
    group_accept: float = DEFAULT_MIN_SCORE
    unverified_group_score: float = 0.6
    turned_min_factor: float = 2.0
    second_px: int = 160
    max_second: int = 8
    second_low: float = 0.4
    second_accept: float = 0.75
    whole_px: int = 512
    whole_accept: float = 0.7

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise OptionError(f.name, value, "a positive whole number")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise OptionError(f.name, value, "a positive number")
            elif f.name not in ("detector_px", "max_detector_mp", "relook_zoom", "closeup_zoom",
                                "turned_min_factor") and value > 1:
                raise OptionError(f.name, value, "a score or overlap in 0..1")


@dataclass(frozen=True)
class Candidate:
    """A proposal and the evidence about it, in the pixels of the image searched.

    ``proposal``: YuNet's score on the whole image; ``relook``: its score on the re-look window
    (None when it was not re-looked: past ``max_relooks``); ``turns``: the quarter turns
    (counter-clockwise) of the image in which it was proposed and re-looked (0: upright; the box
    and landmarks are always in the unturned image's pixels); ``second``: CenterFace's score on
    the same window (None when it was not asked).
    """

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    proposal: float
    relook: float | None
    turns: int = 0
    second: float | None = None

    @property
    def size(self) -> float:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate and normalise an input array to contiguous (H, W, 3) uint8 RGB (grey and RGBA
    are converted; other dtypes are refused rather than rescaled)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def decide(candidates: list[Candidate], *, min_score: float, group_rule: bool = True,
           settings: DetectorSettings = DetectorSettings()) -> list[Face]:
    """The faces among ``candidates`` (stage 3), best score first.

    A candidate counts when its re-look score is at least ``min_score``; with ``group_rule``,
    also when the image has at least ``settings.group_count`` candidates re-looking at
    ``settings.group_score`` or more and it is one of them (or was not re-looked and its
    proposal scored ``settings.unverified_group_score``): it then scores at least
    ``settings.group_accept``.
    """
    supported = sum(c.relook is not None and c.relook >= settings.group_score for c in candidates)
    grouped = group_rule and supported >= settings.group_count
    faces = []
    for c in candidates:
        score, source = (0.0 if c.relook is None else c.relook), "relook"
        if c.second is not None and c.relook is not None and c.relook >= settings.second_low:
            # CenterFace's score on the scale of the re-look's: second_accept counts as 0.80
            second = min(1.0, c.second - settings.second_accept + DEFAULT_MIN_SCORE)
            if second > score:
                score, source = second, "second"
        if grouped and score < settings.group_accept and (
                (c.relook is not None and c.relook >= settings.group_score)
                or (c.relook is None and c.proposal >= settings.unverified_group_score)):
            score, source = settings.group_accept, "group"
        if score >= min_score:
            faces.append(Face(*c.box, score, c.landmarks, source, c.turns))
    faces.sort(key=lambda f: -f.score)
    return faces


class FaceDetector:
    """YuNet proposes, YuNet re-looks, a rule decides (see the module docstring).

    ``model_dir`` overrides where the model file is found (a folder or the file itself; it is
    verified either way). ``threads``: onnxruntime's intra-op threads (held at 1 where a
    second thread is not allowed, see :mod:`.runtime`).
    """

    def __init__(self, settings: DetectorSettings = DetectorSettings(),
                 model_dir: str | os.PathLike | None = None, *, threads: int = 1):
        if not isinstance(settings, DetectorSettings):
            raise OptionError("settings", settings, "a DetectorSettings(...)")
        self.settings = settings
        self._session = Session(YUNET_N, model_dir, threads=threads)
        self._model_dir, self._threads = model_dir, threads
        self._centerface: CenterFace | None = None
        self._second_lock = threading.Lock()
        self._closed = False

    # -- stage 1: proposal -----------------------------------------------------------------
    def scale_for(self, width: int, height: int, min_size_px: float) -> float:
        """Detector pixels per image pixel for a ``width x height`` image in which faces of
        ``min_size_px`` matter: ``detector_px / min_size_px``, never above 1 (enlarging found
        no more faces and flagged more animals) nor above ``max_detector_mp``."""
        s = self.settings
        scale = min(1.0, s.detector_px / max(float(min_size_px), 1e-6))
        return min(scale, math.sqrt(s.max_detector_mp * 1e6 / (width * height)))

    def _proposals(self, images: list[np.ndarray], turns: tuple[int, ...]) -> list[Detections]:
        """YuNet on ``np.rot90(image, t)`` for each same-sized image and turn, one batch per
        shape; faces in each unturned image's pixels."""
        s = self.settings
        h, w = images[0].shape[:2]
        out: list[Detections] = [Detections.empty()] * len(turns)
        for odd in (False, True):  # a quarter turn swaps the sides: one batch per shape
            index = [i for i, t in enumerate(turns) if (t % 2 == 1) == odd]
            if not index:
                continue
            batch = [np.rot90(images[i], turns[i]) for i in index]  # views: network_input copies once
            bh, bw = batch[0].shape[:2]
            outputs = self._run(network_input(batch))
            for n, i in enumerate(index):
                found = suppress(decode(outputs, padded_size(bw, bh), n, s.proposal_floor), s.proposal_floor,
                                 s.nms_iou)
                out[i] = found.unturned(turns[i], w, h)
        return out

    def propose(self, rgb: np.ndarray, scale: float, turns: tuple[int, ...] = (0,)) -> list[Detections]:
        """YuNet on ``rgb`` resized by ``scale`` and turned by each of ``turns`` (quarter turns
        counter-clockwise); per turn the faces in ``rgb``'s pixels, best first."""
        h, w = rgb.shape[:2]
        dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
        small = resized(rgb, dw, dh)
        # the resize's exact scales, per axis
        return [found.scaled(w / dw, h / dh) for found in self._proposals([small] * len(turns), turns)]

    def propose_closeups(self, rgb: np.ndarray, turns: tuple[int, ...] = (0,)) -> list[Detections]:
        """YuNet on ``rgb`` zoomed out ``closeup_zoom`` times, centred in a ``closeup_px``
        square with a black border, turned by each of ``turns``; per turn the faces in ``rgb``'s
        pixels, best first."""
        s = self.settings
        h, w = rgb.shape[:2]
        k = s.closeup_px / (s.closeup_zoom * max(w, h))  # square pixels per image pixel
        dw, dh = max(1, round(w * k)), max(1, round(h * k))
        ox, oy = (s.closeup_px - dw) // 2, (s.closeup_px - dh) // 2
        square = np.zeros((s.closeup_px, s.closeup_px, 3), np.uint8)
        square[oy:oy + dh, ox:ox + dw] = resized(rgb, dw, dh)
        return [found.shifted(-ox, -oy).scaled(w / dw, h / dh)
                for found in self._proposals([square] * len(turns), turns)]

    # -- stage 2: re-look ------------------------------------------------------------------
    def relook(self, rgb: np.ndarray, boxes: np.ndarray, turns: np.ndarray | None = None) -> np.ndarray:
        """The re-look score (0..1) of each box (N, 4) of ``rgb``'s pixels: YuNet on a window
        ``relook_zoom`` times the box (``closeup_zoom`` for a box larger than the image's
        shorter side), centred on it, at ``relook_px``, turned by the box's ``turns`` (quarter
        turns counter-clockwise, default 0); all in one batch."""
        if not len(boxes):
            return np.zeros(0)
        s = self.settings
        turns = np.zeros(len(boxes), int) if turns is None else np.asarray(turns, int)
        tiles, frames = [], []
        for box, turn in zip(boxes, turns):
            tile, frame = self._window(rgb, box, s.relook_px)
            tiles.append(np.ascontiguousarray(np.rot90(tile, turn)))
            frames.append(frame)
        outputs = self._run(network_input(tiles))
        scores = np.zeros(len(boxes))
        for i, (box, turn, (ox, oy, k)) in enumerate(zip(boxes, turns, frames)):
            found = suppress(decode(outputs, (s.relook_px, s.relook_px), i, s.relook_floor),
                             s.relook_floor, s.nms_iou)
            if not len(found):
                continue
            # turned tile -> tile -> image pixels
            there = found.unturned(int(turn), s.relook_px, s.relook_px).scaled(k, k).shifted(ox, oy)
            overlap = _iou(box, there.boxes) > s.relook_iou
            if overlap.any():
                scores[i] = float(there.scores[overlap].max())
        return scores

    def second_opinion(self, rgb: np.ndarray, boxes: np.ndarray, turns: np.ndarray) -> np.ndarray:
        """CenterFace's score (0..1) of each box (N, 4) of ``rgb``'s pixels, on the re-look
        window (``relook_zoom`` times the box) at ``second_px``, turned as the box was found;
        the best CenterFace face overlapping the box (IoU > ``relook_iou``), 0 when none does."""
        if not len(boxes):
            return np.zeros(0)
        s = self.settings
        tiles, frames = [], []
        for box, turn in zip(boxes, turns):
            tile, frame = self._window(rgb, box, s.second_px)
            tiles.append(np.ascontiguousarray(np.rot90(tile, int(turn))))
            frames.append(frame)
        scores = np.zeros(len(boxes))
        for i, found in enumerate(self._second().run(tiles, s.relook_floor, s.nms_iou)):
            if not len(found):
                continue
            ox, oy, k = frames[i]
            there = found.unturned(int(turns[i]), s.second_px, s.second_px).scaled(k, k).shifted(ox, oy)
            overlap = _iou(boxes[i], there.boxes) > s.relook_iou
            if overlap.any():
                scores[i] = float(there.scores[overlap].max())
        return scores

    def _window(self, rgb: np.ndarray, box: np.ndarray, px: int) -> tuple[np.ndarray, tuple[float, float, float]]:
        """The ``px`` square window of ``box`` and its frame (ox, oy, k): image x = ox + tile x * k."""
        s = self.settings
        h, w = rgb.shape[:2]
        size = max(box[2] - box[0], box[3] - box[1])
        # a face larger than the frame: a 3x window would be mostly black border
        zoom = s.relook_zoom if size <= min(w, h) else s.closeup_zoom
        side = max(4, round(zoom * size))
        ox, oy = round((box[0] + box[2] - side) / 2), round((box[1] + box[3] - side) / 2)
        x0, y0, x1, y1 = max(0, ox), max(0, oy), min(w, ox + side), min(h, oy + side)
        if x1 <= x0 or y1 <= y0:  # not in the image at all (cannot happen for a proposal)
            return np.zeros((px, px, 3), np.uint8), (float(ox), float(oy), side / px)
        window, pads, span = rgb[y0:y1, x0:x1], [y0 - oy, oy + side - y1, x0 - ox, ox + side - x1], side
        step = side // (2 * px)
        if step > 1:
            # A large window (a close-up): shrink it by ``step`` first (cheaply, see resized), so
            # that neither the black border nor the final area resampling touches megapixels:
            # ~12 ms -> ~3 ms for a 700 px face in a 3 MP image.
            window = resized(window, max(1, round(window.shape[1] / step)), max(1, round(window.shape[0] / step)))
            span = round(side / step)
            pads = [round(pads[0] / step), 0, round(pads[2] / step), 0]
            pads[1] = max(0, span - pads[0] - window.shape[0])
            pads[3] = max(0, span - pads[2] - window.shape[1])
        if any(pads):  # black where the window leaves the image
            window = cv2.copyMakeBorder(window, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        window = window[:span, :span]
        shrink = span > px
        tile = cv2.resize(window, (px, px), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return tile, (float(ox), float(oy), side / px)

    # -- the stages together ---------------------------------------------------------------
    def candidates(self, rgb: np.ndarray, *, min_size_px: float = DEFAULT_MIN_SIZE_PX) -> list[Candidate]:
        """Stages 1 and 2: every proposal at least ``SIZE_MARGIN * min_size_px`` (turned ones:
        ``turned_min_factor`` times that) with its evidence, best proposal first (``rgb``'s
        pixels). A face proposed both upright and turned is kept once, the way it scored best."""
        if self._closed:
            raise RuntimeError("FaceDetector is closed")
        if not (isinstance(min_size_px, (int, float)) and math.isfinite(min_size_px) and min_size_px > 0):
            raise ValueError(f"min_size_px must be a positive number, got {min_size_px!r}")
        s = self.settings
        rgb = as_rgb_uint8(rgb)
        h, w = rgb.shape[:2]
        turned_min = s.turned_min_factor * min_size_px
        # Upright at the scale of the smallest face; turned at the (smaller) scale of turned_min,
        # from the upright search's image (resampling the source once).
        scale = self.scale_for(w, h, min_size_px)
        dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
        small = resized(rgb, dw, dh)
        proposals = self.propose(small, 1.0)
        # (relative to the upright scale, also where max_detector_mp caps both: a quarter of the
        # upright search's pixels per turn, whatever the cap)
        proposals += self.propose(small, 1.0 / s.turned_min_factor, TURNS)
        proposals = [found.scaled(w / dw, h / dh) for found in proposals]  # the resize's exact scales
        closeups = self.propose_closeups(rgb, (0,) + TURNS)
        parts, turns = [], []
        for turn, found, close in zip((0,) + TURNS, proposals, closeups):
            if len(close) and len(found):  # a close-up proposal already proposed at full scale
                close = close.take(np.array([i for i in range(len(close))
                                             if not (_iou(close.boxes[i], found.boxes) > s.nms_iou).any()], int))
            found = Detections(*(np.concatenate(pair) for pair in zip(found, close)))
            size = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
            found = found.take(np.nonzero(size >= SIZE_MARGIN * (turned_min if turn else min_size_px))[0])
            parts.append(found)
            turns.append(np.full(len(found), turn))
        found = Detections(*(np.concatenate(field) for field in zip(*parts)))
        turns = np.concatenate(turns)
        order = np.argsort(-found.scores, kind="stable")
        found, turns = found.take(order), turns[order]
        # One candidate per face. A turned proposal of a face also proposed upright is re-looked
        # only when the upright re-look falls short (on a 12 MP check that saves three close-up
        # windows); then the face keeps whichever way re-looked best.
        up = turns == 0
        duplicate = np.array([turn != 0 and up.any() and bool((_iou(box, found.boxes[up]) > s.nms_iou).any())
                              for box, turn in zip(found.boxes, turns)], bool).reshape(-1)
        relooks = np.full(len(found), np.nan)
        first = np.nonzero(~duplicate)[0][:s.max_relooks]
        relooks[first] = self.relook(rgb, found.boxes[first], turns[first])
        weak = up & ~(relooks >= DEFAULT_MIN_SCORE)  # not re-looked (NaN) counts as weak
        again = [i for i in np.nonzero(duplicate)[0]
                 if weak.any() and (_iou(found.boxes[i], found.boxes[weak]) > s.nms_iou).any()]
        if again:
            relooks[again] = self.relook(rgb, found.boxes[again], turns[again])
        kept: list[int] = []
        evidence = np.where(np.isnan(relooks), -1.0, relooks)
        for i in np.argsort(-evidence, kind="stable"):
            if duplicate[i] and np.isnan(relooks[i]):
                continue  # a turned copy of an upright face that re-looked well
            other_ways = [j for j in kept if turns[j] != turns[i]]
            if not other_ways or not (_iou(found.boxes[i], found.boxes[other_ways]) > s.nms_iou).any():
                kept.append(i)
        kept.sort()  # best proposal first
        return [Candidate(tuple(float(v) for v in found.boxes[i]),
                          tuple((float(x), float(y)) for x, y in found.landmarks[i]),
                          float(found.scores[i]), None if np.isnan(relooks[i]) else float(relooks[i]),
                          int(turns[i]))
                for i in kept]

    def consult(self, rgb: np.ndarray, candidates: list[Candidate], *, min_score: float,
                group_rule: bool = True) -> list[Candidate]:
        """``candidates`` with CenterFace's second opinion on those whose answer it can change:
        re-looked at ``second_low`` or more but under ``min_score``, and not already counted
        by the group rule; at most ``max_second`` of them, best re-look first."""
        s = self.settings
        grouped = group_rule and sum(c.relook is not None and c.relook >= s.group_score
                                     for c in candidates) >= s.group_count
        ask = [i for i, c in enumerate(candidates) if c.relook is not None and s.second_low <= c.relook < min_score
               and not (grouped and c.relook >= s.group_score)]
        ask = sorted(ask, key=lambda i: -candidates[i].relook)[:s.max_second]
        if not ask:
            return candidates
        rgb = as_rgb_uint8(rgb)
        scores = self.second_opinion(rgb, np.array([candidates[i].box for i in ask]),
                                     np.array([candidates[i].turns for i in ask]))
        out = list(candidates)
        for i, score in zip(ask, scores):
            out[i] = replace(out[i], second=float(score))
        return out

    def look_again(self, rgb: np.ndarray, faces: list[Face], *, min_score: float) -> list[Face]:
        """The faces of ``faces`` (boxes in ``rgb``'s pixels) that CenterFace still sees at their
        place, turned as each was found, at a score that counts at ``min_score`` (see
        :func:`decide`): after redaction, a cover that the second detector still takes for a
        face has failed even when YuNet no longer proposes it."""
        if not faces:
            return []
        s = self.settings
        scores = self.second_opinion(as_rgb_uint8(rgb), np.array([[f.x0, f.y0, f.x1, f.y1] for f in faces]),
                                     np.array([f.turns for f in faces]))
        need = min_score - DEFAULT_MIN_SCORE + s.second_accept
        return [replace(f, score=float(sc), source="second") for f, sc in zip(faces, scores) if sc >= need]

    def detect(self, rgb: np.ndarray, *, min_size_px: float = DEFAULT_MIN_SIZE_PX,
               min_score: float = DEFAULT_MIN_SCORE, group_rule: bool = True) -> list[Face]:
        """Faces in ``rgb`` (H, W, 3 uint8 RGB; grey and RGBA accepted), upright or turned,
        best first.

        ``min_size_px``: the smallest face that matters, in ``rgb``'s pixels; faces from
        ``SIZE_MARGIN * min_size_px`` on are reported (turned ones from ``turned_min_factor``
        times that). ``min_score``: the score a face needs (its re-look score, or the score
        CenterFace's second opinion gives it; grouped faces score at least 0.80).
        ``group_rule=False`` decides on each face's own score alone (the re-check after
        redaction).
        """
        rgb = as_rgb_uint8(rgb)
        found = self.consult(rgb, self.candidates(rgb, min_size_px=min_size_px), min_score=min_score,
                             group_rule=group_rule)
        faces = decide(found, min_score=min_score, group_rule=group_rule, settings=self.settings)
        return faces or self.look_whole(rgb, min_size_px=min_size_px, min_score=min_score)

    def look_whole(self, rgb: np.ndarray, *, min_size_px: float = DEFAULT_MIN_SIZE_PX,
                   min_score: float = DEFAULT_MIN_SCORE) -> list[Face]:
        """CenterFace on the whole image, its longer side shrunk to ``whole_px``: the faces it
        finds at ``whole_accept`` or more (counted on the re-look scale, as :func:`decide` counts
        the second opinion) whose box is at least ``SIZE_MARGIN * min_size_px``; best first, in
        ``rgb``'s pixels. :meth:`detect` asks it only when YuNet found no face: it catches large
        faces YuNet never proposes (heavy make-up, masks), at about 60 ms on one thread."""
        s = self.settings
        rgb = as_rgb_uint8(rgb)
        h, w = rgb.shape[:2]
        k = min(1.0, s.whole_px / max(w, h))
        dw, dh = max(1, round(w * k)), max(1, round(h * k))
        floor = min(1.0, max(s.relook_floor, min_score - DEFAULT_MIN_SCORE + s.whole_accept))
        found = self._second().run([resized(rgb, dw, dh)], floor, s.nms_iou)[0].scaled(w / dw, h / dh)
        faces = []
        for box, marks, score in zip(*found):
            counted = min(1.0, float(score) - s.whole_accept + DEFAULT_MIN_SCORE)
            if counted >= min_score and max(box[2] - box[0], box[3] - box[1]) >= SIZE_MARGIN * min_size_px:
                faces.append(Face(*(float(v) for v in box), counted,
                                  tuple((float(x), float(y)) for x, y in marks), "whole"))
        return faces

    def _second(self) -> CenterFace:
        """CenterFace, loaded (and verified) on first use: a detector that never needs a second
        opinion never reads its 7 MB."""
        with self._second_lock:
            if self._centerface is None:
                folder = self._model_dir
                if folder is not None and Path(folder).is_file():  # YuNet's file was given: its folder
                    folder = Path(folder).parent
                self._centerface = CenterFace(folder, threads=self._threads)
            return self._centerface

    def _run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        if self._closed:
            raise RuntimeError("FaceDetector is closed")
        return self._session.run(blob)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._session.close()
            if self._centerface is not None:
                self._centerface.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x0, y0, x1, y1`` box with each of ``boxes`` (N, 4)."""
    ix0, iy0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    ix1, iy1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


# --------------------------------------------------------------------------------------
# Process-wide detector
# --------------------------------------------------------------------------------------

_singleton: dict[DetectorSettings, tuple[int, FaceDetector]] = {}
_singleton_lock = threading.Lock()


def get_detector(settings: DetectorSettings = DetectorSettings()) -> FaceDetector:
    """The process's shared detector for ``settings`` (created on first use).

    Fork-aware: a child process gets its own instance (native sessions and their threads do
    not survive fork). Closed at interpreter exit.
    """
    pid = os.getpid()
    with _singleton_lock:
        hit = _singleton.get(settings)
        if hit is not None and hit[0] == pid and not hit[1]._closed:
            return hit[1]
        det = FaceDetector(settings)
        _singleton[settings] = (pid, det)
        return det


@atexit.register
def close_all_detectors() -> None:
    with _singleton_lock:
        items = list(_singleton.values())
        _singleton.clear()
    for pid, det in items:
        if pid == os.getpid():
            det.close()


def detect_faces(rgb: np.ndarray, *, min_size_px: float = DEFAULT_MIN_SIZE_PX,
                 min_score: float = DEFAULT_MIN_SCORE, group_rule: bool = True,
                 detector: FaceDetector | None = None) -> tuple[Face, ...]:
    """Faces in an RGB array, in its pixels, best first (see :meth:`FaceDetector.detect`),
    with the shared detector unless one is given."""
    det = detector if detector is not None else get_detector()
    return tuple(det.detect(rgb, min_size_px=min_size_px, min_score=min_score, group_rule=group_rule))


def detect_source_faces(pixels: np.ndarray, pixel_scale: tuple[float, float], *,
                        min_size_px: float = DEFAULT_MIN_SIZE_PX,
                        min_score: float = DEFAULT_MIN_SCORE) -> tuple[Face, ...]:
    """Faces in the upright image ``pixels`` (``pixel_scale`` = its pixels per source pixel
    along x and y, as a :class:`~smartframe.load.LoadedImage`'s working scale), in source
    pixels after EXIF orientation. ``min_size_px`` is the smallest face that matters in
    *source* pixels; the detector searches ``pixels`` at the matching scale."""
    sx, sy = pixel_scale
    working_min = max(1.0, min_size_px * min(sx, sy))
    found = detect_faces(pixels[..., :3], min_size_px=working_min, min_score=min_score)
    return tuple(face.scaled(1 / sx, 1 / sy) for face in found)


def identifiable_faces(loaded, *, min_face_px: float, min_face_score: float) -> tuple[Face, ...]:
    """The identifiable faces of a loaded image (:func:`~.face.is_identifiable`), with
    ``min_face_px`` in source pixels; boxes in source pixels after EXIF orientation."""
    return tuple(face for face in detect_source_faces(loaded.pixels, loaded.working_scale,
                                                      min_size_px=min_face_px, min_score=min_face_score)
                 if is_identifiable(face.size, face.score, min_face_px=min_face_px, min_face_score=min_face_score))
