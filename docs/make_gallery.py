"""Draw docs/gallery.png: what smartframe does, shown on free sample photos.

    pip install scikit-image      # the sample photos (not a dependency of smartframe)
    python docs/make_gallery.py   # writes docs/gallery.png

Each row is one photo framed to one target size, three ways, side by side:

1. the ``smartframe.explain`` overlay of the default (smart) plan: the importance map that was
   scored, the chosen window (solid, labelled with size, strategy and confidence), the centre
   crop's window (dashed) and the detected faces (red, with their scores);
2. the centre crop (``strategy="centre"``);
3. smartframe's crop with the default options.

The photos are scikit-image's bundled sample data (``skimage.data``), each free to use; the
licences are those scikit-image states for each image (its ``skimage.data`` docstrings):

* ``astronaut``: Eileen Collins, NASA Great Images database; public domain.
* ``chelsea``: Chelsea the cat, photograph by Stefan van der Walt; CC0.
* ``coffee``: a coffee cup, photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0.
* ``rocket``: the launch of DSCOVR on Falcon 9, SpaceX; released into the public domain.

The picture is regenerated, never edited by hand: change CASES and run the script again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import smartframe
from smartframe.explain import explain

#: (scikit-image sample, target size, what the row shows)
CASES = [
    ("astronaut", "1584x672", "the centre crop cuts the face; smartframe keeps it whole"),
    ("rocket", "1584x672", "smartframe moves down to the rocket on its lit pad; the centre crop keeps sky"),
    ("coffee", "1080x1080", "the subject map moves the window a little toward the cup"),
    ("chelsea", "720x1280", "weak evidence: smartframe stays at the centre rather than guess"),
]
ROW_HEIGHT = 200  # pixels of each picture in a row
GAP = 16
MARGIN = 20
TITLE = 22  # the row's title line
LABEL = 38  # the two lines under each picture
BACKGROUND = (250, 250, 250)
INK = (30, 30, 30)
GREY = (110, 110, 110)
OUT = Path(__file__).resolve().parent / "gallery.png"


def sample(name: str) -> np.ndarray:
    """A scikit-image sample photo as an HxWx3 uint8 RGB array."""
    try:
        import skimage.data
    except ImportError as error:  # not a dependency of smartframe: say how to get it
        raise SystemExit("docs/make_gallery.py needs scikit-image: pip install scikit-image") from error
    pixels = getattr(skimage.data, name)()
    return np.ascontiguousarray(pixels[..., :3])


def photo_part(overlay: Image.Image, width: int, height: int) -> Image.Image:
    """The overlay without the three map panels explain adds below a landscape (or right of a
    portrait): each panel is a third of the photo's sides, so the photo is 3/4 of that side."""
    if width >= height:
        photo_h = next(h for h in range(overlay.height, 0, -1) if h + max(1, h // 3) <= overlay.height)
        return overlay.crop((0, 0, overlay.width, photo_h))
    photo_w = next(w for w in range(overlay.width, 0, -1) if w + max(1, w // 3) <= overlay.width)
    return overlay.crop((0, 0, photo_w, overlay.height))


def to_height(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def row(name: str, size: str, note: str) -> tuple[list[tuple[Image.Image, str]], str]:
    pixels = sample(name)
    height, width = pixels.shape[:2]
    # explain's labels are sized for the overlay it draws: draw it at about the size shown.
    # With its map panels the photo is 3/4 of the overlay's short side.
    long_side = max(width, height) * ROW_HEIGHT / height
    max_side = round(max(long_side, 4 / 3 * ROW_HEIGHT if width >= height else long_side * 4 / 3))
    overlay, plans = explain(pixels, size, max_side=max_side)
    centre = smartframe.frame(pixels, size, strategy="centre")
    smart = smartframe.frame(pixels, size)
    assert smart.image.size == centre.image.size == plans[0].output_size  # exact size, both
    assert tuple(smart.crop_box) == tuple(plans[0].crop_box)  # explain shows what frame does
    pictures = [
        (to_height(photo_part(overlay, width, height), ROW_HEIGHT),
         "what smartframe sees (explain)\nsolid: its window; dashed: the centre"),
        (to_height(centre.image, ROW_HEIGHT), "centre crop\n"),
        (to_height(smart.image, ROW_HEIGHT), f"smartframe\n{smart.plan.reason}"),
    ]
    title = f"{name} ({width}x{height}) to {size}: {note}"
    return pictures, title


def draw(cases=CASES) -> Image.Image:
    rows = [row(*case) for case in cases]
    title_font, label_font = font(16), font(13)
    widths = []
    for pictures, _ in rows:
        widths.append(sum(p.width for p, _ in pictures) + GAP * (len(pictures) - 1))
    row_height = TITLE + ROW_HEIGHT + LABEL + GAP
    canvas = Image.new("RGB", (max(widths) + 2 * MARGIN, MARGIN * 2 + row_height * len(rows) - GAP),
                       BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    y = MARGIN
    for pictures, title in rows:
        pen.text((MARGIN, y), title, fill=INK, font=title_font)
        x = MARGIN
        for picture, label in pictures:
            canvas.paste(picture, (x, y + TITLE))
            pen.rectangle((x - 1, y + TITLE - 1, x + picture.width, y + TITLE + picture.height), outline=(200, 200, 200))
            first, second = label.split("\n")
            pen.text((x, y + TITLE + ROW_HEIGHT + 4), first, fill=INK, font=label_font)
            pen.text((x, y + TITLE + ROW_HEIGHT + 20), second, fill=GREY, font=label_font)
            x += picture.width + GAP
        y += row_height
    return canvas


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    picture = draw()
    # 256 colours keep the file small enough for a README (the photos dither well); an
    # unquantised PNG of this picture is about three times larger.
    # (The palette is chosen first, then applied with dithering: quantize() alone does not
    # dither with a median-cut palette, and the photos band.)
    palette = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, kmeans=2)
    picture.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(args.out, optimize=True)
    print(f"{args.out}: {picture.width}x{picture.height}, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
