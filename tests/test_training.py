"""The students' training data lists: names and checksums only, and no holdout photo.

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


# --- the fixation student's data list -----------------------------------------------------------

FIXATION_LIST = REPO / "training" / "fixation_photos.txt"
sys.path.insert(0, str(REPO / "training"))
import make_fixation_list  # noqa: E402 -- the sources and the validation split


def fixation_rows() -> list[tuple[str, str, str, str]]:
    return [tuple(line.split("\t")) for line in FIXATION_LIST.read_text().splitlines()
            if line and not line.startswith("#")]


def test_the_fixation_list_holds_names_sha256_and_roles_only():
    listed = fixation_rows()
    stimuli = [row for row in listed if row[3] in ("train", "val")]
    assert len(stimuli) > 2000  # MIT1003 (about 900), OSIE (699), EyeCrowd (500)
    for set_name, path, digest, role in listed:
        assert set_name in make_fixation_list.SOURCES, set_name
        assert role in ("train", "val", "map", "points"), role
        assert re.fullmatch(r"[0-9a-f]{64}", digest), path
        assert not Path(path).is_absolute() and ".." not in Path(path).parts
    photos = [row[2] for row in stimuli]
    assert len(set(photos)) == len(photos)  # no photo twice
    assert {row[0] for row in listed if row[3] == "points"} == {"osie", "crowd"}


def test_the_fixation_validation_split_is_by_photo_and_about_one_in_eight():
    stimuli = [row for row in fixation_rows() if row[3] in ("train", "val")]
    for set_name, path, _, role in stimuli:
        assert make_fixation_list.role_of(set_name, Path(path).stem) == role, path
    share = sum(row[3] == "val" for row in stimuli) / len(stimuli)
    assert 0.08 < share < 0.17
    listed = fixation_rows()  # each MIT1003 stimulus is followed by its own density map
    for first, second in zip(listed, listed[1:]):
        if first[0] == "mit":
            assert second[0] == "mit-maps" and Path(second[1]).name == Path(first[1]).name


def test_the_fixation_list_leaves_out_the_benchmark_the_synthetic_images_and_the_repeat():
    stems = {Path(path).stem for set_name, path, _, _ in fixation_rows() if set_name == "mit"}
    assert not any(stem.startswith("syntheticData") for stem in stems)
    assert "1374" not in {Path(p).stem for s, p, _, _ in fixation_rows() if s == "osie"}
    if DATA is not None:
        benchmark = {p.stem for p in (DATA / "fixation_mit1003_subset100" / "stimuli").iterdir()}
        assert len(benchmark) == 100 and not stems & benchmark
        fixation_holdout = {hashlib.sha256(p.read_bytes()).hexdigest()
                            for p in (DATA / "fixation_mit1003_subset100" / "stimuli").iterdir()}
        assert not fixation_holdout & {row[2] for row in fixation_rows()}


# --- the two-head variant's graft (training/two_head.py) ---------------------------------------

def test_two_head_graft_keeps_the_subject_output_bit_for_bit(tmp_path):
    # The subject student is trivially "a decoder trained on the frozen encoder": grafting it onto
    # itself must leave `subject` as the shipped file's and give the same map as `fixation`.
    pytest.importorskip("onnx")
    import cv2
    import numpy as np
    import two_head

    out = tmp_path / "two_head.onnx"
    two_head.combine(two_head.SUBJECT, two_head.SUBJECT, out)
    both, alone = cv2.dnn.readNetFromONNX(str(out)), cv2.dnn.readNetFromONNX(str(two_head.SUBJECT))
    tensor = np.random.default_rng(0).random((1, 3, 112, 160), dtype=np.float32)
    subject, fixation = two_head.run_net(both, tensor, ["subject", "fixation"])
    assert np.array_equal(subject, two_head.run_net(alone, tensor))
    assert np.abs(fixation - subject).max() < 1e-6


def test_two_head_graft_refuses_a_network_whose_encoder_was_trained(tmp_path):
    # The shipped fixation student trained its stages e3 and e4: its decoder reads other features.
    pytest.importorskip("onnx")
    import two_head

    with pytest.raises(SystemExit, match="encoder differs"):
        two_head.combine(two_head.SUBJECT, two_head.FIXATION, tmp_path / "two_head.onnx")
