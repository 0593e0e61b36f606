"""Test JPEGs for the benchmarks, made from a real photo (or a synthetic scene) into a cache.

The photos in ``--data`` are read-only and never copied into the repository: a benchmark
scales one of them to the megapixel counts it needs and writes the result to a cache folder
outside the repository (default: ``$TMPDIR/smartframe-bench``). Fine sensor-like grain
(Gaussian, sigma 3 levels) is added after scaling, so an enlarged photo has the entropy, and
so the file size and decode cost, of a camera JPEG rather than of a blurred one.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "smartframe-bench"
JPEG_QUALITY = 92
GRAIN_SIGMA = 3.0


def default_data() -> Path | None:
    """``../shared/data`` relative to the repository, when it exists (for a git worktree, also
    relative to the main checkout it belongs to)."""
    candidates = [DEFAULT_DATA]
    dot_git = REPO / ".git"
    if dot_git.is_file():  # a worktree: ".git" says "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(dot_git.read_text().split(":", 1)[1].strip())
        main = next((p.parent for p in gitdir.parents if p.name == ".git"), None)
        if main is not None:
            candidates.append(main.parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)


def pick_source(data: Path | None) -> tuple[np.ndarray, str]:
    """The RGB pixels of the source photo and a label saying where they came from.

    The largest landscape JPEG under ``data/faces_photos`` (a real photo with a face, so face
    detection has work to do), else the largest landscape JPEG anywhere under ``data``, else
    a synthetic scene from ``smartframe.scenes``.
    """
    if data is not None:
        for folder in (data / "faces_photos", data):
            best = None
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() not in (".jpg", ".jpeg"):
                    continue
                with Image.open(path) as image:
                    width, height = image.size
                if width > height and (best is None or width * height > best[0]):
                    best = (width * height, path)
            if best is not None:
                with Image.open(best[1]) as image:
                    return np.asarray(image.convert("RGB")), str(best[1].relative_to(data))
    from smartframe.scenes import landscape_with_subject

    return landscape_with_subject(3000, 2000, subject_x=0.3)[0], "synthetic scene (smartframe.scenes)"


@dataclass(frozen=True)
class MatrixSource:
    """One source photo of the speed matrix: a real photo cut to an aspect ratio.

    ``path`` is relative to ``--data``; the photo is cropped to ``aspect`` (width / height)
    around ``centre`` (fractions of its width and height, clamped so the crop stays inside),
    then scaled by :func:`make_jpeg`. ``faces``: whether the crop shows a human face.
    """

    orientation: str
    aspect: float
    path: str
    centre: tuple[float, float]
    faces: bool

    @property
    def label(self) -> str:
        return f"{self.orientation}, {'a face' if self.faces else 'no face'}"


#: Every source orientation with a face and without one (see ``benchmarks/speed.py``).
MATRIX_SOURCES = (
    MatrixSource("landscape 3:2", 3 / 2, "faces_photos/deepface/unit/dataset/img49.jpg", (0.5, 0.5), True),
    MatrixSource("landscape 3:2", 3 / 2, "photos_u2net_testdata/test_images/bike.jpg", (0.5, 0.5), False),
    MatrixSource("portrait 2:3", 2 / 3, "faces_photos/deepface/unit/dataset/img40.jpg", (0.5, 0.5), True),
    MatrixSource("portrait 2:3", 2 / 3, "photos_misc_nofaces/dlib_test/giraffe.jpg", (0.5, 0.5), False),
    MatrixSource("portrait 3:4", 3 / 4, "faces_photos/deepface/unit/dataset/img3.jpg", (0.5, 0.5), True),
    MatrixSource("portrait 3:4", 3 / 4, "photos_misc_nofaces/dlib_test/eagle.jpg", (0.55, 0.5), False),
    MatrixSource("square", 1.0, "faces_photos/deepface/unit/dataset/img33.jpg", (0.5, 0.5), True),
    MatrixSource("square", 1.0, "photos_u2net_testdata/test_images/0003.jpg", (0.5, 0.5), False),
    MatrixSource("panorama 3:1", 3.0, "faces_photos/face_recognition/examples/knn_examples/test/obama_and_biden.jpg",
                 (0.5, 0.3), True),
    MatrixSource("panorama 3:1", 3.0, "photos_u2net_testdata/test_images/bike.jpg", (0.5, 0.55), False),
)


def crop_to_aspect(pixels: np.ndarray, aspect: float, centre: tuple[float, float]) -> np.ndarray:
    """The largest crop of ``pixels`` with width / height = ``aspect`` around ``centre``
    (fractions of the width and height), kept inside the image."""
    height, width = pixels.shape[:2]
    crop_w, crop_h = (width, round(width / aspect)) if width / height <= aspect else (round(height * aspect), height)
    x0 = min(max(0, round(centre[0] * width - crop_w / 2)), width - crop_w)
    y0 = min(max(0, round(centre[1] * height - crop_h / 2)), height - crop_h)
    return np.ascontiguousarray(pixels[y0:y0 + crop_h, x0:x0 + crop_w])


def make_matrix_jpeg(data: Path, source: MatrixSource, megapixels: float, cache: Path) -> Path:
    """The cached test JPEG of ``source`` at about ``megapixels`` MP (see :func:`make_jpeg`)."""
    with Image.open(data / source.path) as image:
        pixels = np.asarray(image.convert("RGB"))
    cropped = crop_to_aspect(pixels, source.aspect, source.centre)
    return make_jpeg(cropped, f"{source.path}|{source.aspect:.4f}|{source.centre}", megapixels, cache)


def make_jpeg(source: np.ndarray, label: str, megapixels: float, cache: Path, *, seed: int = 0,
              flip: bool = False) -> Path:
    """A JPEG of about ``megapixels`` MP with the source's aspect ratio, cached by content."""
    height, width = source.shape[:2]
    aspect = width / height
    out_w = round(math.sqrt(megapixels * 1e6 * aspect))
    out_h = round(out_w / aspect)
    key = hashlib.sha256(f"{label}|{width}x{height}|{out_w}x{out_h}|{seed}|{flip}|{GRAIN_SIGMA}|"
                         f"{JPEG_QUALITY}".encode()).hexdigest()[:12]
    path = cache / f"bench-{megapixels:g}mp-{out_w}x{out_h}-{key}.jpg"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    interpolation = cv2.INTER_AREA if out_w < width else cv2.INTER_CUBIC
    pixels = cv2.resize(source, (out_w, out_h), interpolation=interpolation)
    if flip:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    rng = np.random.default_rng(seed)
    for row in range(0, out_h, 1024):  # in bands, to keep the memory of 100 MP modest
        band = pixels[row:row + 1024].astype(np.int16)
        band += rng.normal(0.0, GRAIN_SIGMA, size=band.shape[:2] + (1,)).astype(np.int16)
        pixels[row:row + 1024] = np.clip(band, 0, 255).astype(np.uint8)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    Image.fromarray(pixels).save(temporary, "JPEG", quality=JPEG_QUALITY)
    os.replace(temporary, path)
    return path
