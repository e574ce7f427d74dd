"""synth: procedural performers rendered to mp4, checked with the real pose estimator (mediapipe Holistic)."""

import cv2
import numpy as np
import pytest

from dancenow import cli, conf, synth
from dancenow.stages import synth as synth_stage
from dancenow.errors import UserError
from dancenow.io.video import has_audio
from dancenow.synth import audio, body

SIZE, FPS, SECONDS = 256, 15, 3.0
N = int(SECONDS * FPS)
PERFORMERS = ["dancer", "target_a", "target_b"]


def render(out, performer, seed=0, seconds=SECONDS, size=SIZE, audio_on=True):
    """A clip of `size` x `size` pixels, or of synth's default size with size=None."""
    sizes = [] if size is None else [f"synth.width={size}", f"synth.height={size}"]
    cfg = conf.load([f"synth.performer={performer}", f"synth.output={out}", f"synth.seconds={seconds}",
                     f"synth.fps={FPS}", *sizes, f"synth.audio={str(audio_on).lower()}", f"seed={seed}"])
    synth_stage.run(cfg)
    return out


def read(path):
    cap = cv2.VideoCapture(str(path))
    fps, w, h = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(
        cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames), fps, w, h


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    return {p: render(d / f"{p}.mp4", p) for p in PERFORMERS}


@pytest.fixture(scope="module")
def detections(clips):
    """performer -> (landmarks (N, 33, 2) in pixels, NaN where nobody was found; true joints from the module)."""
    mp = pytest.importorskip("mediapipe")
    out = {}
    for p, path in clips.items():
        frames, *_ = read(path)
        lm = np.full((len(frames), 33, 2), np.nan)
        with mp.solutions.holistic.Holistic(model_complexity=1, static_image_mode=False) as holistic:
            for i, f in enumerate(frames):
                r = holistic.process(f)
                if r.pose_landmarks is not None:
                    lm[i] = [(q.x * SIZE, q.y * SIZE) for q in r.pose_landmarks.landmark]
        out[p] = lm, synth.skeleton(p, 0, len(frames), FPS, SIZE, SIZE)
    return out


@pytest.mark.parametrize("performer", PERFORMERS)
def test_clip_has_expected_frames_size_and_audio(clips, performer):
    frames, fps, w, h = read(clips[performer])
    assert (len(frames), w, h) == (N, SIZE, SIZE)
    assert fps == pytest.approx(FPS, abs=0.01)
    assert has_audio(clips[performer])
    assert frames.std() > 10  # not a blank picture


@pytest.mark.parametrize("performer", PERFORMERS)
def test_pose_estimator_finds_the_performer_where_it_is(detections, performer):
    lm, truth = detections[performer]
    found = ~np.isnan(lm[:, 0, 0])
    assert found.mean() >= 0.95
    for idx in (11, 12, 15, 16, 27, 28):  # shoulders, wrists, ankles
        err = np.hypot(*(lm[found, idx] - truth[body.MEDIAPIPE[idx]][found]).T) / SIZE
        assert np.median(err) < 0.035, (body.MEDIAPIPE[idx], np.median(err))
        assert np.mean(err < 0.08) >= 0.9, (body.MEDIAPIPE[idx], np.sort(err)[-5:])


def test_the_default_clip_is_wide_with_a_furnished_room_and_a_person_who_does_not_fill_it(tmp_path):
    """As phones film at home: 16:9, furniture beside the performer, the performer a fraction of the width, and
    still found by the pose estimator in every frame."""
    mp = pytest.importorskip("mediapipe")
    frames, _, w, h = read(render(tmp_path / "wide.mp4", "target_a", seconds=2.0, size=None))
    assert (w, h) == (854, 480)
    room = synth.backdrop(body.PERFORMERS["target_a"].look, w, h)
    j = synth.skeleton("target_a", 0, len(frames), FPS, w, h)
    xs = np.stack([v[:, 0] for k, v in j.items() if v.ndim == 2 and k != "head_up"], 1)
    assert np.ptp(xs, axis=1).max() < 0.4 * w
    wall = room[: int(0.55 * h)].astype(float)
    side = np.concatenate([wall[:, : int(0.2 * w)], wall[:, -int(0.2 * w):]], 1)
    middle = wall[:, int(0.45 * w): int(0.55 * w)]
    assert side.std(axis=(0, 1)).mean() > 2 * middle.std(axis=(0, 1)).mean()  # a window, shelves: not a plain wall
    found = 0
    with mp.solutions.pose.Pose(model_complexity=1, static_image_mode=False) as pose:
        for f in frames:
            found += pose.process(f).pose_landmarks is not None
    assert found >= 0.95 * len(frames)


def _shoulders_over_legs(lm):
    """Shoulder width / leg length (hip-knee + knee-ankle), medians over frames of detected landmarks."""
    shoulders = np.hypot(*(lm[:, 11] - lm[:, 12]).T)
    legs = sum(np.hypot(*(lm[:, a] - lm[:, b]).T) for a, b in ((23, 25), (25, 27), (24, 26), (26, 28))) / 2
    return np.nanmedian(shoulders) / np.nanmedian(legs)


def test_targets_have_different_body_proportions(detections):
    a, b = _shoulders_over_legs(detections["target_a"][0]), _shoulders_over_legs(detections["target_b"][0])
    assert b > 1.3 * a, (a, b)


def test_same_seed_same_bytes_other_seed_other_video(tmp_path):
    one = render(tmp_path / "1.mp4", "dancer", seed=3, seconds=1, size=128).read_bytes()
    two = render(tmp_path / "2.mp4", "dancer", seed=3, seconds=1, size=128).read_bytes()
    assert one == two
    render(tmp_path / "3.mp4", "dancer", seed=4, seconds=1, size=128)
    f1, f3 = read(tmp_path / "1.mp4")[0], read(tmp_path / "3.mp4")[0]
    assert np.abs(f1[1:].astype(int) - f3[1:]).mean() > 1.0


def test_audio_off_writes_a_silent_video(tmp_path):
    out = render(tmp_path / "silent.mp4", "target_a", seconds=0.5, size=128, audio_on=False)
    assert not has_audio(out)
    assert len(read(out)[0]) == round(0.5 * FPS)


def test_unknown_performer_is_a_user_error_and_leaves_no_file(tmp_path):
    out = tmp_path / "nobody.mp4"
    with pytest.raises(UserError, match="dancer, target_a, target_b"):
        render(out, "nobody")
    assert list(tmp_path.iterdir()) == []
    assert cli.main(["synth", "synth.performer=nobody", f"synth.output={out}"]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("performer", PERFORMERS)
@pytest.mark.parametrize("width,height", [(480, 480), (256, 256), (640, 360), (360, 640)])
def test_whole_body_stays_in_frame_and_limbs_stay_attached(performer, width, height):
    b = body.PERFORMERS[performer].body
    for seed in range(3):
        j = synth.skeleton(performer, seed, 20 * FPS, FPS, width, height)
        pts = np.stack([v for k, v in j.items() if v.ndim == 2 and k != "head_up"], 1)
        assert pts[..., 0].min() >= 0 and pts[..., 0].max() <= width
        assert pts[..., 1].min() >= 0 and pts[..., 1].max() <= height
        for s in "lr":
            for a, c, length in (("shoulder", "elbow", b.upper_arm), ("elbow", "wrist", b.forearm)):
                seg = np.hypot(*(j[f"{s}_{c}"] - j[f"{s}_{a}"]).T) / j["scale"]
                np.testing.assert_allclose(seg, length, rtol=1e-6)
            hip, knee, ankle = j[f"{s}_hip"], j[f"{s}_knee"], j[f"{s}_ankle"]
            assert np.all(np.hypot(*(knee - hip).T) / j["scale"] <= b.thigh + 1e-6)
            # knees bend forward-and-out: the knee never crosses the hip-ankle line toward the body's middle
            cross = (ankle - hip)[:, 0] * (knee - hip)[:, 1] - (ankle - hip)[:, 1] * (knee - hip)[:, 0]
            assert np.all(cross * (1 if s == "l" else -1) <= 1e-6 * j["scale"] ** 2)


@pytest.mark.parametrize("performer", ["target_a", "target_b"])
def test_target_routine_covers_a_broad_range_of_poses(performer):
    j = synth.skeleton(performer, 0, 20 * FPS, FPS, 480, 480)
    for s in "lr":
        arm = j[f"{s}_wrist"] - j[f"{s}_shoulder"]
        angle = np.degrees(np.arctan2(np.abs(arm[:, 0]), arm[:, 1]))  # 0 = hanging down, 180 = straight up
        assert angle.min() < 30 and angle.max() > 140
    hip_height = (j["sole"] - j["pelvis"][:, 1]) / j["scale"]
    b = body.PERFORMERS[performer].body
    assert hip_height.max() - hip_height.min() > 0.15 * (b.thigh + b.shin)  # squats
    assert np.ptp(j["pelvis"][:, 0]) > 0.1 * 480  # steps left and right
    assert j["scale"].max() / j["scale"].min() > 1.08  # toward and away from the camera


def test_dancer_moves_on_the_beat_of_the_music():
    fps, beats = 60, 32  # 60 fps at 120 BPM: a beat every 30 frames
    step = int(fps * 60 / body.BPM)
    for seed in range(3):
        j = synth.skeleton("dancer", seed, step * beats, fps, 480, 480)
        hip_height = (j["sole"] - j["pelvis"][:, 1]) / j["scale"]
        on, off = hip_height[step:-step:step], hip_height[step + step // 2:-step:step]
        assert np.mean(off - on) > 0.006  # the knees dip on the beat


def test_music_hits_on_the_beat():
    wave = audio.music(4.0, seed=0)
    env = np.abs(wave)
    win = int(0.03 * audio.RATE)
    starts = (np.arange(1, 8) * 60 / body.BPM * audio.RATE).astype(int)
    after = np.mean([env[s:s + win].mean() for s in starts])
    before = np.mean([env[s - 2 * win:s - win].mean() for s in starts])
    assert after > 2 * before
