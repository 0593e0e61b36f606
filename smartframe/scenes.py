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


def draw_face(image: np.ndarray, cx: float, cy: float, size: float) -> None:
    """Draw a cartoon face ``size`` pixels wide centred at (``cx``, ``cy``), in place.

    Hair, a skin-coloured oval, eyes with pupils, brows, nose and mouth: enough for
    BlazeFace to score it about 0.85, so face handling can be tested on pictures nobody
    owns. ``image`` is an RGB uint8 array the caller owns.
    """
    s = size

    def point(x: float, y: float) -> tuple[int, int]:
        return int(cx + x * s), int(cy + y * s)

    def length(v: float) -> int:
        return max(1, int(v * s))

    cv2.ellipse(image, point(0, -0.15), (length(0.62), length(0.7)), 0, 0, 360, (60, 40, 30), -1, cv2.LINE_AA)
    cv2.ellipse(image, point(0, 0), (length(0.5), length(0.65)), 0, 0, 360, (224, 172, 140), -1, cv2.LINE_AA)
    for side in (-1, 1):
        eye = point(side * 0.2, -0.1)
        cv2.ellipse(image, eye, (length(0.11), length(0.06)), 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(image, eye, length(0.05), (50, 30, 20), -1, cv2.LINE_AA)
        cv2.line(image, point(side * 0.1, -0.22), point(side * 0.32, -0.24), (70, 45, 30), length(0.03), cv2.LINE_AA)
    cv2.line(image, point(0, -0.05), point(-0.05, 0.15), (180, 120, 100), length(0.03), cv2.LINE_AA)
    cv2.ellipse(image, point(0, 0.32), (length(0.16), length(0.06)), 0, 0, 360, (170, 60, 70), -1, cv2.LINE_AA)


def face_scene(width: int, height: int, cx: float, cy: float, size: float,
               background: tuple[int, int, int] = (90, 120, 160)) -> np.ndarray:
    """A plain background with one cartoon face (see :func:`draw_face`); RGB uint8."""
    image = np.full((height, width, 3), background, np.uint8)
    draw_face(image, cx, cy, size)
    return image
