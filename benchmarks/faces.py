#!/usr/bin/env python
"""Face benchmark: does smartframe flag every face photo, and no face-free one?

    python benchmarks/faces.py [--data DIR] [--backends auto,opencv] [--repeat 5]
                               [--skip-redaction] [--json OUT]

Measures, with the default thresholds (score >= 0.55, face >= 20 px):

* image-level recall (a face found) on ``faces_photos/``,
  ``photos_u2net_testdata/test_human_images`` and ``test_portrait_images``;
* recall of the human-labelled face boxes of ``faces_dlib_examples/`` (IoU >= 0.4);
* the share of face-free photos flagged (the lists below, checked by looking at them:
  ``photos_misc_nofaces/``, the face-free photos of ``photos_registry_packages/``,
  ``photos_u2net_testdata/test_images`` without people, ``dogs.jpg``, and face-free photos
  of the ground-truth sets -- animal faces, a painting, statues and toys among them);
* after ``faces="blur"``, ``"pixelate"`` and ``"fill"``, the share of face photos in whose
  output detection finds no face;
* detection time per image (median and p95 of each image's median over ``--repeat``
  runs) on the decoded photo, for each backend: ``auto`` (mediapipe for the short-range
  model) and ``opencv`` (the fallback where no mediapipe wheel exists).

Every detection is checked (finite box of positive size overlapping the image, score in
0..1), so a fast wrong answer fails the run; a redacted output must say what it redacted.
Targets print as PASS/FAIL; exit code 0 when all pass, 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import smartframe
from smartframe.geometry import Box
from smartframe.analysis.faces import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, Face, FaceDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _images  # noqa: E402 -- the benchmarks' shared helpers, next to this file
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

# photos_u2net_testdata/test_images: the ones with no person (viewed; the names mislead:
# vangogh.jpeg is a photo of two people, whisk.png a meerkat).
U2NET_NO_PERSON = ("0003.jpg", "bike.jpg", "horse.jpg", "im_01.png", "im_21.png", "im_27.png",
                   "lamp2_meitu_1.jpg", "long.jpg", "rifle1.jpg", "rifle2.jpeg", "whisk.png")
# photos_registry_packages: the photos that show a human face (PROVENANCE.md).
REGISTRY_FACES = ("messi5.jpg", "basketball1.png", "astronaut.png", "camera.png", "grace_hopper.jpg")
# Face-free photos of the ground-truth sets (viewed: no person, doll or statue; a teddy bear
# and a cartoon toy stay in as hard negatives).
GT_NO_FACE = tuple("objmask_grabcut50/images/" + n for n in (
    "106024.jpg", "124080.jpg", "208001.jpg", "209070.jpg", "227092.jpg", "304074.jpg", "326038.jpg",
    "69020.jpg", "86016.jpg", "banana1.bmp", "banana2.bmp", "banana3.bmp", "book.bmp", "bush.jpg",
    "ceramic.bmp", "cross.jpg", "elefant.bmp", "flower.jpg", "fullmoon.bmp", "grave.jpg", "llama.bmp",
    "memorial.jpg", "music.JPG", "scissors.JPG", "sheep.jpg", "stone1.JPG", "stone2.JPG", "teddy.jpg",
)) + tuple(f"sod_salbenchmark/DataSet1/Imgs/{n:04d}.jpg" for n in range(2, 16)) + tuple(
    f"sod_salbenchmark/DataSet2/Imgs/{n}.jpg" for n in (
        "101", "124", "137", "147", "155", "158", "168", "180", "227", "235", "272", "275", "279", "280",
        "282", "284", "75", "77"))

TARGET_RECALL, TARGET_BOXES, TARGET_FALSE, TARGET_MS = 0.98, 0.90, 0.02, 15.0


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def face_sets(data: Path) -> dict[str, list[Path]]:
    u2net = data / "photos_u2net_testdata"
    return {"faces_photos": images(data / "faces_photos"),
            "u2net_human": images(u2net / "test_human_images"),
            "u2net_portrait": images(u2net / "test_portrait_images")}


def noface_sets(data: Path) -> dict[str, list[Path]]:
    registry = data / "photos_registry_packages"
    return {"misc_nofaces": images(data / "photos_misc_nofaces"),
            "registry_nofaces": [p for p in images(registry) if p.name not in REGISTRY_FACES],
            "u2net_no_person": [data / "photos_u2net_testdata" / "test_images" / n for n in U2NET_NO_PERSON],
            "dlib_dogs": [data / "faces_dlib_examples" / "dogs.jpg"],
            "gt_sets_no_face": [data / p for p in GT_NO_FACE]}


def checked(faces, shape, where: str) -> list[Face]:
    height, width = shape[:2]
    for face in faces:
        values = np.array([face.x0, face.y0, face.x1, face.y1, face.score], float)
        if not (np.isfinite(values).all() and 0 <= face.score <= 1 and face.x1 > face.x0 and face.y1 > face.y0):
            raise AssertionError(f"{where}: invalid face {face}")
        x0, y0, x1, y1 = face.clipped(width, height)
        if x1 <= x0 or y1 <= y0:
            raise AssertionError(f"{where}: face {face} lies outside the {width}x{height} image")
    return list(faces)


def pixels_of(path: Path) -> np.ndarray:
    """The photo as smartframe sees it: upright, sRGB, 8-bit RGB, full size."""
    return np.asarray(smartframe.load(path).pixels)


def run_backend(detector: FaceDetector, data: Path, repeat: int) -> dict:
    detect = lambda rgb: detector.detect(rgb, min_size_px=DEFAULT_MIN_SIZE_PX, min_score=DEFAULT_MIN_SCORE)  # noqa: E731
    result: dict = {"backend": detector.backend, "sets": {}, "timing_ms": {}}
    with_faces = face_sets(data)
    for name, paths in {**with_faces, **noface_sets(data)}.items():
        flagged = []
        for path in paths:
            rgb = pixels_of(path)
            if checked(detect(rgb), rgb.shape, str(path)):
                flagged.append(path.name)
        # for face sets, list the photos missed; for face-free sets, the photos flagged
        names = [p.name for p in paths if p.name not in flagged] if name in with_faces else flagged
        result["sets"][name] = {"images": len(paths), "flagged": len(flagged), "names": names}
    meta = json.loads((data / "faces_dlib_examples" / "faces.json").read_text())
    found = total = 0
    for name, entry in meta["images"].items():
        rgb = pixels_of(data / "faces_dlib_examples" / name)
        boxes = [(f.x0, f.y0, f.x1, f.y1) for f in checked(detect(rgb), rgb.shape, name)]
        for label in entry.get("face_boxes", []):
            truth = (label["x"], label["y"], label["x"] + label["w"], label["y"] + label["h"])
            total += 1
            found += any(Box(*truth).iou(Box(*b)) >= 0.4 for b in boxes)
    result["dlib_boxes"] = {"labelled": total, "found": found}
    medians = []
    for path in face_sets(data)["faces_photos"]:
        rgb = pixels_of(path)
        detect(rgb)  # warm caches (first-call allocation), not timed
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            detect(rgb)
            runs.append((time.perf_counter() - start) * 1000)
        medians.append(statistics.median(runs))
    result["timing_ms"] = {"median": statistics.median(medians), "p95": float(np.percentile(medians, 95)),
                           "images": len(medians)}
    return result


def redaction(data: Path) -> dict:
    """frame() with each redaction policy at the photo's own size, then detection on the output."""
    detector = FaceDetector("auto")
    out = {}
    photos = [p for paths in face_sets(data).values() for p in paths]
    for method in ("blur", "pixelate", "fill"):
        clean, still, refused = 0, [], []
        for path in photos:
            size = smartframe.load(path).size
            try:
                result = smartframe.frame(path, tuple(size), faces=method, strategy="centre")
            except smartframe.RedactionError as error:
                if error.coverage is None:  # a face survived every round: a failure to report
                    still.append(f"{path.name} (RedactionError: {error.message})")
                else:  # a close-up: the cover would be the whole picture, so nothing is written
                    refused.append(f"{path.name} ({error.coverage:.0%})")
                continue
            if result.image.size != tuple(size):
                raise AssertionError(f"{path}: output {result.image.size}, expected {tuple(size)}")
            if not result.redacted:  # every face photo has an identifiable face to cover
                still.append(f"{path.name} (nothing redacted)")
            elif detector.detect(np.asarray(result.image), min_size_px=DEFAULT_MIN_SIZE_PX,
                                 min_score=DEFAULT_MIN_SCORE):
                still.append(path.name)
            else:
                clean += 1
        out[method] = {"photos": len(photos), "no_face_after": clean, "face_left_in": still,
                       "refused_close_ups": refused}
    detector.close()
    return out


def report(results: list[dict], redacted: dict | None) -> list[str]:
    lines = []
    for r in results:
        lines += [f"## backend: {r['backend']}", "", "| set | images | flagged |", "|---|---:|---:|"]
        for name, s in r["sets"].items():
            lines.append(f"| {name} | {s['images']} | {s['flagged']} ({100 * s['flagged'] / s['images']:.1f}%) |")
        faces = [s for n, s in r["sets"].items() if n in ("faces_photos", "u2net_human", "u2net_portrait")]
        free = [s for n, s in r["sets"].items() if n not in ("faces_photos", "u2net_human", "u2net_portrait")]
        false_flags = sum(s["flagged"] for s in free) / sum(s["images"] for s in free)
        d = r["dlib_boxes"]
        t = r["timing_ms"]
        lines += ["", f"labelled dlib boxes found (IoU >= 0.4): {d['found']}/{d['labelled']} "
                      f"({100 * d['found'] / d['labelled']:.1f}%)",
                  f"detection per image over {t['images']} face photos: median {t['median']:.1f} ms, "
                  f"p95 {t['p95']:.1f} ms", ""]
        for s, name in zip(faces, ("faces_photos", "u2net_human", "u2net_portrait")):
            recall = s["flagged"] / s["images"]
            lines.append(f"{'PASS' if recall >= TARGET_RECALL else 'FAIL'} {name} recall {100 * recall:.1f}% "
                         f"(bar {100 * TARGET_RECALL:.0f}%), missed: {s['names']}")
        lines.append(f"{'PASS' if d['found'] / d['labelled'] >= TARGET_BOXES else 'FAIL'} dlib box recall "
                     f"{100 * d['found'] / d['labelled']:.1f}% (bar {100 * TARGET_BOXES:.0f}%)")
        flagged_names = [n for s in free for n in s["names"]]
        lines.append(f"{'PASS' if false_flags <= TARGET_FALSE else 'FAIL'} face-free photos flagged "
                     f"{100 * false_flags:.1f}% (bar {100 * TARGET_FALSE:.0f}%): {flagged_names}")
        lines.append(f"{'PASS' if t['median'] < TARGET_MS else 'FAIL'} median detection {t['median']:.1f} ms "
                     f"(bar {TARGET_MS:.0f} ms)")
        lines.append("")
    if redacted:
        lines += ["## redaction (policy applied at the photo's own size, then detection on the output)", ""]
        for method, r in redacted.items():
            framed = r["photos"] - len(r["refused_close_ups"])
            ok = not r["face_left_in"] and r["no_face_after"] == framed
            lines.append(f"{'PASS' if ok else 'FAIL'} {method}: no face after in {r['no_face_after']}"
                         f"/{framed} framed; face left in: {r['face_left_in']}; refused "
                         f"{len(r['refused_close_ups'])} close-up(s) the redaction would fill (>= 90% of "
                         f"the output): {r['refused_close_ups']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=_images.default_data())
    parser.add_argument("--backends", default="auto,opencv")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-redaction", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data DIR is required (../shared/data was not found)")
    results = []
    for backend in [b for b in args.backends.split(",") if b]:
        detector = FaceDetector(backend)
        try:
            results.append(run_backend(detector, args.data, args.repeat))
        finally:
            detector.close()
    redacted = None if args.skip_redaction else redaction(args.data)
    lines = report(results, redacted)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"backends": results, "redaction": redacted}, indent=1))
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
