"""The OpenPose backend inside the pose stage: network -> decoding -> the main dancer -> BODY_25, sharded.

The network itself is tested in test_openpose_network.py (with random weights in the users' file layout). Here its
outputs are the maps of constructed people (as the decoder tests draw them), so that what comes out of the stage can
be checked against known keypoints: the frame index is written into each frame's first pixel and the stand-in
returns that frame's maps.
"""

import numpy as np
import pytest
import torch

from conftest import run_stage
from dancenow.keypoints import B
from dancenow.pose import estimate as pose_estimate
from dancenow.stages import pose as pose_stage
from dancenow.pose.openpose import estimator
from dancenow.pose.openpose.track import COCO18
from test_openpose_decode import H, W, person, render

N = 12


def sequence():
    """Per frame: the dancer (left, shrinking) and a second person (right, growing: bigger from frame 6 on)."""
    return [(person(40 + i, 10, 1.0 - 0.03 * i), person(96 - i, 16, 0.6 + 0.06 * i)) for i in range(N)]


@pytest.fixture
def constructed_network(monkeypatch):
    people = sequence()

    def run_network(net, images, scales, batch_size, device, autocast, box_size):
        maps = [render(people[int(img[0, 0, 0])]) for img in images]
        return (torch.from_numpy(np.stack([m[0] for m in maps])).to(device),
                torch.from_numpy(np.stack([m[1] for m in maps])).to(device))

    monkeypatch.setattr(estimator, "run_network", run_network)
    monkeypatch.setattr(estimator, "load_network", lambda path, device: None)
    return people


def frames():
    f = np.zeros((N, H, W, 3), np.uint8)
    f[:, 0, 0, 0] = np.arange(N)
    return f


def config(**extra):
    return dict(backend="openpose", openpose_weights="unused.pth", scales=[1.0], box_size=368, batch_size=5,
                amp="off", chunk_frames=4, **extra)


def test_the_main_dancer_comes_out_as_body25(constructed_network):
    raw = pose_estimate.merge([pose_estimate.estimate(frames(), config())], config(), W, H)
    assert raw["body"].shape == (N, 25, 3) and not raw["face"].any() and not raw["left_hand"].any()
    for i, (dancer, _) in enumerate(constructed_network):  # the same person although the other one grows bigger
        for k, name in enumerate(COCO18):
            got = raw["body"][i, B[name]]
            assert got[2] > 0.5 and np.abs(got[:2] - dancer[k]).max() <= 1.0, (i, name, got, dancer[k])
        hips = dancer[[COCO18.index("RHip"), COCO18.index("LHip")]].mean(0)
        assert np.abs(raw["body"][i, B["MidHip"], :2] - hips).max() <= 1.0
        assert (raw["body"][i, [B["LBigToe"], B["LHeel"], B["RSmallToe"]], 2] == 0).all()


def test_shards_merged_equal_one_pass(constructed_network, tmp_path):
    """Detection per frame in each shard, tracking once over the merged video (through the parts files ranks write)."""
    whole = pose_estimate.merge([pose_estimate.estimate(frames(), config())], config(), W, H)
    for i, (a, b) in enumerate(pose_estimate.shard_bounds(N, 4, 3)):
        pose_stage.save_part(tmp_path / f"{i}.h5", pose_estimate.estimate(frames(), config(), a, b))
    parts = pose_estimate.merge([pose_stage.load_part(tmp_path / f"{i}.h5") for i in range(3)], config(), W, H)
    assert parts.keys() == whole.keys()
    for part in whole:
        assert np.array_equal(whole[part], parts[part]), part


def test_openpose_without_weights_is_one_clear_error(small_target, tmp_path):
    frames_h5, _ = small_target
    res = run_stage("pose", f"pose.input={frames_h5}", f"pose.output={tmp_path / 'poses.h5'}", "pose.backend=openpose",
                    check=False)
    assert res.returncode == 2 and "pose.openpose_weights" in res.stderr and "body_pose_model.pth" in res.stderr
    assert not (tmp_path / "poses.h5").exists()
    res = run_stage("pose", f"pose.input={frames_h5}", f"pose.output={tmp_path / 'poses.h5'}", "pose.backend=alphapose",
                    check=False)
    assert res.returncode == 2 and "pose.backend must be one of mediapipe, openpose" in res.stderr


def test_the_real_network_runs_through_the_stage(small_target, tmp_path):
    """Random weights in the users' file layout: nobody is expected, but every step runs and the file is written."""
    from dancenow.pose.openpose.network import expected_shapes

    torch.manual_seed(0)
    weights = tmp_path / "body_pose_model.pth"
    torch.save({k: torch.randn(s) * 0.01 for k, s in expected_shapes().items()}, weights)
    frames_h5, _ = small_target
    run_stage("pose", f"pose.input={frames_h5}", f"pose.output={tmp_path / 'poses.h5'}", "pose.backend=openpose",
              f"pose.openpose_weights={weights}", "pose.box_size=64", "pose.batch_size=4",
              "pose.min_detected_fraction=0")
    from dancenow.io import poses as poses_io
    poses = poses_io.read_poses(tmp_path / "poses.h5")
    assert poses["body"].shape == (12, 25, 3) and np.isfinite(poses["body"]).all()
    assert '"backend": "openpose"' in poses["attrs"]["config"]
