"""Face policies through the public API, on synthetic faces."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import smartframe
from smartframe.analysis import Face
from smartframe.analysis.faces import DEFAULT_MIN_SCORE, detect_faces
from smartframe.cli import main
from smartframe.errors import FacesFoundError, RedactionError
from smartframe.options import FacePolicy
from smartframe.redact import RedactionParams, _cover, redact_faces
from smartframe.scenes import draw_face, face_scene
from smartframe.targets import presets


def one_face(width=1600, height=900, cx=1100, cy=450, size=260):
    return face_scene(width, height, cx, cy, size)


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
def test_redaction_leaves_no_detectable_face(method):
    scene = one_face()
    result = smartframe.frame(scene, "1280x720", faces=method, strategy="centre")
    output = np.asarray(result.image)
    assert result.image.size == (1280, 720)
    assert len(result.redacted) >= 1 and any("redacted" in w for w in result.warnings)
    assert detect_faces(output, min_size_px=10, min_score=0.45) == ()
    # the face region changed, a far corner did not
    plain = np.asarray(smartframe.frame(scene, "1280x720", strategy="centre").image)
    box = result.redacted[0].clipped(1280, 720)
    assert not np.array_equal(output[box[1]:box[3], box[0]:box[2]], plain[box[1]:box[3], box[0]:box[2]])
    assert np.array_equal(output[:40, :40], plain[:40, :40])


def test_redaction_does_not_modify_its_input():
    pixels = one_face(800, 600, 400, 300, 220)
    before = pixels.copy()
    faces = detect_faces(pixels)
    out, covered, coverage = redact_faces(pixels, faces, FacePolicy.BLUR,
                                detect=lambda rgb, size, score: detect_faces(rgb, min_size_px=size, min_score=score),
                                min_face_px=20, min_face_score=DEFAULT_MIN_SCORE)
    assert np.array_equal(pixels, before) and len(covered) == 1 and 0 < coverage < 0.5
    assert not np.array_equal(out, before)


def test_redaction_strength_scales_with_face_size():
    rng = np.random.default_rng(0)
    for size in (40, 400):
        pixels = rng.integers(0, 256, (size * 2, size * 2, 3), dtype=np.uint8)
        _cover(pixels, (0, 0, size * 2, size * 2), FacePolicy.PIXELATE, size, RedactionParams())
        blocks = len(np.unique(pixels.reshape(-1, 3), axis=0))
        assert blocks <= (2 * RedactionParams().cells + 1) ** 2  # about cells x cells across the face


def test_a_face_that_survives_redaction_raises():
    scene = one_face(800, 600, 400, 300, 220)
    stubborn = detect_faces(scene)

    with pytest.raises(RedactionError, match="still detected"):
        redact_faces(scene, stubborn, FacePolicy.BLUR, detect=lambda rgb, size, score: stubborn,
                     min_face_px=20, min_face_score=DEFAULT_MIN_SCORE)


def test_the_recheck_looks_as_check_would_and_with_the_looser_single_face_rule():
    """After a round, what is left is what check would report (the policy's thresholds, the
    group rule on) plus what the looser single-face re-check sees: both get covered."""
    pixels = np.full((400, 600, 3), 120, np.uint8)
    first, by_check, by_recheck = (Face(50, 50, 110, 120, 0.9), Face(300, 60, 360, 130, 0.8, source="group"),
                                   Face(450, 200, 500, 260, 0.72))
    calls = []

    def detect(rgb, size, score):
        calls.append(("detect", size, score))
        return [by_check] if len(calls) == 1 else []

    def recheck(rgb, size, score):
        calls.append(("recheck", size, score))
        return [by_recheck] if len(calls) == 2 else []

    out, covered, _ = redact_faces(pixels, [first], FacePolicy.BLUR, detect=detect, recheck=recheck,
                                   min_face_px=20, min_face_score=0.8)
    assert covered == (first, by_check, by_recheck)
    assert calls[:2] == [("detect", 20, 0.8), ("recheck", 10, pytest.approx(0.7))]


def test_a_cover_the_second_detector_still_sees_is_redacted_again():
    """After a round the second detector looks at every covered place (at the re-check's looser
    score); a face it still sees there is covered again, more strongly."""
    pixels = np.full((400, 600, 3), 120, np.uint8)
    face = Face(50, 50, 110, 120, 0.9)
    looks = []

    def look_again(rgb, faces, score):
        looks.append((list(faces), score))
        return [faces[0]] if len(looks) == 1 else []

    _, covered, _ = redact_faces(pixels, [face], FacePolicy.BLUR, detect=lambda rgb, size, score: [],
                                 recheck=lambda rgb, size, score: [], look_again=look_again,
                                 min_face_px=20, min_face_score=0.8)
    assert covered == (face, face) and looks[0] == ([face], pytest.approx(0.7)) and len(looks) == 2
    with pytest.raises(RedactionError, match="still detected"):
        redact_faces(pixels, [face], FacePolicy.BLUR, detect=lambda rgb, size, score: [],
                     look_again=lambda rgb, faces, score: [face], min_face_px=20, min_face_score=0.8)


def test_reject_raises_with_the_faces_and_keep_does_nothing():
    scene = one_face()
    with pytest.raises(FacesFoundError) as error:
        smartframe.frame(scene, "1280x720", faces="reject")
    assert len(error.value.faces) == 1 and error.value.exit_code == 4
    kept = smartframe.frame(scene, "1280x720", faces="keep", strategy="centre")
    assert kept.redacted == () and not kept.warnings


def test_a_refusal_states_its_faces_in_source_pixels_and_their_output_boxes():
    """FacesFoundError.faces are source pixels, like result.faces; output_boxes are where they
    land in the output (a 1600x900 source framed to 1280x720: scale 0.8, no offset)."""
    with pytest.raises(FacesFoundError) as error:
        smartframe.frame(one_face(), "1280x720", faces="reject")
    flagged = smartframe.frame(one_face(), "1280x720", faces="flag")
    (face,), (out,) = error.value.faces, error.value.output_boxes
    assert face.box == pytest.approx(tuple(flagged.faces[0].box), abs=0.01)
    assert tuple(out) == pytest.approx(tuple(0.8 * v for v in face.box), abs=0.01)
    (data,) = error.value.faces_to_dict()
    assert data["box"] == flagged.report()["faces"][0]["box"] and set(data) == {"box", "size", "score",
                                                                                 "output_box"}


def test_flag_warns_and_reports_faces_in_source_pixels():
    flagged = smartframe.frame(one_face(), "1280x720", faces="flag")
    assert len(flagged.faces) == 1
    face = flagged.faces[0]
    assert abs((face.x0 + face.x1) / 2 - 1100) < 40 and 200 < face.size < 420  # hair included
    assert any("identifiable face" in w for w in flagged.warnings)
    assert flagged.report()["faces"][0]["score"] >= DEFAULT_MIN_SCORE


def test_a_face_too_small_in_the_output_is_not_identifiable():
    scene = one_face(4000, 2250, 2000, 1100, 150)  # 150 px in the source, ~12 px at 320x180
    small = smartframe.frame(scene, "320x180", faces="reject", strategy="centre")
    assert small.image.size == (320, 180)
    # faces are searched for at the resolution that matters: from 17 px (0.85 x 20) of the
    # output on, so a face of 12 output px is not reported at all
    assert small.faces == ()
    with pytest.raises(FacesFoundError):  # the same face at 1280x720 is ~48 px: identifiable
        smartframe.frame(scene, "1280x720", faces="reject", strategy="centre")
    # several sizes from one analysis: detection at the scale the most demanding one needs
    both = smartframe.frame_sizes(scene, ["320x180", "1280x720"], faces="flag", strategy="centre")
    assert [len(r.faces) for r in both] == [1, 1]
    assert not any("identifiable" in w for w in both[0].warnings)  # 12 px in this output
    assert any("1 identifiable face" in w for w in both[1].warnings)


def test_smart_never_cuts_a_face_that_fits():
    scene = np.full((900, 1600, 3), (200, 200, 200), np.uint8)
    scene[300:700, 1150:1550] = (20, 20, 180)  # a strong object on the right
    draw_face(scene, 260, 450, 220)  # a face near the left edge
    result = smartframe.frame(scene, "720x1280")
    face = result.faces[0]
    assert result.plan.crop_box.contains(face.box, tolerance=1.0)
    assert result.plan.reason.startswith("face")


def test_avoid_leaves_the_face_out_when_the_content_allows():
    scene = face_scene(1600, 900, 250, 450, 200)
    result = smartframe.frame(scene, "720x1280", faces="avoid")
    face = result.faces[0]
    # the window's edge may touch the face's (a sliver of float rounding, not of pixels)
    assert result.plan.crop_box.intersection(face.box).area == pytest.approx(0, abs=1e-6)
    assert result.redacted == ()
    # when it cannot (the face is in every window), what remains is redacted
    centred = face_scene(1000, 900, 500, 450, 200)
    forced = smartframe.frame(centred, "720x1280", faces="avoid")
    assert len(forced.redacted) >= 1
    assert detect_faces(np.asarray(forced.image), min_size_px=10, min_score=0.45) == ()


@pytest.mark.parametrize("preset", sorted(presets()))
def test_frame_then_check_passes_whenever_the_policy_allows(preset):
    scene = one_face()
    refuses = presets()[preset].refuses_faces
    for size in presets()[preset].sizes:
        target = f"{preset}:{size}"
        blurred = smartframe.frame(scene, target, faces="blur")
        assert smartframe.check(blurred.to_bytes(), target).ok
        kept = smartframe.frame(scene, target, faces="keep")
        report = smartframe.check(kept.to_bytes(), target)
        assert report.ok == (not refuses), report.violations
        assert len(report.faces) == 1  # reported either way
        # keep leaves the face in: where the target refuses it, the result says check will fail
        assert any("check fails this output" in w for w in kept.warnings) == refuses
        # the default policy never writes silently what the target refuses: it refuses to frame it
        if refuses:
            with pytest.raises(FacesFoundError, match=f"{preset} refuses images with human faces"):
                smartframe.frame(scene, target)
        else:
            default = smartframe.frame(scene, target)
            assert smartframe.check(default.to_bytes(), target).ok
            assert not any("face" in w for w in default.warnings)


@pytest.mark.parametrize("policy", ["auto", "keep", "flag", "blur", "pixelate", "fill", "avoid", "reject"])
@pytest.mark.parametrize("preset", sorted(presets()))
def test_every_policy_either_passes_check_or_says_why_for_every_preset(preset, policy):
    """frame then check passes for every preset whenever the face policy allows it: otherwise
    the frame call fails with a constraint error or its warnings say check will fail it."""
    scene = one_face()
    target = f"{preset}:{presets()[preset].sizes[0]}"
    try:
        result = smartframe.frame(scene, target, faces=policy)
    except FacesFoundError:
        assert presets()[preset].refuses_faces or policy == "reject"
        return
    report = smartframe.check(result.to_bytes(), target)
    if not report.ok:
        assert [v.rule for v in report.violations] == ["faces"]
        assert any("check fails this output" in w for w in result.warnings), result.warnings


def test_the_default_policy_is_auto_and_only_detects_where_it_matters():
    from smartframe.options import FrameOptions

    assert FrameOptions().faces is FacePolicy.AUTO
    assert FacePolicy.AUTO.for_target(True) is FacePolicy.REJECT
    assert FacePolicy.AUTO.for_target(False) is FacePolicy.KEEP
    assert FacePolicy.BLUR.for_target(True) is FacePolicy.BLUR
    plain = smartframe.frame(one_face(), "1280x720", strategy="centre")
    assert plain.faces == ()  # centre, a target that allows faces: no detection run
    sora = smartframe.frame(one_face(), "sora-2", strategy="centre", faces="keep")
    assert len(sora.faces) == 1  # a target that refuses faces: detection runs to warn


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill", "avoid"])
def test_redaction_of_most_of_the_frame_warns_and_of_all_of_it_fails(method):
    most = smartframe.frame(face_scene(1600, 900, 800, 450, 650), "1280x720", faces=method)
    (warning,) = [w for w in most.warnings if "redacted" in w]
    share = int(warning.rsplit("covering ", 1)[1].split("%")[0])
    assert 50 < share < 90
    with pytest.raises(RedactionError, match=r"would cover \d+% of the output") as error:
        smartframe.frame(face_scene(1600, 900, 800, 450, 1000), "1280x720", faces=method)
    assert error.value.coverage >= 0.9
    small = smartframe.frame(one_face(), "1280x720", faces=method if method != "avoid" else "blur")
    assert not any("covering" in w for w in small.warnings)


def test_reasons_say_when_a_face_is_cut_or_could_not_be_kept_out():
    tall_face = face_scene(900, 1600, 450, 700, 700)  # the face is taller than a 16:9 window
    cut = smartframe.frame(tall_face, "1280x720", faces="flag")
    assert cut.plan.reason == "faces: kept 0 of 1 whole; 1 cut: larger than the window; subject"
    centred = face_scene(1000, 900, 500, 450, 200)  # in every 9:16 window
    forced = smartframe.frame(centred, "720x1280", faces="avoid")
    assert forced.plan.reason == "faces: kept 0 of 1 out of the window; 1 whole in it: could not be kept out; centre"
    assert any("redacted (blur)" in w for w in forced.warnings)
    kept = smartframe.frame(one_face(), "720x1280", faces="flag")
    assert kept.plan.reason == "faces: kept 1 of 1 whole; moved for the faces"  # whole: no cut reported


def test_check_reports_faces_with_boxes_sizes_and_scores():
    scene = one_face(1280, 720, 640, 360, 240)
    report = smartframe.check(scene, "sora-2")
    assert not report.ok and [v.rule for v in report.violations] == ["faces"]
    face = report.to_dict()["faces"][0]
    assert set(face) == {"box", "size", "score"} and face["score"] >= DEFAULT_MIN_SCORE
    assert smartframe.check(scene, "veo-3.1").ok


def test_cli_face_policies(tmp_path):
    source = tmp_path / "face.png"
    Image.fromarray(one_face()).save(source)
    runner = CliRunner()
    rejected = runner.invoke(main, ["frame", str(source), "-s", "1280x720", "-o", str(tmp_path / "r.jpg"),
                                    "--faces", "reject"])
    assert rejected.exit_code == 4 and "face" in rejected.stderr
    assert not (tmp_path / "r.jpg").exists()
    blurred = runner.invoke(main, ["frame", str(source), "-s", "sora-2", "-o", str(tmp_path / "b.jpg"),
                                   "--faces", "blur"])
    assert blurred.exit_code == 0, blurred.output
    check = runner.invoke(main, ["check", str(tmp_path / "b.jpg"), "-s", "sora-2", "--json"])
    assert check.exit_code == 0, check.output
    raw = runner.invoke(main, ["check", str(source), "-s", "sora-2", "--json"])
    assert raw.exit_code == 1


@pytest.mark.parametrize("policy", ["auto", "reject", "keep", "flag"])
def test_a_face_seen_only_in_the_output_still_counts_for_a_target_that_refuses_faces(policy):
    # A face near the size threshold can show in the resampled crop and not in the source at
    # its scale; the output is what the target receives, so it is looked at as check will.
    from smartframe.options import FrameOptions
    from smartframe.redact import apply_face_policy

    scene = np.full((900, 1600, 3), 120, np.uint8)
    options = FrameOptions(faces=policy, strategy="centre")
    plan = smartframe.make_plan(scene, "sora-2", options=options)
    assert plan.target.refuses_faces and plan.faces == ()
    pixels = np.full((plan.target.size[1], plan.target.size[0], 3), 120, np.uint8)
    seen = [Face(100, 100, 140, 150, 0.9)]
    if policy in ("auto", "reject"):
        with pytest.raises(FacesFoundError):
            apply_face_policy(pixels, plan, options, detect=lambda rgb, size, score: seen)
    else:
        _, warned, _ = apply_face_policy(pixels, plan, options, detect=lambda rgb, size, score: seen)
        assert any("1 identifiable face" in w and "refuses" in w for w in warned.warnings)
    # a face under the size that matters in the output does not count
    tiny = [Face(100, 100, 110, 110, 0.95)]
    _, quiet, _ = apply_face_policy(pixels, plan, options, detect=lambda rgb, size, score: tiny)
    assert not any("identifiable" in w for w in quiet.warnings)
