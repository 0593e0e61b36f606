"""Face detection: decoding, windows, both backends, recovery; synthetic faces only."""

from __future__ import annotations

import shutil
import threading

import cv2
import numpy as np
import pytest

import smartframe.analysis.faces as fp
from smartframe.analysis import model_files
from smartframe.analysis.faces import backends
from smartframe.errors import ModelError
from smartframe.scenes import face_scene

HAVE_MP = fp.mediapipe_available()
BACKENDS = ["opencv"] + (["mediapipe"] if HAVE_MP else [])


@pytest.fixture(scope="module", params=BACKENDS)
def detector(request):
    det = fp.FaceDetector(request.param)
    yield det
    det.close()


@pytest.fixture(scope="module")
def cv_detector():
    det = fp.FaceDetector("opencv")
    yield det
    det.close()


# ----------------------------------------------------------------------------- models
def test_model_checksums_verified():
    for spec in (fp.SHORT_RANGE, fp.FULL_RANGE):
        path = model_files.resolve(spec.file)
        assert model_files.sha256_file(path) == spec.file.sha256


def test_checksum_mismatch_raises_clear_error(tmp_path):
    src = model_files.resolve(fp.FULL_RANGE.file)
    bad = tmp_path / fp.FULL_RANGE.file.filename
    shutil.copy(src, bad)
    data = bytearray(bad.read_bytes())
    data[1000] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError) as exc:
        model_files.resolve(fp.FULL_RANGE.file, tmp_path)
    msg = str(exc.value)
    assert "SHA-256" in msg and fp.FULL_RANGE.file.sha256 in msg and str(bad) in msg
    with pytest.raises(ModelError):
        fp.OpenCVBlazeFaceBackend(fp.FULL_RANGE, tmp_path)


def test_missing_model_raises(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        model_files.resolve(fp.SHORT_RANGE.file, tmp_path)


# ----------------------------------------------------------------------------- decoding
def test_anchor_layout():
    a = fp.ssd_anchors(fp.SHORT_RANGE)
    assert a.shape == (896, 2)
    # stride 8: 16x16 cells x 2 anchors, then stride 16: 8x8 cells x 6 anchors
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[512:518], np.repeat(a[512:513], 6, 0))
    f = fp.ssd_anchors(fp.FULL_RANGE)
    assert f.shape == (2304, 2)
    np.testing.assert_allclose(f[48], [0.5 / 48, 1.5 / 48])


def test_decode_single_anchor():
    spec = fp.FULL_RANGE
    anchors = fp.ssd_anchors(spec)
    raw = np.zeros((1, 2304, 16), np.float32)
    logits = np.full((1, 2304), -10.0, np.float32)
    i = 48 * 10 + 20  # row 10, col 20
    raw[0, i, :4] = [2.0, -1.0, 40.0, 30.0]  # dx, dy, w, h in model pixels
    raw[0, i, 4:6] = [-5.0, -5.0]
    logits[0, i] = 3.0
    boxes, kps, scores, b = fp.decode_detections(raw, logits, anchors, 192, 0.5)
    assert len(scores) == 1 and b[0] == 0
    cx, cy = anchors[i] + np.array([2.0, -1.0]) / 192
    np.testing.assert_allclose(boxes[0], [cx - 20 / 192, cy - 15 / 192, cx + 20 / 192, cy + 15 / 192], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], anchors[i] + np.array([-5.0, -5.0]) / 192, atol=1e-6)
    np.testing.assert_allclose(scores[0], 1 / (1 + np.exp(-3.0)), rtol=1e-6)


def test_weighted_nms_merges_cluster():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    b, s, _ = fp.weighted_nms(boxes, scores, None, 0.3)
    assert len(s) == 2 and s[0] == pytest.approx(0.9) and s[1] == pytest.approx(0.8)
    assert b[0, 0] == pytest.approx(0.6 / 1.5)  # score-weighted mean of x0 = 0 and 1


WINDOWS = [
    fp.Window.square(1000.0, 500.0, 2000.0),  # 10x downscale, inside the image
    fp.Window(-100.0, 250.0, 3000.0, 2000.0),  # squashed 3:2, overhangs the left border
    fp.Window.square(1480.0, 980.0, 150.0),  # small verification-like window (upscaled)
    fp.Window.square(-1000.0, -1500.0, 6000.0),  # zoomed-out window larger than the image
]


@pytest.mark.parametrize("win", WINDOWS)
def test_window_tensor_mapping_is_exact(win):
    """A blob at known input pixels lands where the returned mapping says."""
    img = np.zeros((3000, 4000, 3), np.uint8)
    img[1000:1100, 1500:1600] = 255  # centroid (1550, 1050) with x1/y1 exclusive
    tile, (ox, oy, sx, sy) = fp.window_tensor(fp.Pyramid(img), win, 192)
    wgt = tile[:, :, 0].astype(np.float64)
    assert wgt.sum() > 0
    ys, xs = np.mgrid[0:192, 0:192]
    u = (wgt * (xs + 0.5)).sum() / wgt.sum()  # centroid in tile pixel units (centres)
    v = (wgt * (ys + 0.5)).sum() / wgt.sum()
    assert ox + u / sx == pytest.approx(1550.0, abs=0.25 / sx + 0.5)
    assert oy + v / sy == pytest.approx(1050.0, abs=0.25 / sy + 0.5)
    # the mapping is the window's own scale up to the crop's integer rounding
    assert sx == pytest.approx(192 / win.w, rel=0.01) and sy == pytest.approx(192 / win.h, rel=0.01)


@pytest.mark.parametrize("win", WINDOWS[:2])
def test_decoded_box_uses_window_mapping(cv_detector, monkeypatch, win):
    """decode + mapping: a known raw detection comes back at the mapped input pixels."""
    be = cv_detector.full
    anchors = fp.ssd_anchors(fp.FULL_RANGE)
    i = 48 * 24 + 24  # the anchor at the tile centre (24.5/48)
    raw = np.zeros((1, 2304, 16), np.float32)
    raw[0, i, 2:4] = 48.0  # a 48x48 model-pixel box
    logits = np.full((1, 2304), -20.0, np.float32)
    logits[0, i] = 5.0
    monkeypatch.setattr(be, "infer", lambda tiles: (np.repeat(raw, len(tiles), 0), np.repeat(logits, len(tiles), 0)))
    img = np.zeros((3000, 4000, 3), np.uint8)
    _, (ox, oy, sx, sy) = fp.window_tensor(fp.Pyramid(img), win, 192)
    (f,) = be.detect_windows(fp.Pyramid(img), [win], min_score=0.5)
    c = anchors[i] * 192
    assert f.x0 == pytest.approx(ox + (c[0] - 24) / sx, abs=1e-3 * win.w)
    assert f.y0 == pytest.approx(oy + (c[1] - 24) / sy, abs=1e-3 * win.h)
    assert f.x1 - f.x0 == pytest.approx(48 / sx, rel=1e-4)
    assert f.y1 - f.y0 == pytest.approx(48 / sy, rel=1e-4)
    assert f.center[0] == pytest.approx(win.x0 + c[0] / 192 * win.w, abs=0.01 * win.w)


# ----------------------------------------------------------------------------- detection
@pytest.mark.parametrize("fill", [0, 128, 255])
def test_blank_image_has_no_face(detector, fill):
    img = np.full((480, 640, 3), fill, np.uint8)
    assert detector.detect(img) == []


def test_noise_has_no_face(detector):
    img = np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    assert detector.detect(img) == []


def test_synthetic_face_found(detector):
    img = face_scene(640, 480, 256, 240, 200)
    faces = detector.detect(img)
    assert len(faces) == 1
    f = faces[0]
    assert f.score >= fp.DEFAULT_MIN_SCORE
    assert abs(f.center[0] - 256) < 20 and abs(f.center[1] - 255) < 30
    assert 150 < f.size < 260
    assert f.keypoints is not None and len(f.keypoints) == 6


def test_deterministic(detector):
    img = face_scene(1280, 720, 500, 380, 140)
    a = detector.detect(img)
    b = detector.detect(img.copy())
    assert a == b and len(a) == 1


def test_coordinates_follow_downscale(detector):
    """Same scene at 1/4 resolution: boxes are in each input's own pixels."""
    big = face_scene(4000, 3000, 1600, 1500, 800)
    small = cv2.resize(big, (1000, 750), interpolation=cv2.INTER_AREA)
    fb, fs = detector.detect(big), detector.detect(small)
    assert len(fb) == 1 and len(fs) == 1
    for a, b in zip((fb[0].x0, fb[0].y0, fb[0].x1, fb[0].y1), (fs[0].x0, fs[0].y0, fs[0].x1, fs[0].y1)):
        assert a == pytest.approx(4 * b, abs=0.03 * fb[0].size)
    assert 600 < fb[0].size < 1000


def test_gray_and_rgba_inputs(detector):
    img = face_scene(640, 480, 320, 240, 180)
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    assert len(detector.detect(rgba)) == 1
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    assert len(detector.detect(gray)) == 1
    with pytest.raises(TypeError):
        detector.detect(img.astype(np.float32))


def test_min_size_and_score_filters(detector):
    img = face_scene(640, 480, 256, 240, 200)
    assert detector.detect(img, min_size_px=400) == []
    assert detector.detect(img, min_score=0.99) == []


def test_threads_share_one_detector(detector):
    imgs = [face_scene(800, 600, 200 + 40 * i, 300, 160) for i in range(6)]
    expected = [detector.detect(im) for im in imgs]
    assert all(len(faces) == 1 for faces in expected)
    results: dict[int, list] = {}

    def work(i):
        for _ in range(3):
            results[i] = detector.detect(imgs[i])

    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [results[i] for i in range(6)] == expected


def test_plan_windows_cover_image():
    for w, h in [(640, 480), (480, 640), (2000, 500), (300, 300), (4000, 3000), (1920, 1080)]:
        for tiles in (1, 2, 4):
            plan = fp.plan_windows(w, h, min_size_px=20, max_full_tiles=tiles)
            assert 1 <= len(plan.full_windows) <= tiles
            cover = np.zeros((h, w), bool)
            for win in plan.full_windows:
                assert max(win.w, win.h) / min(win.w, win.h) <= 1.5 + 1e-9
                x0, y0 = max(0, int(win.x0)), max(0, int(win.y0))
                cover[y0 : int(np.ceil(win.y0 + win.h)), x0 : int(np.ceil(win.x0 + win.w))] = True
            assert cover.all()
            assert plan.reliable_min_px >= 20
    # a 3:2 photo fits one squashed window: no letterbox padding
    (win,) = fp.plan_windows(1200, 800, min_size_px=20, max_full_tiles=1).full_windows
    assert (win.x0, win.y0, win.w, win.h) == (0, 0, 1200, 800)
    unlimited = fp.plan_windows(2000, 500, min_size_px=20, max_full_tiles=None)
    assert unlimited.reliable_min_px == pytest.approx(20)
    # the pyramid keeps the whole-image window, so large faces stay visible
    assert unlimited.full_windows[0].w == 2000 and unlimited.full_windows[0].x0 == 0


def test_face_clipped():
    f = fp.Face(-5.2, 10.5, 50.1, 700.0, 0.9)
    assert f.clipped(40, 600) == (0, 10, 40, 600)
    assert f.width == pytest.approx(55.3)


def test_closed_detector_refuses():
    det = fp.FaceDetector("opencv")
    det.close()
    with pytest.raises(RuntimeError):
        det.detect(np.zeros((10, 10, 3), np.uint8))


def test_opencv_backend_recovers_after_failure(cv_detector):
    be = cv_detector.full

    class Broken:
        def setInput(self, *a):
            pass

        def forward(self, *a):
            raise cv2.error("simulated failure")

    be._net = Broken()
    img = face_scene(640, 480, 256, 240, 200)
    assert len(cv_detector.detect(img)) == 1  # reloaded and retried
    assert not isinstance(be._net, Broken)


@pytest.mark.skipif(not HAVE_MP, reason="mediapipe not installed")
def test_mediapipe_recovers_after_failure():
    det = fp.FaceDetector("mediapipe")
    try:
        be = det.short
        real = be._det

        class Flaky:
            def detect(self, *a):
                raise RuntimeError("simulated graph failure")

            def close(self):
                real.close()

        be._det = Flaky()
        img = face_scene(320, 320, 160, 170, 170)
        faces = det.detect(img)
        assert be.recreated == 1 and len(faces) == 1
    finally:
        det.close()


@pytest.mark.skipif(not HAVE_MP, reason="mediapipe not installed")
def test_mediapipe_recovers_from_a_really_broken_graph():
    """A failed Run() leaves a mediapipe graph unusable ("Graph has errors"); the backend
    must notice on its next call and rebuild it."""
    import mediapipe as mp

    be = fp.MediaPipeShortBackend()
    try:
        bad = mp.Image(image_format=mp.ImageFormat.GRAY8, data=np.zeros((128, 128, 1), np.uint8))
        with pytest.raises(Exception):
            be._det.detect(bad)  # breaks the native graph
        img = face_scene(320, 320, 160, 170, 170)
        faces = be.detect(img, min_score=0.5)
        assert be.recreated == 1 and len(faces) == 1
    finally:
        be.close()


@pytest.mark.skipif(not HAVE_MP, reason="mediapipe not installed")
def test_mediapipe_and_opencv_short_range_agree():
    img = face_scene(640, 480, 300, 240, 260)
    mp_be = fp.MediaPipeShortBackend()
    try:
        cv_be = fp.OpenCVBlazeFaceBackend(fp.SHORT_RANGE)
        a, b = mp_be.detect(img, min_score=0.5), cv_be.detect(img, min_score=0.5)
        assert len(a) == len(b) == 1
        assert a[0].score == pytest.approx(b[0].score, abs=0.01)
        q = max(img.shape) / mp_be.canvas  # mediapipe boxes are integers on the canvas
        for u, v in zip((a[0].x0, a[0].y0, a[0].x1, a[0].y1), (b[0].x0, b[0].y0, b[0].x1, b[0].y1)):
            assert abs(u - v) <= q + 1
    finally:
        mp_be.close()


def test_fallback_without_mediapipe(monkeypatch):
    monkeypatch.setattr(backends, "mediapipe_available", lambda: False)
    det = fp.FaceDetector("auto")
    try:
        assert det.backend == "opencv"
        assert len(det.detect(face_scene(640, 480, 256, 240, 200))) == 1
    finally:
        det.close()


def test_shared_detector_is_reused():
    a = fp.get_detector("opencv")
    assert fp.get_detector("opencv") is a
    faces = fp.detect_faces(face_scene(640, 480, 256, 240, 200), detector=a)
    assert len(faces) == 1


