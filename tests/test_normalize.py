"""normalize: EDN global pose normalization (scale and floor position of the source mapped onto the target's)."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from dancenow import conf
from dancenow.errors import UserError
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.normalization import apply_normalization, fit_normalization, frame_measures, smooth_keypoints
from dancenow.stages.normalize import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# BODY_25 stick figure: (x, y) in units of body height, y from eye level (0) down to the ankles (1)
TEMPLATE = np.array([
    (0, .03), (0, .12), (-.12, .14), (-.16, .30), (-.18, .45), (.12, .14), (.16, .30), (.18, .45), (0, .50),
    (-.07, .50), (-.08, .75), (-.08, 1.0), (.07, .50), (.08, .75), (.08, 1.0), (-.02, 0), (.02, 0), (-.05, .01),
    (.05, .01), (.12, 1.02), (.14, 1.01), (.07, 1.01), (-.12, 1.02), (-.14, 1.01), (-.07, 1.01)])
MOVING = [3, 4, 6, 7, 10, 13, 19, 20, 21, 22, 23, 24]  # arms, knees, feet: jitter; head and ankles stay exact


def make_poses(ankle_y, height, center_x, seed=0):
    """A poses dict of bodies whose lower ankle is at ankle_y, eyes at ankle_y - height; random face and hands."""
    rng = np.random.default_rng(seed)
    ankle_y, height, center_x = (np.asarray(v, np.float64) for v in (ankle_y, height, center_x))
    n = len(ankle_y)
    body = np.zeros((n, 25, 3))
    body[..., 0] = center_x[:, None] + TEMPLATE[:, 0] * height[:, None]
    body[..., 1] = ankle_y[:, None] + (TEMPLATE[:, 1] - 1) * height[:, None]
    body[:, MOVING, :2] += rng.uniform(-0.05, 0.05, (n, len(MOVING), 2)) * height[:, None, None]
    lifted = np.where(rng.random(n) < 0.5, 11, 14)  # one foot a little off the floor
    body[np.arange(n), lifted, 1] -= rng.uniform(0, 0.05, n) * height
    body[..., 2] = rng.uniform(0.5, 1.0, (n, 25))
    poses = {"body": body}
    for part, k, anchor in (("face", 70, 0), ("left_hand", 21, 7), ("right_hand", 21, 4)):
        kp = np.zeros((n, k, 3))
        kp[..., :2] = body[:, anchor, None, :2] + rng.normal(0, 0.02, (n, k, 2)) * height[:, None, None]
        kp[..., 2] = rng.uniform(0.2, 1.0, (n, k))
        kp[rng.random((n, k)) < 0.1] = 0.0  # missing
        poses[part] = kp
    return poses


def transform(poses, s, b, order=None):
    """s * poses + b on present keypoints, frames reordered by `order`."""
    out = {}
    for part, kp in poses.items():
        kp = kp.copy()
        present = kp[..., 2] > 0
        kp[..., :2] = kp[..., :2] * s + np.asarray(b)
        kp[~present] = 0.0
        out[part] = kp if order is None else kp[order]
    return out


def walk(n, far, close, horizon, gain, cx=240.0, phase=0.0):
    """Walking toward and away from the camera: ankle y between far and close, height = gain (ankle y - horizon)."""
    k = np.arange(n)
    ankle = (far + close) / 2 + (close - far) / 2 * np.sin(2 * np.pi * k / 60 + phase)
    return ankle, gain * (ankle - horizon), cx + 30 * np.sin(2 * np.pi * k / 45)


def pause_walk(far, close, pause, steps, horizon, gain):
    """Stand at far for `pause` frames, walk to close in `steps` steps, stand, walk back."""
    between = np.linspace(far, close, steps + 2)[1:-1]
    ankle = np.concatenate([np.full(pause, far), between, np.full(pause, close), between[::-1]])
    return ankle, gain * (ankle - horizon), np.full(len(ankle), 240.0)


def write_poses_file(path, poses, fps, width, height, sha="ab" * 32):
    n = len(poses["body"])
    data = dict(poses, detected=np.ones(n, bool), filled=np.zeros(n, bool))
    with h5.create(path) as f:
        poses_io.write_poses(f, data, {"fps": fps, "height": height, "width": width})
        h5.FrameGeometry(1.0, 0, 0).to_attrs(f.attrs)
        f.attrs["video_sha256"] = sha
    return path


def stage_cfg(tmp_path, src, tgt, *extra):
    return conf.load([f"normalize.source={src}", f"normalize.target={tgt}",
                        f"normalize.output={tmp_path / 'out' / 'normalized.h5'}",
                        f"normalize.plot={tmp_path / 'out' / 'normalize.png'}", *extra])


# ---- the pure functions -------------------------------------------------------------------------------

def test_recovers_known_scale_and_offset():
    s, b = 1.37, np.array([-55.5, 23.25])
    src = make_poses(*walk(150, far=200, close=400, horizon=40, gain=0.9), seed=1)
    src["body"][[10, 11, 70], 11, 2] = 0.0  # frames with no ankle visible: scale and shift from their neighbours
    src["body"][[10, 11, 70], 14, 2] = 0.0
    src["body"][[5, 90], :, 2] = 0.0  # nobody at all
    src["body"][[5, 90], :, :2] = 0.0
    order = np.random.default_rng(2).permutation(150)  # the target: other timing, not the same sequence
    tgt = transform(src, s, b, order)

    scale, translation, stats = fit_normalization(src["body"], tgt["body"])
    assert stats["mode"] == "interpolated"
    np.testing.assert_allclose(scale, s, atol=1e-4)
    np.testing.assert_allclose(translation, np.broadcast_to(b, translation.shape), atol=1e-4)
    expected = transform(src, s, b)
    for part in poses_io.POSE_PARTS:
        out = apply_normalization(src[part], scale, translation)
        np.testing.assert_allclose(out, expected[part], atol=1e-4)
        assert (out[src[part][..., 2] == 0] == 0).all()  # missing stays missing


def test_heights_end_at_the_head_keypoints_both_videos_have():
    # a made-up dance (`dancenow choreo`) has a nose but no eyes or ears; the target has all of them
    s, b = 0.8, np.array([10.0, -30.0])
    tgt = transform(make_poses(*walk(120, far=200, close=400, horizon=40, gain=0.9), seed=8), s, b)
    src = make_poses(*walk(120, far=200, close=400, horizon=40, gain=0.9), seed=8)
    src["body"][:, [15, 16, 17, 18]] = 0.0  # REye, LEye, REar, LEar
    scale, translation, stats = fit_normalization(src["body"], tgt["body"])
    assert stats["head_keypoints"] == "Nose"
    np.testing.assert_allclose(scale, s, atol=1e-4)  # eyes-to-ankle over nose-to-ankle would be 3 % too big
    np.testing.assert_allclose(translation[:, 1], b[1], atol=1e-4)  # (x: the mean x of other keypoints)
    full = fit_normalization(tgt["body"], tgt["body"])[2]
    assert full["head_keypoints"] == "Nose,REye,LEye,REar,LEar"
    src["body"][:, 0] = 0.0  # no head keypoint at all
    with pytest.raises(UserError, match="no head keypoint"):
        fit_normalization(src["body"], tgt["body"])


def test_scale_interpolates_between_far_and_close():
    # source: horizon at y=40, height 0.9 (y - 40); target films from elsewhere: horizon at 150, stronger perspective
    src_ankle, src_h, src_x = pause_walk(200, 400, pause=20, steps=10, horizon=40, gain=0.9)
    tgt_ankle, tgt_h, tgt_x = pause_walk(260, 440, pause=15, steps=8, horizon=150, gain=1.3)
    src = make_poses(src_ankle, src_h, src_x, seed=3)
    tgt = make_poses(tgt_ankle, tgt_h, tgt_x + 50, seed=4)

    scale, translation, stats = fit_normalization(src["body"], tgt["body"])
    assert stats["mode"] == "interpolated"
    s_far, s_close = 1.3 * 110 / (0.9 * 160), 1.3 * 290 / (0.9 * 360)
    assert stats["scale_far"] == pytest.approx(s_far, rel=1e-9)
    assert stats["scale_close"] == pytest.approx(s_close, rel=1e-9)
    np.testing.assert_allclose(scale[src_ankle == 200], s_far, rtol=1e-9)
    np.testing.assert_allclose(scale[src_ankle == 400], s_close, rtol=1e-9)
    t = (src_ankle - 200) / 200  # linear in the source's ankle position in between
    np.testing.assert_allclose(scale, s_far + t * (s_close - s_far), rtol=1e-9)
    # the floor lines: far maps onto the target's far, close onto close, linearly between
    after = frame_measures(apply_normalization(src["body"], scale, translation), 0.3)
    np.testing.assert_allclose(after["ankle_y"], 260 + t * 180, atol=1e-6)
    np.testing.assert_allclose(after["height"][src_ankle == 200], 1.3 * 110, rtol=1e-9)  # the target's heights
    np.testing.assert_allclose(after["height"][src_ankle == 400], 1.3 * 290, rtol=1e-9)
    np.testing.assert_allclose(after["height"], scale * src_h, rtol=1e-9)


@pytest.mark.parametrize("static", ["source", "target"])
def test_one_depth_gives_one_scale(static):
    rng = np.random.default_rng(5)
    still = (300 + rng.uniform(-0.5, 0.5, 80), 250 + rng.uniform(-3, 0, 80), np.full(80, 200.0))
    moving = walk(100, far=220, close=420, horizon=60, gain=1.1)
    src = make_poses(*(still if static == "source" else moving), seed=6)
    tgt = make_poses(*(moving if static == "source" else still), seed=7)

    scale, translation, stats = fit_normalization(src["body"], tgt["body"])
    assert stats["mode"] == "single" and stats[static]["static"]
    assert np.isfinite(scale).all() and np.ptp(scale) == 0 and scale[0] > 0
    assert np.ptp(translation, axis=0).max() == 0
    assert scale[0] == pytest.approx(stats["target"]["height_median"] / stats["source"]["height_median"])
    after = frame_measures(apply_normalization(src["body"], scale, translation), 0.3)
    assert np.median(after["ankle_y"]) == pytest.approx(stats["target"]["median"], abs=1e-6)


def test_smoothing_is_confidence_aware():
    n = 40
    kp = np.zeros((n, 2, 3))
    kp[:, :, 0] = 100.0 + np.arange(n)[:, None]  # a straight line: smoothing keeps it inside the sequence
    kp[:, :, 1] = 50.0
    kp[:, :, 2] = 1.0
    kp[15:18, 0] = 0.0  # missing for three frames
    kp[25, 1, 1] = 80.0  # one outlier
    out = smooth_keypoints(kp, 2.0)
    assert (out[15:18, 0] == 0).all()  # stays missing
    assert (out[..., 2] == kp[..., 2]).all()
    np.testing.assert_allclose(out[[12, 13, 14, 18, 19, 20], 0, 1], 50.0)  # the gap's neighbours not pulled to 0
    np.testing.assert_allclose(out[6:9, 0, 0], kp[6:9, 0, 0], atol=1e-9)  # a line stays a line
    assert 50 < out[25, 1, 1] < 60 and out[24, 1, 1] > 50  # the outlier is spread out
    np.testing.assert_array_equal(smooth_keypoints(kp, 0), kp)


# ---- the stage ----------------------------------------------------------------------------------------

def test_stage_end_to_end(tmp_path):
    src = make_poses(*walk(45, far=250, close=420, horizon=30, gain=0.8), seed=8)
    tgt = make_poses(*walk(30, far=150, close=220, horizon=0, gain=0.7, cx=120), seed=9)
    src_path = write_poses_file(tmp_path / "src.h5", src, fps=15.0, width=480, height=480, sha="1" * 64)
    tgt_path = write_poses_file(tmp_path / "tgt.h5", tgt, fps=30.0, width=240, height=320, sha="2" * 64)
    cfg = stage_cfg(tmp_path, src_path, tgt_path)
    run(cfg)

    out = poses_io.read_poses(tmp_path / "out" / "normalized.h5")
    for part, k in poses_io.POSE_PARTS.items():
        assert out[part].shape == (45, k, 3) and out[part].dtype == np.float32
        np.testing.assert_array_equal(out[part][..., 2], src[part][..., 2].astype(np.float32))
    assert out["scale"].shape == (45,) and out["translation"].shape == (45, 2)
    assert np.isfinite(out["scale"]).all() and (out["scale"] > 0).all()
    a = out["attrs"]
    assert (a["width"], a["height"], a["fps"]) == (240, 320, 15.0)
    assert a["stage"] == "normalize" and a["video_sha256"] == "1" * 64 and a["target_video_sha256"] == "2" * 64
    png = (tmp_path / "out" / "normalize.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.pyplot as plt

    assert plt.imread(tmp_path / "out" / "normalize.png").shape[2] in (3, 4)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["normalize.png", "normalized.h5"]
    again = tmp_path / "again"  # the same bytes wherever it is written
    run(conf.load([f"normalize.source={src_path}", f"normalize.target={tgt_path}",
                     f"normalize.output={again / 'n.h5'}", f"normalize.plot={again / 'n.png'}"]))
    assert (again / "n.h5").read_bytes() == (tmp_path / "out" / "normalized.h5").read_bytes()


def test_target_without_full_body_frame_fails_cleanly(tmp_path):
    src = make_poses(*walk(30, far=250, close=420, horizon=30, gain=0.8), seed=10)
    tgt = make_poses(*walk(30, far=250, close=420, horizon=30, gain=0.8), seed=11)
    tgt["body"][:, [11, 14], 2] = 0.0  # the feet never in the picture
    src_path = write_poses_file(tmp_path / "src.h5", src, fps=15.0, width=480, height=480)
    tgt_path = write_poses_file(tmp_path / "tgt.h5", tgt, fps=15.0, width=480, height=480)
    with pytest.raises(UserError, match="cannot normalize: the target .* no frame that shows the whole body"):
        run(stage_cfg(tmp_path, src_path, tgt_path))
    out_dir = tmp_path / "out"
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_bad_setting_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="close_tolerance"):
        run(stage_cfg(tmp_path, tmp_path / "a.h5", tmp_path / "b.h5", "normalize.close_tolerance=2"))
    with pytest.raises(UserError, match="not found"):
        run(stage_cfg(tmp_path, tmp_path / "a.h5", tmp_path / "b.h5"))


# ---- real people --------------------------------------------------------------------------------------

# BODY_25 slot -> BlazePose landmark, or a pair whose midpoint it is (Neck, MidHip); small toes take the big toe
BLAZE = [0, (11, 12), 12, 14, 16, 11, 13, 15, (23, 24), 24, 26, 28, 23, 25, 27, 5, 2, 8, 7, 31, 31, 29, 32, 32, 30]


def mediapipe_poses(video):
    """poses dict (body from mediapipe Holistic's pose landmarks; face and hands left missing), fps, width, height."""
    cv2 = pytest.importorskip("cv2")
    mp = pytest.importorskip("mediapipe")
    cap = cv2.VideoCapture(str(video))
    fps, bodies = cap.get(cv2.CAP_PROP_FPS), []
    with mp.solutions.holistic.Holistic(model_complexity=1, static_image_mode=False) as holistic:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            height, width = frame.shape[:2]
            r = holistic.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            body = np.zeros((25, 3))
            if r.pose_landmarks is not None:
                bp = np.array([(lm.x * width, lm.y * height, lm.visibility) for lm in r.pose_landmarks.landmark])
                for i, j in enumerate(BLAZE):
                    body[i] = bp[j] if isinstance(j, int) else (*(bp[j[0], :2] + bp[j[1], :2]) / 2,
                                                                min(bp[j[0], 2], bp[j[1], 2]))
            bodies.append(body)
    cap.release()
    n = len(bodies)
    poses = {"body": np.array(bodies), "face": np.zeros((n, 70, 3)), "left_hand": np.zeros((n, 21, 3)),
             "right_hand": np.zeros((n, 21, 3))}
    return poses, fps, width, height


@pytest.fixture(scope="module")
def real_pair():
    videos = [DATA / "video" / "dancer_man.mp4", DATA / "video" / "target_woman.mp4"]
    if not all(v.is_file() for v in videos):
        msg = f"real test videos not found under {DATA / 'video'}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return [mediapipe_poses(v) for v in videos]


def test_real_pair_lands_on_target_floor(tmp_path, real_pair):
    (src, src_fps, src_w, src_h), (tgt, tgt_fps, tgt_w, tgt_h) = real_pair
    src_path = write_poses_file(tmp_path / "src.h5", src, src_fps, src_w, src_h)
    tgt_path = write_poses_file(tmp_path / "tgt.h5", tgt, tgt_fps, tgt_w, tgt_h)
    run(stage_cfg(tmp_path, src_path, tgt_path))
    out = poses_io.read_poses(tmp_path / "out" / "normalized.h5")
    assert len(out["body"]) == len(src["body"]) and (out["attrs"]["width"], out["attrs"]["height"]) == (tgt_w, tgt_h)

    t, n = frame_measures(tgt["body"], 0.3), frame_measures(out["body"], 0.3)
    tgt_ankle, out_ankle = np.median(t["ankle_y"][t["full"]]), np.median(n["ankle_y"][n["full"]])
    tgt_height, out_height = (np.percentile(m["height"][m["full"]], 90) for m in (t, n))
    ankle_err = abs(out_ankle - tgt_ankle) / tgt_h
    height_err = abs(out_height / tgt_height - 1)
    print(f"\nreal pair: median ankle y {out_ankle:.1f} vs target {tgt_ankle:.1f} px ({100 * ankle_err:.2f} % of "
          f"{tgt_h} px); body height {out_height:.1f} vs target {tgt_height:.1f} px ({100 * height_err:.2f} %); "
          f"scale {out['scale'].min():.3f}..{out['scale'].max():.3f}")
    assert ankle_err < 0.03
    assert height_err < 0.10
    with h5py.File(tmp_path / "out" / "normalized.h5") as f:
        assert f.attrs["video_sha256"] == "ab" * 32
    assert (tmp_path / "out" / "normalize.png").read_bytes()[:4] == b"\x89PNG"
