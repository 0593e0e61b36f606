"""The subject student's training data list: names and checksums only, and no holdout photo.

The default run never trains; these tests read the list (and, when ../shared/data is there, the
benchmark's own split) so that a holdout photo cannot slip into the training set unnoticed.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import _images  # noqa: E402
import quality  # noqa: E402

PHOTO_LIST = REPO / "training" / "subject_photos.txt"
GROUND_TRUTH_FOLDERS = ("sod_", "objmask_", "fixation_", "faces_dlib_examples")


def rows() -> list[tuple[str, str]]:
    found = []
    for line in PHOTO_LIST.read_text().splitlines():
        if line and not line.startswith("#"):
            path, digest = line.split("\t")
            found.append((path, digest))
    return found


def test_the_list_holds_names_and_sha256_only():
    listed = rows()
    assert len(listed) > 900
    for path, digest in listed:
        assert re.fullmatch(r"[0-9a-f]{64}", digest), path
        assert not Path(path).is_absolute() and ".." not in Path(path).parts
    assert len({digest for _, digest in listed}) == len(listed)  # one row per distinct photo
    assert [path for path, _ in listed] == sorted(path for path, _ in listed)


def test_no_ground_truth_photo_of_the_holdout_half_is_listed():
    for path, _ in rows():
        if path.startswith(GROUND_TRUTH_FOLDERS) or path.startswith("faces_wider_dev"):
            assert quality.split_of(Path(path)) == "tune", path


DATA = _images.default_data()


@pytest.mark.skipif(DATA is None, reason="../shared/data is not here")
def test_no_holdout_photo_by_name_or_by_content():
    holdout = [case.image for cases in quality.discover(DATA).values() for case in cases
               if case.split == "holdout"]
    stems = {path.stem.lower() for path in holdout}
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in holdout}
    for path, digest in rows():
        assert Path(path).stem.lower() not in stems, path
        assert digest not in digests, path


def test_the_repository_holds_no_training_photo():
    listed = {digest for _, digest in rows()}
    for path in REPO.rglob("*"):
        if path.is_file() and path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") and ".git" not in path.parts:
            assert hashlib.sha256(path.read_bytes()).hexdigest() not in listed, path
