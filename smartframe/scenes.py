"""Synthetic scenes: images smartframe makes itself, for the demo, the notebook and tests.

Every scene is deterministic for a given seed and returned as an HxWx3 uint8 RGB array,
together with the box of its subject in pixels (x0, y0, x1, y1; x1/y1 exclusive).
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import Box

__all__ = ["landscape_with_subject"]


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
