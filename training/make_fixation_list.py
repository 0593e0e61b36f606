#!/usr/bin/env python
"""Write ``training/fixation_photos.txt``: the eye-tracking data the fixation student learns from.

    python training/make_fixation_list.py --mit DIR --mit-maps DIR --osie DIR --crowd DIR \
        [--benchmark ../shared/data/fixation_mit1003_subset100] [--out training/fixation_photos.txt]

Each ``DIR`` is the root of a plain checkout (or ``git archive``) of the repository at the
commit pinned in :data:`SOURCES`; nothing is downloaded and nothing is copied into this
repository. Three public eye-tracking sets:

* **MIT1003** (Judd et al., ICCV 2009; 15 viewers): the stimuli of ``NUS-VIP/ksvd-saliency``
  and the density maps of ``cvzoya/saliency`` (the MIT Saliency Benchmark's own maps).
  **Left out**: the 100 stimuli of the development benchmark ``fixation_mit1003_subset100``
  (matched by file stem) and the 4 ``syntheticData*`` images.
* **OSIE** (Xu et al., JoV 2014; 15 viewers): stimuli and raw fixation points (MIT licence).
  ``1374.jpg`` is the same photo as ``1279.jpg`` (re-encoded): the second is left out (as is
  any photo whose bytes repeat an earlier one).
* **EyeCrowd** (Jiang et al., CVPR 2014; 16 viewers): stimuli and raw fixation points (MIT
  licence).

Rows are ``<set>\t<path under the set's root>\t<sha256>\t<role>``: the role is ``train`` or
``val`` for a stimulus (the validation split, grouped by photo: ``val`` when
``int(sha1("<set>/<lower-case stem>")[:8], 16) % 8 == 0``, about one photo in eight), ``map``
for a MIT1003 density map (the row after its stimulus) and ``points`` for a fixation file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "fixation_photos.txt"

#: set name -> (GitHub repository, commit, stimuli folder, points file or None).
SOURCES = {
    "mit": ("NUS-VIP/ksvd-saliency", "32732fed96959c053b802e46433e58eef00535f6", "data/mit/stimuli", None),
    "mit-maps": ("cvzoya/saliency", "5951cdc7c2ba73e5951d4c36bea58e8c7d41e55d",
                 "code_forOptimization/ParameterTrainingOnICCV/ICCVdata/ALLFIXATIONMAPSICCV", None),
    "osie": ("NUS-VIP/predicting-human-gaze-beyond-pixels", "4a467890fcb40a2fec04cdded552760942bac7a4",
             "data/stimuli", "data/eye/fixations.mat"),
    "crowd": ("NUS-VIP/saliency-in-crowd", "8bb0416ee9942346f0a990f87a1325742fe3293f",
              "data/stimuli", "data/eye/fixations.mat"),
}
#: Photos that repeat another one of the sets in other bytes (left out): OSIE's 1374.jpg is
#: 1279.jpg re-encoded.
SAME_PHOTO = {("osie", "1374")}
#: One photo in VAL_MODULUS goes to the validation split.
VAL_MODULUS = 8

HEADER = """\
# Eye-tracking data the fixation student (models/fixation_student.onnx) learns from:
# <set>\\t<path under the set's root>\\t<sha256>\\t<role: train | val | map | points>.
# Written by training/make_fixation_list.py; read by training/train_fixation_student.py, which
# refuses a file whose bytes differ. Sources (plain git files at these commits):
{sources}
# Left out: the {benchmark} stimuli of the development benchmark fixation_mit1003_subset100 (by stem),
# MIT1003's syntheticData* images, and {duplicates} photo(s) that repeat an earlier\n# one (OSIE's 1374.jpg is 1279.jpg; no two listed files have the same bytes).
# Validation split (grouped by photo): int(sha1("<set>/<lower-case stem>")[:8], 16) % {modulus} == 0.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def role_of(set_name: str, stem: str) -> str:
    """'val' or 'train' for a photo of ``set_name`` (MIT1003's maps follow their stimulus)."""
    digest = hashlib.sha1(f"{set_name}/{stem.lower()}".encode()).hexdigest()
    return "val" if int(digest[:8], 16) % VAL_MODULUS == 0 else "train"


def mit_map_name(stem: str) -> str:
    """The MIT Saliency Benchmark's map of a stimulus has the stimulus's file name."""
    return f"{stem}.jpg"


def fixation_rows(roots: dict[str, Path], benchmark_stems: set[str]) -> tuple[list[tuple[str, str, str, str]], int]:
    """(rows, photos left out as byte duplicates) for the sets under ``roots``."""
    rows: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    duplicates = 0
    for set_name in ("mit", "osie", "crowd"):
        root = roots[set_name]
        _, _, stimuli, points = SOURCES[set_name]
        if points is not None:
            rows.append((set_name, points, sha256(root / points), "points"))
        for path in sorted((root / stimuli).glob("*.jpg")):
            stem = path.stem
            if set_name == "mit" and (stem in benchmark_stems or stem.startswith("syntheticData")):
                continue
            digest = sha256(path)
            if digest in seen or (set_name, stem) in SAME_PHOTO:
                duplicates += 1
                continue
            seen.add(digest)
            role = role_of(set_name, stem)
            rows.append((set_name, f"{stimuli}/{path.name}", digest, role))
            if set_name == "mit":
                map_rel = f"{SOURCES['mit-maps'][2]}/{mit_map_name(stem)}"
                rows.append(("mit-maps", map_rel, sha256(roots["mit-maps"] / map_rel), "map"))
    return rows, duplicates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("mit", "mit-maps", "osie", "crowd"):
        parser.add_argument(f"--{name}", type=Path, required=True,
                            help=f"root of {SOURCES[name][0]} at {SOURCES[name][1][:12]}")
    parser.add_argument("--benchmark", type=Path, default=HERE.parent.parent / "shared" / "data"
                        / "fixation_mit1003_subset100", help="the development benchmark folder (left out)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.benchmark / "stimuli").is_dir():
        parser.error(f"--benchmark {args.benchmark}: no stimuli/ folder (its photos must be left out)")
    benchmark_stems = {path.stem for path in (args.benchmark / "stimuli").iterdir()}
    roots = {"mit": args.mit, "mit-maps": args.mit_maps, "osie": args.osie, "crowd": args.crowd}
    rows, duplicates = fixation_rows(roots, benchmark_stems)
    sources = "\n".join(f"#   {name}: github.com/{repo} @ {commit}, {folder}"
                        for name, (repo, commit, folder, _) in SOURCES.items())
    header = HEADER.format(sources=sources, benchmark=len(benchmark_stems), duplicates=duplicates,
                           modulus=VAL_MODULUS)
    args.out.write_text(header + "".join("\t".join(row) + "\n" for row in rows))
    counts = {role: sum(1 for row in rows if row[3] == role) for role in ("train", "val", "map", "points")}
    print(f"{counts} -> {args.out} ({duplicates} repeated photo(s) left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
