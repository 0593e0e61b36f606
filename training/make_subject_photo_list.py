#!/usr/bin/env python
"""Write ``training/subject_photos.txt``: the photos the subject student is trained on.

    python training/make_subject_photo_list.py [--data ../shared/data] [--out training/subject_photos.txt]

Which photos (all under ``--data``; names and SHA-256 only go into the list, never pixels):

* the *tune* half (``benchmarks/quality.py``'s split) of every folder with ground truth;
* every photo of the folders without ground truth (``PHOTO_FOLDERS``), and the tune half of
  ``faces_wider_dev`` (the one such folder with a labelled split of its own);
* never a photo of the *holdout* half: a candidate whose file stem or whose bytes match any
  holdout photo of a ground-truth folder is dropped (the Berkeley photos appear in three
  folders, and some peers' test photos are copies of benchmark photos).

Rows are ``<path relative to --data>\t<sha256 of the file>``, sorted by path, one per distinct
file content (the first path of a duplicate is kept).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))
import _images  # noqa: E402 -- the benchmarks' helpers: where ../shared/data is
import quality  # noqa: E402 -- discover() and split_of(): the benchmark's own split

#: Folders of photos without ground truth used for training (faces_wider_dev: tune half only).
PHOTO_FOLDERS = ("faces_photos", "photos_u2net_testdata", "photos_smartcrop_js_testsuite",
                 "photos_registry_packages", "photos_misc_nofaces", "photos_imagenet_nofaces",
                 "faces_wider_dev")
TUNE_ONLY_PHOTO_FOLDERS = ("faces_wider_dev",)
EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp"}
DEFAULT_OUT = HERE / "subject_photos.txt"
HEADER = """\
# Photos the subject student (models/subject_student.onnx) is trained on: <path under
# ../shared/data>\\t<sha256>. Written by training/make_subject_photo_list.py; read by
# training/train_subject_student.py, which refuses a photo whose bytes differ.
# Ground-truth folders (tune half only, benchmarks/quality.py's split): {gt}.
# Folders without ground truth (faces_wider_dev: tune half only): {photos}.
# No holdout photo: candidates whose stem or bytes match a holdout photo were dropped ({dropped}).
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def photo_list(data: Path) -> tuple[list[tuple[str, str]], list[str], int]:
    """(rows, ground-truth folder names, number of candidates dropped as holdout)."""
    cases = [case for found in quality.discover(data).values() for case in found]
    holdout = [case.image for case in cases if case.split == "holdout"]
    holdout_stems = {path.stem.lower() for path in holdout}
    holdout_sha = {sha256(path) for path in holdout}
    candidates = [case.image for case in cases if case.split == "tune"]
    for folder in PHOTO_FOLDERS:
        for path in sorted((data / folder).rglob("*")):
            if path.suffix.lower() not in EXTENSIONS or "mask" in path.parts[-2].lower():
                continue
            if folder in TUNE_ONLY_PHOTO_FOLDERS and quality.split_of(path) != "tune":
                continue
            candidates.append(path)
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    dropped = 0
    for path in candidates:
        digest = sha256(path)
        if path.stem.lower() in holdout_stems or digest in holdout_sha:
            dropped += 1
            continue
        if digest not in seen:
            seen.add(digest)
            rows.append((str(path.relative_to(data)), digest))
    return sorted(rows), sorted({case.folder for case in cases}), dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=_images.default_data())
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data DIR is required (../shared/data was not found)")
    rows, gt_folders, dropped = photo_list(args.data)
    header = HEADER.format(gt=", ".join(gt_folders), photos=", ".join(PHOTO_FOLDERS), dropped=dropped)
    args.out.write_text(header + "".join(f"{path}\t{digest}\n" for path, digest in rows))
    print(f"{len(rows)} photos -> {args.out} ({dropped} candidates dropped as holdout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
