"""CenterFace, the second face model: its file, the in-memory edit of its declared input size,
its decoding and what it finds on small images the tests draw."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from smartframe.analysis import model_files
from smartframe.analysis.faces import centerface as cf
from smartframe.analysis.faces import yunet
from smartframe.errors import ModelError
from smartframe.scenes import face_scene


@pytest.fixture(scope="module")
def model():
    net = cf.CenterFace()
    yield net
    net.close()


def test_the_model_checksum_is_verified_and_listed():
    path = model_files.resolve(cf.CENTERFACE)
    assert model_files.sha256_file(path) == cf.CENTERFACE.sha256
    sums = (path.parent / "SHA256SUMS").read_text().split()
    assert sums[sums.index(cf.CENTERFACE.filename) - 1] == cf.CENTERFACE.sha256
    assert (path.parent / "LICENSE-CenterFace").read_text().startswith("MIT License")
    assert "centerface.onnx" in (path.parent / "PROVENANCE.md").read_text()


def test_an_altered_model_is_refused_before_loading(tmp_path):
    bad = tmp_path / cf.CENTERFACE.filename
    shutil.copy(model_files.resolve(cf.CENTERFACE), bad)
    data = bytearray(bad.read_bytes())
    data[5000] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        cf.CenterFace(model_dir=tmp_path)


def test_the_declared_input_and_outputs_become_size_free(model):
    published = model_files.resolve(cf.CENTERFACE).read_bytes()
    edited = cf.dynamic_input_model(published)
    # only the five declared shapes change: a few bytes, the 7 MB of weights are copied as they are
    assert abs(len(edited) - len(published)) < 200
    session = model._session._session
    assert session.get_inputs()[0].shape == ["N", 3, "H", "W"]
    assert [o.shape for o in session.get_outputs()] == [["N", c, "H", "W"] for c in (1, 2, 2, 10)]


def test_another_graph_is_refused():
    with pytest.raises(ModelError, match="not the expected graph"):
        cf.dynamic_input_model(model_files.resolve(yunet.YUNET_N).read_bytes())
    with pytest.raises(ModelError):
        cf.dynamic_input_model(b"\x3a\xff\xff")  # a field longer than the bytes


def test_decode_maps_one_cell_to_its_box_landmarks_and_score():
    h, w = 6, 8
    heat, scale, offset, marks = (np.zeros((1, c, h, w), np.float32) for c in (1, 2, 2, 10))
    heat[0, 0, 2, 5] = 0.9
    scale[0, :, 2, 5] = np.log([10.0, 5.0])  # height 40, width 20 (units of 4 px)
    offset[0, :, 2, 5] = (0.25, -0.5)  # dy, dx in cells
    marks[0, :, 2, 5] = np.tile([0.5, 0.25], 5)  # every landmark at (dy, dx) = (0.5, 0.25) of the box
    found = cf.decode([heat, scale, offset, marks], 0, 0.5)
    cy, cx = (2 + 0.25 + 0.5) * 4, (5 - 0.5 + 0.5) * 4
    assert np.allclose(found.boxes, [[cx - 10, cy - 20, cx + 10, cy + 20]])
    assert np.allclose(found.landmarks, [[(cx - 10 + 5, cy - 20 + 20)] * 5])
    assert np.allclose(found.scores, [0.9])
    assert len(cf.decode([heat, scale, offset, marks], 0, 0.95)) == 0


def test_a_drawn_face_is_found_where_it_is(model):
    found = model.run([face_scene(320, 224, 150, 110, 90)], 0.3)[0]
    assert len(found) == 1
    x0, y0, x1, y1 = found.boxes[0]
    assert abs((x0 + x1) / 2 - 150) < 12 and abs((y0 + y1) / 2 - 110) < 20 and 60 < x1 - x0 < 120
    (rx, ry), (lx, ly) = found.landmarks[0, :2]  # the subject's right eye is on the image's left
    assert rx < 150 < lx and abs(ry - ly) < 6


@pytest.mark.parametrize("name", ["black", "grey", "noise"])
def test_an_image_without_a_face_gives_nothing(model, name):
    image = {"black": np.zeros((160, 224, 3), np.uint8), "grey": np.full((160, 224, 3), 128, np.uint8),
             "noise": np.random.default_rng(3).integers(0, 256, (160, 224, 3), dtype=np.uint8)}[name]
    assert len(model.run([image], 0.3)[0]) == 0


def test_a_batch_gives_each_image_its_own_faces(model):
    face, empty = face_scene(256, 192, 128, 96, 80), np.zeros((192, 256, 3), np.uint8)
    found = model.run([empty, face], 0.3)
    assert len(found[0]) == 0 and len(found[1]) == 1
