"""`dancenow choreo`: train the choreography network on a real CMU BVH clip and write a new dance (tiny sizes)."""

import json
import math
import re

import cv2
import h5py
import numpy as np
import pytest

from dancenow.choreo.motion import JOINTS

from conftest import real_data, run_stage

SECONDS, FPS, SIZE = 4, 15, 128
TINY = ["preset=tiny", "choreo.hidden=16", "choreo.layers=1", "choreo.window=20", "choreo.iterations=40",
        f"choreo.seconds={SECONDS}", f"choreo.fps={FPS}", "choreo.seed_frames=10"]


def outputs(d):
    return [f"choreo.output={d}/poses.h5", f"choreo.video={d}/dance.mp4", f"choreo.metrics={d}/metrics.json",
            f"choreo.model={d}/model.pt"]


def choreo(d, *extra, check=True):
    bvh = real_data("mocap", "cmu_salsa_01.bvh")
    return run_stage("choreo", f"choreo.bvh=[{bvh}]", *TINY, *outputs(d), *extra, check=check)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    d = tmp_path_factory.mktemp("choreo")
    res = choreo(d)
    return d, res


def test_writes_dance_video_and_metrics(first):
    d, res = first
    n = SECONDS * FPS
    with h5py.File(d / "poses.h5", "r") as f:
        body = f["body"][()]
        assert body.shape == (n, 25, 3)
        assert (f.attrs["height"], f.attrs["width"], f.attrs["fps"]) == (SIZE, SIZE, FPS)
        assert f["face"].shape == (n, 70, 3) and not f["face"][()].any() and not f["left_hand"][()].any()
        assert f["detected"][()].all() and not f["filled"][()].any()
        assert f.attrs["stage"] == "choreo"
    others = [k for k in range(25) if k not in JOINTS]
    assert (body[:, list(JOINTS), 2] == 1).all() and (body[:, others] == 0).all()
    xy = body[:, list(JOINTS), :2]
    assert np.isfinite(xy).all() and (xy >= 0).all() and (xy <= SIZE - 1).all()
    # a standing figure of a sensible size: head above the feet, dancer a good part of the canvas tall
    assert (body[:, 0, 1] < body[:, [11, 14], 1].max(axis=1)).mean() > 0.9
    assert np.ptp(xy[..., 1], axis=1).mean() > 0.3 * SIZE

    cap = cv2.VideoCapture(str(d / "dance.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == n

    m = json.loads((d / "metrics.json").read_text())
    assert m["frames"] == n
    for value in (m["motion_energy"]["min"], m["motion_energy"]["max"], *m["motion_energy"]["training_range"],
                  m["bone_length_error"], m["novelty"]["min"], m["novelty"]["median"], m["novelty"]["copy_threshold"],
                  m["training"]["loss_first"], m["training"]["loss_last"]):
        assert isinstance(value, float) and math.isfinite(value)
    assert isinstance(m["frozen"], bool) and m["nan"] is False and m["novelty"]["copy_rule"]
    assert m["motion_energy"]["training_range"][0] > 0
    assert m["training"]["loss_last"] < m["training"]["loss_first"]
    assert not list(d.glob(".*.tmp"))


def test_same_seed_same_bytes_other_seed_other_dance(first, tmp_path):
    d, _ = first
    choreo(tmp_path / "same")
    assert (tmp_path / "same" / "poses.h5").read_bytes() == (d / "poses.h5").read_bytes()
    choreo(tmp_path / "other", "seed=1", "choreo.temperature=0.5")
    with h5py.File(d / "poses.h5", "r") as a, h5py.File(tmp_path / "other" / "poses.h5", "r") as b:
        assert a["body"].shape == b["body"].shape
        assert not np.allclose(a["body"][()], b["body"][()])


def test_model_reused_then_retrained(first, tmp_path):
    d, res = first
    assert "reusing" not in res.stderr
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.pt").write_bytes((d / "model.pt").read_bytes())
    again = choreo(run_dir)
    assert "reusing" in again.stderr and "training the choreography network" not in again.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["training"]["reused_model"] is True
    assert (run_dir / "poses.h5").read_bytes() == (d / "poses.h5").read_bytes()
    changed = choreo(run_dir, "choreo.hidden=12")
    assert "reusing" not in changed.stderr and "training the choreography network" in changed.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["training"]["reused_model"] is False


def test_bad_sources_are_user_errors(tmp_path):
    res = run_stage("choreo", *TINY, *outputs(tmp_path), check=False)
    assert res.returncode == 2 and "no training data" in res.stderr and "Traceback" not in res.stderr
    missing = tmp_path / "nope.bvh"
    res = run_stage("choreo", f"choreo.bvh=[{missing}]", *TINY, *outputs(tmp_path), check=False)
    assert res.returncode == 2 and str(missing) in res.stderr and "Traceback" not in res.stderr
    not_bvh = tmp_path / "notes.bvh"
    not_bvh.write_text("hello\n")
    res = run_stage("choreo", f"choreo.bvh=[{real_data('mocap', 'cmu_salsa_01.bvh')},{not_bvh}]", *TINY,
                    *outputs(tmp_path), check=False)
    assert res.returncode == 2 and str(not_bvh) in res.stderr and "Traceback" not in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.bvh"]  # no outputs, no temporaries


def test_steady_takes_out_the_drift_and_keeps_the_steps():
    from dancenow.choreo.motion import JOINTS, ROOT
    from dancenow.choreo.placement import steady

    fps, n = 30.0, 1800
    t = np.arange(n) / fps
    dance = np.zeros((n, 25, 3), np.float32)
    dance[:, JOINTS, 2] = 1
    step = 0.3 * np.sin(2 * np.pi * 1.0 * t)  # a 1 Hz side step
    dance[:, JOINTS, 0] = (0.05 * t * fps / 10 + step)[:, None] + np.arange(len(JOINTS))  # drifts 9 units in 60 s
    out = steady(dance, fps)
    root = out[:, ROOT, 0]
    assert abs(dance[-1, ROOT, 0] - dance[0, ROOT, 0]) > 8 and np.ptp(root) < 1.0  # the drift is gone ...
    middle = slice(200, n - 200)
    assert np.corrcoef(root[middle], step[middle])[0, 1] > 0.99  # ... the steps stay
    rel_in, rel_out = (d[:, JOINTS, 0] - d[:, [ROOT], 0] for d in (dance, out))
    assert np.allclose(rel_in, rel_out, atol=1e-5)  # the body itself is untouched


def test_a_minute_of_salsa_keeps_dancing_holds_together_and_is_new(tmp_path):
    """The issue's criteria on a 60 s dance learnt from the three CMU salsa clips (51 s at 30 fps) by a small
    auto-conditioned network (2 x 64 LSTM, 300 iterations: about a minute here): every 2 s window moves within the
    training range (no freezing), bones within 10 % of their training lengths, no NaN, and no 2 s window is a copy
    of a training window."""
    bvhs = ",".join(str(real_data("mocap", f"cmu_salsa_0{i}.bvh")) for i in (1, 2, 3))
    run_stage("choreo", f"choreo.bvh=[{bvhs}]", "preset=tiny", "choreo.hidden=64", "choreo.layers=2",
              "choreo.window=50", "choreo.batch_size=16", "choreo.iterations=300", "choreo.select_every=50",
              "choreo.seconds=60", "choreo.fps=30", "choreo.temperature=1.0", *outputs(tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    e = m["motion_energy"]
    assert len(e["per_window"]) == 29 and m["frames"] == 1800
    assert not m["frozen"] and m["energy_in_range"], (e["per_window"], e["training_range"])
    assert m["bone_length_error"] <= 0.1 and not m["fell_apart"] and not m["nan"]
    assert m["novel"] and m["novelty"]["copied_windows"] == 0, m["novelty"]["per_window"]
    assert m["training"]["kept_iteration"] in (50, 100, 150, 200, 250, 300)


def test_a_dance_longer_than_its_sources_is_warned_of(small_target, tmp_path):
    _, poses = small_target  # 12 frames at 5 fps: 2.3 s of a real person at choreo.fps
    res = run_stage("choreo", f"choreo.poses=[{poses}]", *TINY, *outputs(tmp_path))
    assert re.search(rf"choreo: the dance \({SECONDS} s\) is longer than all its training data together \(2\.[34] s\): "
                     "it tends to repeat what it learnt", res.stderr)
    m = json.loads((tmp_path / "metrics.json").read_text())
    copied = m["novelty"]["copied_windows"]
    assert (f"choreo: {copied} of {len(m['novelty']['per_window'])} windows" in res.stderr) == (copied > 0)


def test_the_dance_is_written_at_its_source_videos_frame_rate(small_target, tmp_path):
    """Learnt and danced at choreo.fps (15 here), written at the source video's 5 fps: every third frame of the same
    dance written at 15 fps (the network reused: the frame rate it is written at is no training setting)."""
    _, poses = small_target
    res = run_stage("choreo", f"choreo.poses=[{poses}]", *TINY, *outputs(tmp_path))
    assert re.search(rf"dance of {SECONDS * FPS} frames at {FPS} fps \(written at 5 fps: {SECONDS * 5} frames\)",
                     res.stderr)
    at_15 = tmp_path / "at_15"
    at_15.mkdir()
    (at_15 / "model.pt").write_bytes((tmp_path / "model.pt").read_bytes())
    again = run_stage("choreo", f"choreo.poses=[{poses}]", *TINY, *outputs(at_15), f"choreo.output_fps={FPS}")
    assert "reusing" in again.stderr
    with h5py.File(tmp_path / "poses.h5", "r") as slow, h5py.File(at_15 / "poses.h5", "r") as fast:
        assert (slow.attrs["fps"], fast.attrs["fps"]) == (5, FPS)
        assert slow["body"].shape == (SECONDS * 5, 25, 3) and fast["body"].shape == (SECONDS * FPS, 25, 3)
        np.testing.assert_allclose(slow["body"][()], fast["body"][::3], atol=1e-4)
        assert slow["detected"].shape == (SECONDS * 5,)
    cap = cv2.VideoCapture(str(tmp_path / "dance.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == 5 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == SECONDS * 5
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["written"] == {"fps": 5.0, "frames": SECONDS * 5} and m["frames"] == SECONDS * FPS


def test_a_dance_within_its_sources_has_no_length_warning(first):
    assert "is longer than all its training data" not in first[1].stderr
