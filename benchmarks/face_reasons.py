"""Does the plan say when it cuts a detected face? Every cut face must be reported as cut.

    python benchmarks/face_reasons.py [--data ../shared/data] [--no-write]

Photos: the 9 labelled photos of ``faces_dlib_examples`` and 83 of ``faces_wider_dev`` (every
4th by name): 92 group and crowd photos. Each is planned (default options: the ``smart``
strategy, faces kept) for three aspects, 1280x720, 720x1280 and 1080x1080, from one decode and
one analysis. A result *cuts a face by more than 10%* when a face the plan reports has
between 0 and 90% of its box (the part inside the image) inside the crop box; that is
computed here from the boxes, independently of the plan's own accounting. It *says so* when
the plan's reason mentions "cut" and the report marks that face ``"in_window": "cut"``.

Exit code 0 when every cutting result says so, 1 otherwise (and 2 without the data). The
figures go to ``benchmarks/RESULTS.md`` (section ``face-reasons``) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _images  # noqa: E402 -- the benchmarks' shared helpers, next to this file
from _results import markdown_table, write_section  # noqa: E402

import smartframe  # noqa: E402
from smartframe.geometry import Box  # noqa: E402

SIZES = ("1280x720", "720x1280", "1080x1080")
CUT_SHOWN = 0.9  # a face with less than this share inside the crop box (but some) is cut


def photos(data: Path) -> list[Path]:
    def listed(folder: str) -> list[Path]:
        with open(data / folder / "faces.json", encoding="utf-8") as file:
            return [data / folder / name for name in sorted(json.load(file)["images"])]

    return listed("faces_dlib_examples") + listed("faces_wider_dev")[::4][:83]


def cut_faces(plan) -> list[int]:
    """Indexes of the reported faces with between 0 and CUT_SHOWN of their box shown."""
    image = Box.from_size(plan.source_size)
    found = []
    for index, face in enumerate(plan.faces):
        box = face.box.intersection(image)
        if box.area > 0 and 0 < box.intersection(plan.crop_box).area / box.area < CUT_SHOWN:
            found.append(index)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=_images.default_data())
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.data is None or not (args.data / "faces_wider_dev").is_dir():
        print("no data: pass --data (the folder holding faces_wider_dev and faces_dlib_examples)")
        return 2
    rows, silent = [], []
    cutting = said = results = 0
    for path in photos(args.data):
        for size, plan in zip(SIZES, smartframe.make_plans(str(path), list(SIZES))):
            results += 1
            assert plan.output_size == tuple(int(v) for v in size.split("x")), (path, size)
            indexes = cut_faces(plan)
            if not indexes:
                continue
            cutting += 1
            report = plan.to_dict()["faces"]
            ok = "cut" in plan.reason and all(report[i]["in_window"] == "cut" for i in indexes)
            said += ok
            if not ok:
                silent.append(f"{path.name} {size}: {plan.reason}")
    rows.append([results, cutting, said, cutting - said])
    table = markdown_table(["results (92 photos x 3 sizes)", "cut a face by more than 10%", "say so",
                            "do not say so"], rows)
    print(table)
    for line in silent:
        print("SILENT:", line)
    if not args.no_write:
        write_section("face-reasons", table, argv=[sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))
    return 0 if said == cutting else 1


if __name__ == "__main__":
    sys.exit(main())
