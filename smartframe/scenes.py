"""Synthetic scenes: images smartframe makes itself, for the demo, the notebook and tests.

Every scene is deterministic for a given seed and returned as an HxWx3 uint8 RGB array,
together with the box of its subject in pixels (x0, y0, x1, y1; x1/y1 exclusive).
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import Box

__all__ = ["landscape_with_subject", "draw_face", "face_scene"]


def landscape_with_subject(width: int = 1600, height: int = 1000, *, subject_x: float = 0.25,
                           subject_y: float = 0.55, subject_size: float = 0.22,
                           seed: int = 0) -> tuple[np.ndarray, Box]:
    """A soft sky-and-ground scene with one bright, textured subject (a red-orange disc with a
    white ring) centred at (``subject_x``, ``subject_y``) fractions of the image, of diameter
    ``subject_size`` times the shorter side. Returns the image and the subject's box."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    sky = np.array([150, 185, 225], np.float32)
    horizon = np.array([215, 225, 235], np.float32)
    ground = np.array([95, 120, 80], np.float32)
    top = sky + (horizon - sky) * (rows / 0.6)
    bottom = horizon * 0.3 + ground * 0.7 + (ground - horizon) * 0.2 * ((rows - 0.6) / 0.4)
    column = np.where(rows < 0.6, top, bottom)  # H x 3
    image = np.repeat(column[:, None, :], width, axis=1)
    image += rng.normal(0.0, 4.0, size=(height, width, 1)).astype(np.float32)  # film grain
    image = np.clip(image, 0, 255).astype(np.uint8)
    centre = (int(round(subject_x * width)), int(round(subject_y * height)))
    radius = max(2, int(round(subject_size * min(width, height) / 2)))
    cv2.circle(image, centre, radius, (235, 80, 40), thickness=-1, lineType=cv2.LINE_AA)
    cv2.circle(image, centre, max(1, radius * 2 // 3), (250, 245, 235), thickness=max(1, radius // 8),
               lineType=cv2.LINE_AA)
    cv2.circle(image, centre, max(1, radius // 4), (40, 30, 120), thickness=-1, lineType=cv2.LINE_AA)
    box = Box(max(0, centre[0] - radius), max(0, centre[1] - radius),
              min(width, centre[0] + radius + 1), min(height, centre[1] + radius + 1))
    return image, box


#: Colours of the drawn face (RGB).
_SKIN = np.array((224, 176, 142), np.float32)
_HAIR = np.array((58, 40, 30), np.float32)
_IRIS = np.array((92, 62, 40), np.float32)
_SHIRT = np.array((122, 58, 68), np.float32)


class _Painter:
    """Soft-edged shapes composited onto a region of an image, in *face units*: ``u`` to the
    right and ``v`` down from the face centre, 1 = the face's width. Each shape is computed
    only on the pixels of its own bounding box, so a 600 px face draws in a fraction of a
    second."""

    def __init__(self, canvas: np.ndarray, origin: tuple[int, int], cx: float, cy: float, size: float):
        self.canvas = canvas  # float32 H x W x 3, the region being drawn
        self.ox, self.oy = origin  # image pixel of canvas[0, 0]
        self.cx, self.cy, self.size = cx, cy, size
        # the width of an edge ramp: one pixel, but never sharper than 0.6% of the face
        self.edge = max(1.2 / size, 0.006)

    def grid(self, u0: float, v0: float, u1: float, v1: float):
        """Face coordinates of the canvas pixels inside the box (u0, v0)-(u1, v1), and the
        canvas slice they are at (None when the box misses the canvas)."""
        h, w = self.canvas.shape[:2]
        x0 = max(0, int(np.floor(self.cx + u0 * self.size)) - self.ox)
        x1 = min(w, int(np.ceil(self.cx + u1 * self.size)) + 1 - self.ox)
        y0 = max(0, int(np.floor(self.cy + v0 * self.size)) - self.oy)
        y1 = min(h, int(np.ceil(self.cy + v1 * self.size)) + 1 - self.oy)
        if x1 <= x0 or y1 <= y0:
            return None
        u = (np.arange(x0, x1, dtype=np.float32) + self.ox + 0.5 - self.cx) / self.size
        v = (np.arange(y0, y1, dtype=np.float32) + self.oy + 0.5 - self.cy) / self.size
        return u[None, :], v[:, None], (slice(y0, y1), slice(x0, x1))

    def blend(self, where, alpha: np.ndarray, colour) -> None:
        """Composite ``colour`` (RGB, or an H x W x 3 array) with ``alpha`` 0..1 over the slice."""
        region = self.canvas[where]
        a = np.clip(alpha, 0.0, 1.0)[..., None]
        region *= 1.0 - a
        region += a * np.asarray(colour, np.float32)

    def ellipse(self, cu: float, cv: float, ru: float, rv: float, colour, opacity: float = 1.0,
                softness: float | None = None, part=None) -> None:
        """An ellipse centred at (cu, cv) with radii (ru, rv); ``softness`` widens its edge
        ramp (face units); ``part(u, v)`` may mask it (a 0..1 array)."""
        ramp = max(self.edge, softness or 0.0)
        reach = 1.0 + 0.5 * ramp / min(ru, rv)  # the ramp's outer end, in radii
        got = self.grid(cu - ru * reach, cv - rv * reach, cu + ru * reach, cv + rv * reach)
        if got is None:
            return
        u, v, where = got
        distance = np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2)
        alpha = np.clip(0.5 + (1.0 - distance) * min(ru, rv) / ramp, 0.0, 1.0) * opacity
        if part is not None:
            alpha = alpha * part(u, v)
        self.blend(where, alpha, colour)

    def step(self, x: np.ndarray) -> np.ndarray:
        """A smooth 0 -> 1 step at x = 0 (x in face units), one edge ramp wide."""
        return np.clip(0.5 + x / self.edge, 0.0, 1.0)


def draw_face(image: np.ndarray, cx: float, cy: float, size: float) -> None:
    """Draw a face ``size`` pixels wide centred at (``cx``, ``cy``), in place.

    A shaded head and shoulders -- skin darker towards the rim and lit from the upper left,
    eyes with whites, irises, pupils, highlights and lids in shaded sockets, brows, a nose
    with a lit bridge and nostrils, two-tone lips, ears, hair and a fringe, a neck and a shirt
    -- so that the face detector finds it confidently (re-look score about 0.9 from 24 to
    1000 px, cut by the border or filling the frame; ``tests/test_faces.py``) on pictures
    nobody owns. The face oval is ``size`` wide and 1.24 ``size`` tall; the hair reaches
    0.82 ``size`` above the centre, the shoulders 2.1 ``size`` below and ``size`` to each
    side. ``image`` is an RGB uint8 array the caller owns; what falls outside it is clipped.
    """
    s = float(size)
    h, w = image.shape[:2]
    x0, x1 = max(0, int(np.floor(cx - 1.05 * s))), min(w, int(np.ceil(cx + 1.05 * s)))
    y0, y1 = max(0, int(np.floor(cy - 0.9 * s))), min(h, int(np.ceil(cy + 2.15 * s)))
    if x1 <= x0 or y1 <= y0:
        return
    canvas = image[y0:y1, x0:x1, :3].astype(np.float32)
    paint = _Painter(canvas, (x0, y0), cx, cy, s)

    paint.ellipse(0.0, -0.1, 0.6, 0.72, _HAIR)  # hair behind the head
    _neck_and_shoulders(paint)
    for side in (-1, 1):
        paint.ellipse(side * 0.49, 0.02, 0.075, 0.13, _SKIN * 0.85)  # ears
    _face_oval(paint)
    _fringe(paint)
    for side in (-1, 1):
        paint.ellipse(side * 0.19, -0.1, 0.15, 0.09, _SKIN * 0.6, 0.5, softness=0.08)  # eye socket
        _brow(paint, side)
        _eye(paint, side * 0.19, -0.1)
    _nose(paint)
    _mouth(paint)
    image[y0:y1, x0:x1, :3] = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _neck_and_shoulders(paint: _Painter) -> None:
    got = paint.grid(-0.2, 0.3, 0.2, 1.25)
    if got is not None:
        u, v, where = got
        shade = 0.7 + 0.08 * np.clip((v - 0.5) / 0.5, 0, 1)  # the chin's shadow fades downwards
        paint.blend(where, paint.step(0.19 - np.abs(u)) * paint.step(v - 0.35), _SKIN * shade[..., None])
    got = paint.grid(-1.0, 0.86, 1.0, 2.14)
    if got is not None:
        u, v, where = got
        inside = paint.step((1.0 - np.sqrt(u ** 2 + ((v - 1.5) / 0.64) ** 2)) * 0.64)
        v_neck = paint.step(np.abs(u) - (0.2 - 0.55 * (v - 0.86)))
        shade = 1.0 - 0.25 * np.clip(np.abs(u), 0, 1)
        paint.blend(where, inside * v_neck, _SHIRT * shade[..., None])


def _face_oval(paint: _Painter) -> None:
    """An egg, narrower at the chin, darker towards its rim and lit from the upper left."""
    got = paint.grid(-0.52, -0.64, 0.52, 0.64)
    if got is None:
        return
    u, v, where = got
    half_width = 0.5 * (1.0 - 0.22 * np.clip(v / 0.62, 0, 1) ** 2)
    d = np.sqrt((u / half_width) ** 2 + (v / 0.62) ** 2)
    shade = 1.0 - 0.45 * np.clip(d, 0, 1) ** 3 + 0.06 * (-u - v)
    paint.blend(where, np.clip(0.5 + (1 - d) * 0.45 / paint.edge, 0, 1), _SKIN * shade[..., None])
    # cheekbones, shaded below; a highlight down the bridge of the nose
    for side in (-1, 1):
        paint.ellipse(side * 0.3, 0.12, 0.12, 0.1, _SKIN * 0.7, 0.25, softness=0.1)
    got = paint.grid(-0.04, -0.06, 0.04, 0.12)
    if got is not None:
        u, v, where = got
        paint.blend(where, 0.3 * np.clip(0.5 + (0.018 - np.abs(u + 0.005)) / 0.02, 0, 1) * np.ones_like(v),
                    _SKIN * 1.15)


def _fringe(paint: _Painter) -> None:
    """Hair over the forehead, down to a wavy line."""
    got = paint.grid(-0.6, -0.82, 0.6, -0.1)
    if got is None:
        return
    u, v, where = got
    head = np.clip(0.5 + (1 - np.sqrt((u / 0.6) ** 2 + ((v + 0.1) / 0.72) ** 2)) * 0.6 / paint.edge, 0, 1)
    line = -0.36 + 0.05 * np.cos(u * 9.0) + 0.12 * (u / 0.5) ** 2
    paint.blend(where, head * paint.step(line - v), _HAIR)


def _brow(paint: _Painter, side: int) -> None:
    """A thick arc over the eye, tapering outwards."""
    got = paint.grid(min(side * 0.07, side * 0.34), -0.32, max(side * 0.07, side * 0.34), -0.13)
    if got is None:
        return
    u, v, where = got
    t = np.clip((side * u - 0.07) / 0.27, 0, 1)
    centre = -0.215 - 0.05 * np.sin(np.pi * t) + 0.02 * t
    inside = (side * u > 0.07) & (side * u < 0.34)
    paint.blend(where, paint.step(0.035 * (1 - 0.5 * t) / 2 - np.abs(v - centre)) * inside, _HAIR * 0.9)


def _eye(paint: _Painter, eu: float, ev: float) -> None:
    """White almond, iris, pupil, a highlight and the upper lid."""
    half_w, half_h, iris_r = 0.11, 0.05, 0.047
    got = paint.grid(eu - 0.15, ev - 0.1, eu + 0.15, ev + 0.1)
    if got is None:
        return
    u, v, where = got

    def almond(uu, vv):
        d = np.sqrt(((uu - eu) / half_w) ** 2 + ((vv - ev) / half_h) ** 2)
        return np.clip(0.5 + (1 - d) * half_h / paint.edge, 0, 1)

    paint.blend(where, almond(u, v), (238, 236, 230))
    # iris, pupil and highlight stay inside the almond
    paint.ellipse(eu, ev, iris_r, iris_r, _IRIS, part=almond)
    paint.ellipse(eu, ev, 0.019, 0.019, (15, 12, 12), part=almond)
    paint.ellipse(eu - 0.012, ev - 0.013, 0.008, 0.008, (250, 250, 250), part=almond)
    top = ev - half_h * np.sqrt(np.clip(1 - ((u - eu) / (half_w * 1.05)) ** 2, 0, 1))
    paint.blend(where, paint.step(0.012 - np.abs(v - top)) * (np.abs(u - eu) < half_w * 1.05), (40, 28, 24))


def _nose(paint: _Painter) -> None:
    """A shadow down its side, a lit tip, nostrils and the shadow under it."""
    got = paint.grid(0.0, -0.05, 0.09, 0.16)
    if got is not None:
        u, v, where = got
        line = 0.035 + 0.02 * np.clip((v + 0.05) / 0.2, 0, 1)
        paint.blend(where, 0.35 * np.clip(0.5 + (0.02 - np.abs(u - line)) / 0.02, 0, 1), _SKIN * 0.55)
    paint.ellipse(0.0, 0.13, 0.07, 0.05, _SKIN * 1.12, 0.25, softness=0.05)
    for side in (-1, 1):
        paint.ellipse(side * 0.038, 0.165, 0.022, 0.012, (95, 55, 45))
    paint.ellipse(0.0, 0.19, 0.09, 0.02, _SKIN * 0.6, 0.3, softness=0.03)


def _mouth(paint: _Painter) -> None:
    """Upper and lower lip, the line between them, the shadow under the lower lip."""
    paint.ellipse(0.0, 0.305, 0.135, 0.028, (170, 80, 78), part=lambda u, v: v < 0.305)
    paint.ellipse(0.0, 0.305, 0.12, 0.04, (196, 104, 98), part=lambda u, v: v >= 0.305)
    got = paint.grid(-0.14, 0.25, 0.14, 0.35)
    if got is not None:
        u, v, where = got
        line = 0.305 - 0.012 * (u / 0.13) ** 2  # the corners turned up a little
        paint.blend(where, paint.step(0.008 - np.abs(v - line)) * (np.abs(u) < 0.13), (105, 45, 45))
    paint.ellipse(0.0, 0.38, 0.08, 0.025, _SKIN * 0.6, 0.25, softness=0.03)


def face_scene(width: int, height: int, cx: float, cy: float, size: float,
               background: tuple[int, int, int] = (90, 120, 160)) -> np.ndarray:
    """A plain background with one drawn face (see :func:`draw_face`); RGB uint8."""
    image = np.full((height, width, 3), background, np.uint8)
    draw_face(image, cx, cy, size)
    return image
