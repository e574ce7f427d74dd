import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import real_data, run_stage
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.keypoints import B
from dancenow.pose.gaps import fill_gaps
from dancenow.keypoints import BLAZEPOSE_TO_BODY25


@pytest.fixture(scope="module")
def woman_poses(tmp_path_factory):
    """target_woman.mp4 (720x1280 portrait) letterboxed into a 256x256 square, then posed."""
    d = tmp_path_factory.mktemp("woman")
    run_stage("extract", f"extract.input={real_data('video', 'target_woman.mp4')}", f"extract.output={d}/f.h5",
              f"extract.audio={d}/a.m4a", "preset_size.height=256", "preset_size.width=256")
    run_stage("pose", f"pose.input={d}/f.h5", f"pose.output={d}/p.h5")
    return poses_io.read_poses(d / "p.h5")


def test_person_found_in_real_clips(woman_poses, tmp_path):
    assert woman_poses["detected"].mean() >= 0.95
    run_stage("extract", f"extract.input={real_data('video', 'dancer_man.mp4')}", f"extract.output={tmp_path}/f.h5",
              f"extract.audio={tmp_path}/a.m4a", "preset=tiny")
    run_stage("pose", f"pose.input={tmp_path}/f.h5", f"pose.output={tmp_path}/p.h5", "preset=tiny")
    man = poses_io.read_poses(tmp_path / "p.h5")
    assert len(man["detected"]) == 102
    assert man["detected"].mean() >= 0.95


def test_matches_blazepose_reference_in_original_pixels(woman_poses):
    ref = np.array(json.load(open(real_data("keypoints", "target_woman.blazepose33.json"))))[:, :, :2]
    geometry = h5.FrameGeometry.from_attrs(woman_poses["attrs"])
    body = woman_poses["body"]
    assert len(body) == len(ref) == 65
    ours = geometry.to_original(body[:, :, :2])
    slots = sorted(BLAZEPOSE_TO_BODY25)
    ref_body = ref[:, [BLAZEPOSE_TO_BODY25[s] for s in slots]]
    ours = ours[:, slots]
    # body height in the reference: nose to the lower ankle
    height = np.maximum(ref[:, 27, 1], ref[:, 28, 1]) - ref[:, 0, 1]
    err = np.linalg.norm(ours - ref_body, axis=2) / height[:, None]
    confident = body[:, slots, 2] > 0
    within = (err[confident] <= 0.03).mean()
    print(f"keypoints within 3 % of body height: {100 * within:.1f} % (median error {100 * np.median(err):.2f} %)")
    assert confident.mean() > 0.9
    assert within >= 0.95


def test_wrong_geometry_would_fail_the_reference_check(woman_poses):
    """The comparison above is sensitive to the crop/resize being undone: ignoring the letterbox offset breaks it."""
    ref = np.array(json.load(open(real_data("keypoints", "target_woman.blazepose33.json"))))[:, :, :2]
    a = woman_poses["attrs"]
    wrong = h5.FrameGeometry(a["scale"], 0, a["offset_y"])
    ours = wrong.to_original(woman_poses["body"][:, [B["Nose"]], :2])[:, 0]
    assert np.median(np.linalg.norm(ours - ref[:, 0], axis=1)) > 100


def test_shards_in_one_process_equal_one_pass(tmp_path):
    """65 frames in chunks of 20, as 3 shards of 20, 20 and 25 frames: the tracker restarts where a shard starts."""
    run_stage("extract", "preset=tiny", f"extract.input={real_data('video', 'target_woman.mp4')}",
              f"extract.output={tmp_path}/f.h5", f"extract.audio={tmp_path}/a.m4a")
    for shards in (1, 3):
        run_stage("pose", "preset=tiny", f"pose.input={tmp_path}/f.h5", f"pose.output={tmp_path}/{shards}.h5",
                  "pose.chunk_frames=20", f"pose.shards={shards}")
    assert (tmp_path / "3.h5").read_bytes() == (tmp_path / "1.h5").read_bytes()


def test_nobody_found_is_a_clear_error_and_leaves_no_output(tmp_path):
    frames = tmp_path / "empty_room.h5"
    with h5.create(frames) as f:
        h5.dataset(f, "frames", np.full((12, 128, 128, 3), 200, np.uint8))
        f.attrs["fps"] = 10.0
        h5.FrameGeometry(1, 0, 0).to_attrs(f.attrs)
        h5.set_provenance(f, "extract", {}, "0" * 64)
    res = run_stage("pose", f"pose.input={frames}", f"pose.output={tmp_path}/p.h5", check=False)
    assert res.returncode == 2
    assert "nobody was found" in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == [frames]


def test_fill_gaps_interpolates_short_gaps_only():
    n = 12
    kps = np.zeros((n, 2, 3), np.float32)
    kps[:, :, 0] = np.arange(n)[:, None] * 2.0
    kps[:, :, 2] = 1
    present = np.ones(n, bool)
    present[3:5] = False  # 2-frame gap: filled
    present[7:11] = False  # 4-frame gap: too long for max_gap=3
    kps[~present] = 0
    out, filled = fill_gaps(kps, present, max_gap=3)
    assert filled.tolist() == [i in (3, 4) for i in range(n)]
    np.testing.assert_allclose(out[3:5, :, 0], [[6, 6], [8, 8]])
    assert (out[7:11, :, 2] == 0).all()


def test_native_warning_lines_are_dropped_and_the_rest_passes_as_it_comes():
    """What mediapipe's C++ writes to descriptor 2, in pieces, between a progress bar's updates."""
    script = r"""
import os, sys, time
from dancenow.pose.native_logs import without_native_logs
with without_native_logs():
    os.write(2, b"\rpose:  10%|#")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"W0000 00:00:1796326217.870241   13872 inference_feedback_")
    time.sleep(0.05)
    os.write(2, b"manager.cc:114] Feedback manager requires a model.\nI0000 00:00:17.1 1 gl_context.cc:357] GL\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n\rpose:  20%|##")
    sys.stderr.write("a line of ours: W0 is not a log prefix here\n")
os.write(2, b"after\n")
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b"\rpose:  10%|#\rpose:  20%|##a line of ours: W0 is not a log prefix here\nafter\n"
