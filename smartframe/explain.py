"""Explain: a picture of why a window was chosen.

The overlay draws, over a copy of the photo: the importance map the search scored as a heat
map, each chosen window (a colour per target size, labelled with the size, strategy and
confidence), the centre window of each size (dashed, in that size's colour), and the faces
(red, with their scores). Labels are stacked so that they never overlap. Beside it (below a
landscape, to the right of a portrait) are the maps the importance was made from, each over a
small copy of the photo: the classic cues, the subject network's map (where the objects are)
and the fixation network's map (where people look), captioned with each network map's weight
in the fusion, or why it was not used. A thin strip is stretched across
its short side so that the overlay is at least ``max_side / 8`` pixels there (the windows are
drawn in the same stretched frame). The whole picture's longer side is ``max_side``. It reads
the same plans that render the outputs, so it shows exactly what was done.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from .analysis import Analysis
from .errors import OptionError
from .geometry import whole_number
from .geometry import Box, Size, cover_window_size, place_window
from .load import Source
from .options import FrameOptions
from .pipeline import make_options, prepare
from .plan import Plan

__all__ = ["explain", "draw_overlay", "check_max_side", "MAX_SIDE_RANGE"]

#: The overlay's longer side may be this many pixels (inclusive).
MAX_SIDE_RANGE = (64, 8192)

# One colour per target size (RGB), cycled.
_WINDOW_COLOURS = [(40, 220, 90), (255, 190, 0), (0, 190, 255), (230, 80, 230)]
_FACE_COLOUR = (255, 40, 40)


def explain(source: Source, sizes: object, *, max_side: int = 1280,
            options: FrameOptions | None = None, **option_values) -> tuple[Image.Image, list[Plan]]:
    """Plan ``source`` for one size or a list of sizes and draw the overlay.

    Returns the overlay (RGB, longer side ``max_side`` pixels) and the plans, which are the
    ones :func:`~smartframe.frame` would render: same decode, same analysis.
    """
    check_max_side(max_side)
    opts = make_options(options, option_values)
    size_list = sizes if isinstance(sizes, (list, tuple)) and not _is_size_pair(sizes) else [sizes]
    loaded, analysis, plans = prepare(source, size_list, opts)
    pixels = loaded.pixels[..., :3]
    overlay = draw_overlay(pixels, loaded.working_scale, analysis, plans, max_side=max_side)
    return overlay, plans


def check_max_side(max_side: object) -> int:
    """``max_side`` as an int within :data:`MAX_SIDE_RANGE`, or OptionError naming it."""
    number = whole_number(max_side)
    low, high = MAX_SIDE_RANGE
    if number is None or not low <= number <= high:
        raise OptionError("max_side", max_side, f"a whole number of pixels {low}..{high}")
    return number


def _is_size_pair(value) -> bool:
    return len(value) == 2 and all(isinstance(v, int) for v in value)


def draw_overlay(pixels: np.ndarray, working_scale: tuple[float, float], analysis: Analysis,
                 plans: Sequence[Plan], *, max_side: int = 1280) -> Image.Image:
    """Draw ``plans`` and ``analysis`` over ``pixels`` (the working image, RGB uint8).

    Boxes in the plans are source pixels; ``working_scale`` maps them to ``pixels``.
    """
    height, width = pixels.shape[:2]
    with_maps = analysis.classic is not None
    # the main panel and, with maps, three third-size panels beside its short side
    grow_w, grow_h = (1.0, 4 / 3) if width >= height else (4 / 3, 1.0)
    fit = max_side / max(width, height)  # the decode may be smaller than the overlay: enlarge
    if with_maps:
        fit = min(max_side / (width * grow_w), max_side / (height * grow_h))
    shortest = max(1, max_side // 8)  # a 1x5000 strip must not become a 1x1280 picture
    canvas_size = Size(max(min(shortest, max_side), round(width * fit)),
                       max(min(shortest, max_side), round(height * fit)))
    grow = canvas_size.width / width > 1 or canvas_size.height / height > 1
    photo = cv2.resize(np.ascontiguousarray(pixels), tuple(canvas_size),
                       interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    canvas = photo.copy()
    sx, sy = working_scale[0] * canvas_size.width / width, working_scale[1] * canvas_size.height / height
    if analysis.importance is not None and plans:  # the map covers the framing region
        canvas = _map_panel(canvas, analysis.importance, plans[0].region.scaled(sx, sy), dim=1.0)
    thickness = max(2, round(max(canvas_size) / 300))
    placed: list[tuple[int, int, int, int]] = []  # label rectangles already drawn
    for index, plan in enumerate(plans):
        colour = _WINDOW_COLOURS[index % len(_WINDOW_COLOURS)]
        if plan.fit.value == "cover":
            centre = place_window(plan.region, cover_window_size(plan.region, plan.output_size),
                                  plan.region.centre)
            # dashed in the size's own colour (offset per size), so several can be told apart
            _dashed_rectangle(canvas, centre.scaled(sx, sy), colour, max(1, thickness // 2),
                              phase=index % 2)
        box = plan.crop_box.scaled(sx, sy)
        _rectangle(canvas, box, colour, thickness)
        confidence = "" if plan.confidence is None else f" {plan.confidence:.2f}"
        label = f"{plan.output_size} {plan.strategy.value if plan.strategy else plan.fit.value}{confidence}"
        _label(canvas, label, (box.x0 + thickness + 2, box.y0 + thickness + 2), colour, placed)
    for face in analysis.faces:
        box = face.box.scaled(sx, sy)
        _rectangle(canvas, box, _FACE_COLOUR, max(1, thickness - 1))
        _label(canvas, f"{face.score:.2f}", (box.x0, box.y1 + 2), _FACE_COLOUR, placed)
    if with_maps:
        canvas = _with_map_panels(canvas, photo, analysis, plans, (sx, sy), working_scale)
    return Image.fromarray(canvas, "RGB")


def _with_map_panels(canvas: np.ndarray, photo: np.ndarray, analysis: Analysis, plans: Sequence[Plan],
                     scale: tuple[float, float], working_scale: tuple[float, float]) -> np.ndarray:
    """``canvas`` with the classic, subject and fixation maps beside it: three third-size panels
    below a landscape canvas, or to the right of a portrait one. Each map covers the framing
    region, drawn where the region lies in the photo."""
    height, width = canvas.shape[:2]
    third = (max(1, width // 3), max(1, height // 3))
    small = cv2.resize(photo, third, interpolation=cv2.INTER_AREA)
    region = plans[0].region.scaled(scale[0] * third[0] / width, scale[1] * third[1] / height)
    strategy = plans[0].strategy.value if plans[0].strategy else "smart"
    panels = [(_map_panel(small, analysis.classic, region), "classic cues")]
    for name, values, weight in (("subject network", analysis.subject, analysis.subject_weight),
                                 ("where people look", analysis.fixation, analysis.fixation_weight)):
        if values is not None:
            panels.append((_map_panel(small, values, region), f"{name} (weight {weight:.2f})"))
        else:
            why = "classic" if strategy == "classic" else "flat image"
            panels.append(((small * 0.35).astype(np.uint8), f"{name}: not used ({why})"))
    for panel, caption in panels:
        _caption(panel, caption)
    if width >= height:
        strip = np.zeros((third[1], width, 3), np.uint8)
        for index, (panel, _) in enumerate(panels):
            strip[:, index * third[0]:(index + 1) * third[0]] = panel
        return np.vstack([canvas, strip])
    strip = np.zeros((height, third[0], 3), np.uint8)
    for index, (panel, _) in enumerate(panels):
        strip[index * third[1]:(index + 1) * third[1]] = panel
    return np.hstack([canvas, strip])


def _map_panel(photo: np.ndarray, values: np.ndarray, region: Box, dim: float = 0.35) -> np.ndarray:
    """The map as a heat map over the part of ``photo`` the region covers (the rest dimmed)."""
    panel = (photo * dim).astype(np.uint8)
    x0, y0 = max(0, int(round(region.x0))), max(0, int(round(region.y0)))
    x1 = min(photo.shape[1], max(x0 + 1, int(round(region.x1))))
    y1 = min(photo.shape[0], max(y0 + 1, int(round(region.y1))))
    panel[y0:y1, x0:x1] = _heat(np.ascontiguousarray(photo[y0:y1, x0:x1]), values)
    return panel


def _caption(panel: np.ndarray, text: str) -> None:
    """Write ``text`` on a dark box at the panel's top-left corner (shrunk to fit its width)."""
    scale = max(0.35, max(panel.shape[:2]) / 1200)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while w + 6 > panel.shape[1] and scale > 0.25:
        scale *= 0.85
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(panel, (0, 0), (w + 6, h + base + 6), (0, 0, 0), -1)
    cv2.putText(panel, text, (3, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


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


def _dashed_rectangle(canvas: np.ndarray, box: Box, colour, thickness: int, dash: int = 12,
                      phase: int = 0) -> None:
    """A dashed outline; ``phase`` 1 draws the gaps of phase 0, so two coinciding outlines
    interleave instead of hiding each other."""
    corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]
    for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
        length = max(abs(xb - xa), abs(yb - ya))
        steps = max(1, int(length // dash))
        for i in range(phase % 2, steps, 2):
            t0, t1 = i / steps, min(1.0, (i + 1) / steps)
            start = (round(xa + (xb - xa) * t0), round(ya + (yb - ya) * t0))
            end = (round(xa + (xb - xa) * t1), round(ya + (yb - ya) * t1))
            cv2.line(canvas, start, end, colour, thickness, lineType=cv2.LINE_AA)


def _label(canvas: np.ndarray, text: str, origin: tuple[float, float], colour,
           placed: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """Draw ``text`` on a dark box at ``origin``, moved down (then up) past the labels in
    ``placed`` and kept inside the canvas; returns and records its rectangle (x0, y0, x1, y1)."""
    height, width = canvas.shape[:2]
    scale = max(0.4, max(canvas.shape[:2]) / 1600)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    while w + 4 > width and scale > 0.3:  # a narrow overlay (a tall strip): smaller text
        scale *= 0.85
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    box_w, box_h = w + 4, h + base + 4
    x = int(min(max(0, origin[0]), max(0, width - box_w)))
    y = int(min(max(0, origin[1]), max(0, height - box_h)))

    def clash(top: int) -> bool:
        return any(x < px1 and px0 < x + box_w and top < py1 and py0 < top + box_h
                   for px0, py0, px1, py1 in placed)

    candidates = [y + k * box_h for k in range(len(placed) + 1)] + [y - k * box_h for k in range(1, len(placed) + 1)]
    free = [top for top in candidates if 0 <= top <= max(0, height - box_h) and not clash(top)]
    if free:
        y = free[0]
    else:  # no room in this column: the next column to the right
        x = int(min(max(px1 for px0, py0, px1, py1 in placed), max(0, width - box_w)))
    rect = (x, y, x + box_w, y + box_h)
    cv2.rectangle(canvas, (x, y), (x + box_w, y + box_h), (0, 0, 0), -1)
    cv2.putText(canvas, text, (x + 2, y + h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    placed.append(rect)
    return rect
