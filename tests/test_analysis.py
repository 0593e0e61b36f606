"""The analysis stages: the subject network's adapter, the fusion, and the orchestration
(one thread or two, the smaller JPEG decode for the analysis), on images made here."""

from __future__ import annotations

import hashlib
import io
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

import smartframe
from smartframe.analysis import Analysis, Face, Maps, analyse
from smartframe.analysis import fixation as fixation_module
from smartframe.analysis import subject as subject_module
from smartframe.analysis.faces.centerface import CENTERFACE
from smartframe.analysis.faces.yunet import YUNET_N
from smartframe.analysis.fusion import DEFAULT_FUSION, face_grid_boxes, fuse_maps, fused_importance, mean_one
from smartframe.analysis.model_files import model_directory
from smartframe.analysis.saliency import add_face_blocks, importance_map, small_copy
from smartframe.errors import ModelError
from smartframe.geometry import Box, Size
from smartframe.load.jpeg import dct_scale
from smartframe.scenes import face_scene, landscape_with_subject


def centroid_x(values: np.ndarray) -> float:
    """The x of the map's centre of mass, as a fraction of its width."""
    columns = values.sum(axis=0)
    return float((columns * (np.arange(len(columns)) + 0.5)).sum() / columns.sum() / len(columns))


# --- the subject network's adapter ------------------------------------------------------------

@pytest.mark.parametrize("height, width", [(1000, 1600), (1600, 1000), (100, 2000), (7, 5), (320, 320)])
def test_network_input_keeps_the_aspect_on_multiples_of_the_stride(height, width):
    rgb = np.zeros((height, width, 3), np.uint8)
    tensor = subject_module.network_input(rgb)
    rows, cols = tensor.shape[2:]
    assert tensor.shape[:2] == (1, 3) and tensor.dtype == np.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    assert rows % 16 == 0 and cols % 16 == 0 and max(rows, cols) == 160
    if min(rows, cols) > 16:  # a strip keeps one stride across
        assert abs(np.log((cols / rows) / (width / height))) < 0.1


def test_the_subject_map_is_on_the_grid_and_follows_the_subject():
    left, _ = landscape_with_subject(960, 640, subject_x=0.2, subject_size=0.35)
    right, _ = landscape_with_subject(960, 640, subject_x=0.8, subject_size=0.35)
    grid = (64, 96)  # rows, cols: the classic map's grid for a 3:2 region
    on_left = subject_module.subject_map(left, grid)
    on_right = subject_module.subject_map(right, grid)
    for values in (on_left, on_right):
        assert values.shape == grid and values.dtype == np.float32
        assert values.min() == 0.0 and values.max() == pytest.approx(1.0)
    # the frame is the region's: x = column, not transposed or mirrored
    assert centroid_x(on_left) < 0.45 < 0.55 < centroid_x(on_right)


def test_the_subject_map_of_a_portrait_region_is_not_transposed():
    image, box = landscape_with_subject(640, 960, subject_x=0.5, subject_y=0.2, subject_size=0.4)
    values = subject_module.subject_map(image, (96, 64))
    rows = values.sum(axis=1)
    top = float((rows * (np.arange(len(rows)) + 0.5)).sum() / rows.sum() / len(rows))
    assert top < 0.45


def test_the_shipped_student_is_the_pinned_file():
    path = model_directory() / subject_module.STUDENT_MODEL.filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == subject_module.STUDENT_MODEL.sha256
    sums = (model_directory() / "SHA256SUMS").read_text().split()
    assert sums[sums.index(subject_module.STUDENT_MODEL.filename) - 1] == digest


def test_a_missing_or_corrupt_student_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        subject_module.SubjectNetwork(tmp_path)
    corrupt = tmp_path / subject_module.STUDENT_MODEL.filename
    shutil.copy(model_directory() / subject_module.STUDENT_MODEL.filename, corrupt)
    with open(corrupt, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="SHA-256"):
        subject_module.SubjectNetwork(tmp_path)
    assert smartframe.errors.ModelError.exit_code == 5


def test_smart_raises_model_error_without_the_student(tmp_path, monkeypatch):
    # a model folder with the face models only (YuNet and its second opinion, CenterFace)
    for face_model in (YUNET_N, CENTERFACE):
        shutil.copy(model_directory() / face_model.filename, tmp_path / face_model.filename)
    monkeypatch.setenv("SMARTFRAME_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(subject_module, "_network", None)
    image, _ = landscape_with_subject(400, 300)
    with pytest.raises(ModelError):
        smartframe.make_plan(image, "100x100")
    smartframe.make_plan(image, "100x100", strategy="classic")  # classic needs no network


# --- the fixation network ---------------------------------------------------------------------

def test_the_shipped_fixation_student_is_the_pinned_file():
    path = model_directory() / fixation_module.FIXATION_MODEL.filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == fixation_module.FIXATION_MODEL.sha256
    sums = (model_directory() / "SHA256SUMS").read_text().split()
    assert sums[sums.index(fixation_module.FIXATION_MODEL.filename) - 1] == digest


def test_a_corrupt_fixation_student_is_a_model_error(tmp_path):
    corrupt = tmp_path / fixation_module.FIXATION_MODEL.filename
    shutil.copy(model_directory() / fixation_module.FIXATION_MODEL.filename, corrupt)
    with open(corrupt, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="SHA-256"):
        subject_module.SubjectNetwork(tmp_path, model=fixation_module.FIXATION_MODEL)


def test_smart_raises_model_error_without_the_fixation_student(tmp_path, monkeypatch):
    for model in (YUNET_N, subject_module.STUDENT_MODEL):  # faces and subject, no fixation
        shutil.copy(model_directory() / model.filename, tmp_path / model.filename)
    monkeypatch.setenv("SMARTFRAME_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(fixation_module, "_network", None)
    image, _ = landscape_with_subject(400, 300)
    with pytest.raises(ModelError, match="fixation"):
        smartframe.make_plan(image, "100x100")


def test_the_fixation_map_is_on_the_grid_and_looks_at_the_face():
    image = face_scene(960, 640, 220, 200, 120)  # a face left of centre
    grid = (64, 96)
    values = fixation_module.fixation_map(image, grid)
    assert values.shape == grid and values.dtype == np.float32
    assert values.min() == 0.0 and values.max() == pytest.approx(1.0)
    row, col = np.unravel_index(int(np.argmax(values)), grid)
    # the hottest cell lies within a face's width of the face (x = column, not mirrored)
    assert abs((col + 0.5) / grid[1] * 960 - 220) < 160 and abs((row + 0.5) / grid[0] * 640 - 200) < 160


# --- the fusion -------------------------------------------------------------------------------

def test_classic_is_the_map_before_the_subject_network():
    image = face_scene(1200, 800, 800, 380, 220)
    image[500:700, 100:400] = (200, 40, 40)
    analysis = analyse(image, (1.0, 1.0), Box(0, 0, 1200, 800), maps=Maps.CLASSIC, faces=True)
    small = small_copy(image)
    boxes = face_grid_boxes(analysis.faces, analysis.grid_scale, analysis.grid_origin, small.shape[:2])
    assert len(analysis.faces) == 1
    assert np.array_equal(analysis.importance, importance_map(small, boxes=boxes))
    assert analysis.subject is None and analysis.subject_weight == 0.0


def test_the_fused_map_shares_its_mass_between_cues_subject_and_fixation():
    rng = np.random.default_rng(0)
    classic = rng.random((20, 30)).astype(np.float32) * 3
    subject = rng.random((20, 30)).astype(np.float32)
    fixation = rng.random((20, 30)).astype(np.float32)
    params = DEFAULT_FUSION
    ws, wf = params.subject_weight, params.fixation_weight
    fused, got_ws, got_wf = fuse_maps(classic, subject, fixation=fixation)
    assert (got_ws, got_wf) == (ws, wf) and 0 < wf and ws + wf < 1
    expected = ((1 - ws - wf) * mean_one(classic) + ws * mean_one(subject ** params.subject_gamma)
                + wf * mean_one(fixation ** params.fixation_gamma))
    assert np.allclose(fused, expected) and fused.mean() == pytest.approx(1.0)
    without, _, wf = fuse_maps(classic, subject)  # no fixation map: cues and subject only
    assert wf == 0.0 and np.allclose(without, (1 - ws) * mean_one(classic) + ws * mean_one(subject ** params.subject_gamma))
    flat, ws, wf = fuse_maps(classic, np.zeros_like(subject), fixation=np.zeros_like(fixation))  # nothing seen
    assert ws == wf == 0.0 and np.allclose(flat, mean_one(classic))
    with pytest.raises(ValueError, match="same grid"):
        fuse_maps(classic, subject[:10])
    with pytest.raises(ValueError, match="fixation map"):
        fuse_maps(classic, subject, fixation=fixation[:10])


def test_face_blocks_go_on_the_fused_map():
    classic = np.ones((20, 30), np.float32)
    subject = np.zeros((20, 30), np.float32)
    subject[5:15, 2:10] = 1.0
    fixation = np.zeros((20, 30), np.float32)
    fixation[2:6, 20:26] = 1.0
    boxes = [(20.0, 5.0, 25.0, 10.0, 0.9)]
    fused_result = fused_importance(classic, subject, boxes, fixation=fixation)
    fused, ws, wf = fuse_maps(classic, subject, fixation=fixation)
    assert np.allclose(fused_result.importance, add_face_blocks(fused, boxes))
    assert (fused_result.subject_weight, fused_result.fixation_weight) == (ws, wf)


@pytest.mark.parametrize("strategy", ["smart", "classic"])
@pytest.mark.parametrize("subject_x, size", [(0.18, "720x1280"), (0.82, "720x1280"), (0.2, "1080x1080")])
def test_a_subject_off_centre_is_kept(strategy, subject_x, size):
    image, box = landscape_with_subject(1600, 1000, subject_x=subject_x, subject_size=0.3)
    plan = smartframe.make_plan(image, size, strategy=strategy)
    assert plan.crop_box.contains(box, tolerance=1.0), (plan.crop_box, box)
    assert plan.reason.startswith("subject"), plan.reason


def test_smart_reports_the_maps_it_fused():
    image, _ = landscape_with_subject(900, 600, subject_x=0.3)
    analysis = analyse(image, (1.0, 1.0), Box(0, 0, 900, 600), maps=Maps.SMART, faces=False)
    assert analysis.classic.shape == analysis.subject.shape == analysis.importance.shape
    assert analysis.subject_weight == DEFAULT_FUSION.subject_weight
    assert analysis.fixation.shape == analysis.classic.shape
    assert analysis.fixation_weight == DEFAULT_FUSION.fixation_weight
    assert centroid_x(analysis.subject) < 0.5


# --- orchestration ----------------------------------------------------------------------------

@pytest.mark.parametrize("maps", [Maps.SMART, Maps.CLASSIC])
def test_analysis_is_the_same_with_one_thread_or_two(maps):
    # analyse() makes the maps on a second thread while faces are detected, except when
    # OpenCV is held to one thread (batch workers); both must give the same analysis.
    image = face_scene(1600, 900, 1100, 450, 260)
    region = Box(0, 0, 1600, 900)
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        two = analyse(image, (1.0, 1.0), region, maps=maps, faces=True)
        cv2.setNumThreads(1)
        one = analyse(image, (1.0, 1.0), region, maps=maps, faces=True)
    finally:
        cv2.setNumThreads(threads)
    assert len(two.faces) == 1 and two.faces == one.faces
    assert np.array_equal(two.importance, one.importance)
    assert (two.grid_scale, two.grid_origin) == (one.grid_scale, one.grid_origin)


@pytest.mark.parametrize("seed", range(40))
def test_dct_scale_is_the_one_pillow_drafts(seed):
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(1, 5000)), int(rng.integers(1, 5000))
    reduction = float(rng.uniform(0.5, 12))
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, "JPEG")
    with Image.open(buffer) as image:
        if reduction >= 2:  # the loader drafts only from 2 on
            image.draft(None, (max(1, -(-width // reduction)), max(1, -(-height // reduction))))
        pillow = round(width / image.size[0])
    assert dct_scale(Size(width, height), reduction) == pillow


def jpeg_bytes(image: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=92, **save)
    return buffer.getvalue()


@pytest.fixture()
def two_threads():
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    yield
    cv2.setNumThreads(threads)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_analysis_decode_is_upright(two_threads, orientation):
    # The subject sits left in the upright picture; stored rotated with an EXIF orientation.
    from tests.conftest import stored_for_orientation

    upright, box = landscape_with_subject(3200, 2000, subject_x=0.15, subject_size=0.3)
    stored = stored_for_orientation(Image.fromarray(upright), orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    plan = smartframe.make_plan(buffer.getvalue(), "360x640")
    assert plan.crop_box.contains(box, tolerance=20), (orientation, plan.crop_box, box)


def test_a_truncated_large_jpeg_gives_the_same_error_with_the_analysis_decode(two_threads):
    data = jpeg_bytes(landscape_with_subject(3200, 2000)[0])
    with pytest.raises(smartframe.errors.InputError) as parallel:
        smartframe.frame(data[: len(data) // 3], "480x270")
    cv2.setNumThreads(1)
    with pytest.raises(smartframe.errors.InputError) as serial:
        smartframe.frame(data[: len(data) // 3], "480x270")
    assert type(parallel.value) is type(serial.value) and str(parallel.value) == str(serial.value)


@pytest.mark.parametrize("strategy", ["smart", "classic"])
def test_a_jpeg_frames_to_the_same_bytes_with_one_thread_or_two(two_threads, strategy):
    # a batch worker per core runs OpenCV on one thread; framed alone, a photo may use two:
    # the output must not depend on it (the analysis always runs on the working image)
    data = jpeg_bytes(face_scene(3200, 2000, 2200, 900, 420))
    parallel = smartframe.frame(data, "480x270", faces="flag", strategy=strategy)
    cv2.setNumThreads(1)
    serial = smartframe.frame(data, "480x270", faces="flag", strategy=strategy)
    assert len(parallel.faces) == len(serial.faces) == 1 and parallel.faces == serial.faces
    assert parallel.crop_box == serial.crop_box
    assert parallel.to_bytes("png") == serial.to_bytes("png")


def test_every_strategy_gives_an_analysis_the_plan_can_use():
    image, _ = landscape_with_subject(800, 500)
    for strategy in ("smart", "classic", "centre"):
        plan = smartframe.make_plan(image, "300x300", strategy=strategy)
        assert plan.strategy.value == strategy
    assert isinstance(Analysis(importance=None), Analysis)


def test_faces_too_small_to_matter_do_not_steer_the_window_but_are_still_reported(monkeypatch):
    import smartframe.analysis as analysis_module
    from smartframe.analysis.fusion import DEFAULT_FUSION, steering_faces

    image, _ = landscape_with_subject(1600, 900)
    floor = DEFAULT_FUSION.steering_min_face_share * 900  # source pixels
    small = Face(40, 40, 40 + floor * 0.8, 40 + floor * 0.8, 0.95)  # a bystander in the corner
    large = Face(1300, 300, 1300 + floor * 2, 300 + floor * 2, 0.95)
    assert steering_faces([small, large], 900) == (large,)
    grouped = Face(600, 300, 600 + floor * 2, 300 + floor * 2, 0.8, source="group")
    assert steering_faces([large, grouped], 900) == (large,)  # accepted only by the group rule
    monkeypatch.setattr(analysis_module, "detect_source_faces", lambda *args, **kwargs: (small, large))
    for maps in (Maps.SMART, Maps.CLASSIC):
        analysis = analyse(image, (1.0, 1.0), Box(0, 0, 1600, 900), maps=maps, faces=True)
        assert analysis.faces == (small, large) and analysis.framing_faces == (large,)
        # the small face adds no block: the map is the one made with the large face alone
        monkeypatch.setattr(analysis_module, "detect_source_faces", lambda *args, **kwargs: (large,))
        alone = analyse(image, (1.0, 1.0), Box(0, 0, 1600, 900), maps=maps, faces=True)
        assert np.array_equal(analysis.importance, alone.importance)
        monkeypatch.setattr(analysis_module, "detect_source_faces", lambda *args, **kwargs: (small, large))
    plan = smartframe.make_plan(image, "720x1280", faces="flag")
    assert small in plan.faces and large in plan.faces
    assert plan.crop_box.contains(large.box)  # the large face steers (and is never cut)
