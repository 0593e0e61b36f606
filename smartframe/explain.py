"""Explain: a picture of why a window was chosen.

The overlay draws, over a copy of the photo: the importance map as a heat map, the centre
window (white, dashed), each chosen window (a colour per target size, labelled with the
size, strategy and confidence), and the faces (red, with their scores). It reads the same
plans that render the outputs, so it shows exactly what was done.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from .analysis import Analysis
from .geometry import Box, Size, cover_window_size, place_window
from .load import Source
from .options import FrameOptions
from .pipeline import make_options, prepare
from .plan import Plan

__all__ = ["explain", "draw_overlay"]

# One colour per target size (RGB), cycled.
_WINDOW_COLOURS = [(40, 220, 90), (255, 190, 0), (0, 190, 255), (230, 80, 230)]
_FACE_COLOUR = (255, 40, 40)
_CENTRE_COLOUR = (255, 255, 255)


def explain(source: Source, sizes: object, *, max_side: int = 1280,
            options: FrameOptions | None = None, **option_values) -> tuple[Image.Image, list[Plan]]:
    """Plan ``source`` for one size or a list of sizes and draw the overlay.

    Returns the overlay (RGB, longer side ``max_side`` pixels) and the plans, which are the
    ones :func:`~smartframe.frame` would render: same decode, same analysis.
    """
    opts = make_options(options, option_values)
    size_list = sizes if isinstance(sizes, (list, tuple)) and not _is_size_pair(sizes) else [sizes]
    loaded, analysis, plans = prepare(source, size_list, opts)
    pixels = loaded.pixels[..., :3]
    overlay = draw_overlay(pixels, loaded.working_scale, analysis, plans, max_side=max_side)
    return overlay, plans


def _is_size_pair(value) -> bool:
    return len(value) == 2 and all(isinstance(v, int) for v in value)


def draw_overlay(pixels: np.ndarray, working_scale: tuple[float, float], analysis: Analysis,
                 plans: Sequence[Plan], *, max_side: int = 1280) -> Image.Image:
    """Draw ``plans`` and ``analysis`` over ``pixels`` (the working image, RGB uint8).

    Boxes in the plans are source pixels; ``working_scale`` maps them to ``pixels``.
    """
    height, width = pixels.shape[:2]
    fit = max_side / max(width, height)  # the decode may be smaller than the overlay: enlarge
    canvas_size = Size(max(1, round(width * fit)), max(1, round(height * fit)))
    canvas = cv2.resize(np.ascontiguousarray(pixels), tuple(canvas_size),
                        interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR)
    sx, sy = working_scale[0] * canvas_size.width / width, working_scale[1] * canvas_size.height / height
    if analysis.importance is not None:
        canvas = _heat(canvas, analysis.importance)
    thickness = max(2, round(max(canvas_size) / 300))
    for index, plan in enumerate(plans):
        if plan.fit.value == "cover":
            centre = place_window(plan.region, cover_window_size(plan.region, plan.output_size),
                                  plan.region.centre)
            _dashed_rectangle(canvas, centre.scaled(sx, sy), _CENTRE_COLOUR, max(1, thickness // 2))
        colour = _WINDOW_COLOURS[index % len(_WINDOW_COLOURS)]
        box = plan.crop_box.scaled(sx, sy)
        _rectangle(canvas, box, colour, thickness)
        confidence = "" if plan.confidence is None else f" {plan.confidence:.2f}"
        label = f"{plan.output_size} {plan.strategy.value if plan.strategy else plan.fit.value}{confidence}"
        _label(canvas, label, (box.x0 + thickness + 2, box.y0 + thickness + 2), colour)
    for face in analysis.faces:
        box = face.box.scaled(sx, sy)
        _rectangle(canvas, box, _FACE_COLOUR, max(1, thickness - 1))
        _label(canvas, f"{face.score:.2f}", (box.x0, box.y1 + 2), _FACE_COLOUR)
    return Image.fromarray(canvas, "RGB")


def _heat(canvas: np.ndarray, importance: np.ndarray) -> np.ndarray:
    peak = float(importance.max())
    normalised = (importance / peak if peak > 0 else importance) * 255.0
    heat = cv2.resize(normalised.astype(np.float32), (canvas.shape[1], canvas.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap(np.clip(heat, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(canvas, 0.55, coloured, 0.45, 0.0)


def _rectangle(canvas: np.ndarray, box: Box, colour, thickness: int) -> None:
    cv2.rectangle(canvas, (round(box.x0), round(box.y0)), (round(box.x1) - 1, round(box.y1) - 1),
                  colour, thickness, lineType=cv2.LINE_AA)


def _dashed_rectangle(canvas: np.ndarray, box: Box, colour, thickness: int, dash: int = 12) -> None:
    corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]
    for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
        length = max(abs(xb - xa), abs(yb - ya))
        steps = max(1, int(length // dash))
        for i in range(0, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            start = (round(xa + (xb - xa) * t0), round(ya + (yb - ya) * t0))
            end = (round(xa + (xb - xa) * t1), round(ya + (yb - ya) * t1))
            cv2.line(canvas, start, end, colour, thickness, lineType=cv2.LINE_AA)


def _label(canvas: np.ndarray, text: str, origin: tuple[float, float], colour) -> None:
    scale = max(0.4, max(canvas.shape[:2]) / 1600)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = int(origin[0]), int(origin[1])
    cv2.rectangle(canvas, (x, y), (x + w + 4, y + h + base + 4), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x + 2, y + h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
