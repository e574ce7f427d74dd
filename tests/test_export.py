"""export: poses -> OpenPose JSON (one file per frame) and a pose video, read back and compared with the poses.h5."""

import json

import cv2
import numpy as np
import pytest

from dancenow import conf
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.io.openpose_json import read_frame
from dancenow.io.poses import read_poses
from dancenow.keypoints import B
from dancenow.labels import draw_labels
from dancenow.stages.export import run

N, FPS, H, W = 8, 15.0, 96, 160  # a wide canvas: x and y must not be swapped


def constructed_poses(path):
    """A person walking right, with a face and hands; frame 3 without anybody, frame 5 without a face, a keypoint
    not found (confidence 0, yet x and y left where a tracker put them) in every frame."""
    rng = np.random.default_rng(0)
    poses = {part: np.zeros((N, k, 3), np.float32) for part, k in poses_io.POSE_PARTS.items()}
    for part, k in poses_io.POSE_PARTS.items():
        xy = rng.uniform([20, 10], [140, 90], (N, k, 2)) + np.arange(N)[:, None, None] * [2.5, 0]
        poses[part][..., :2] = xy
        poses[part][..., 2] = rng.uniform(0.3, 1.0, (N, k))
    poses["body"][:, B["LEar"]] = (33.0, 44.0, 0.0)
    poses["face"][5] = 0
    for part in poses:
        poses[part][3] = 0
    with h5.create(path) as f:
        poses_io.write_poses(f, poses, {"fps": FPS, "height": H, "width": W})
    return path


@pytest.fixture
def exported(tmp_path):
    poses = constructed_poses(tmp_path / "normalized.h5")
    run(conf.load([f"export.poses={poses}", f"export.output={tmp_path / 'openpose'}",
                   f"export.video={tmp_path / 'pose.mp4'}", "export.name=dance"]))
    return tmp_path, read_poses(poses)


def test_the_json_reads_back_as_the_poses_in_the_canvas_pixels(exported):
    folder, poses = exported
    files = sorted((folder / "openpose").iterdir())
    assert [f.name for f in files] == [f"dance_{i:012d}_keypoints.json" for i in range(N)]
    for i, path in enumerate(files):
        data = json.loads(path.read_text())
        assert data["version"] == 1.3
        if i == 3:  # nobody in the frame: no people, as OpenPose writes it
            assert data["people"] == []
            continue
        person = data["people"][0]
        assert len(person["pose_keypoints_2d"]) == 75 and len(person["face_keypoints_2d"]) == 210
        assert len(person["hand_left_keypoints_2d"]) == len(person["hand_right_keypoints_2d"]) == 63
        assert person["pose_keypoints_3d"] == [] and person["person_id"] == [-1]
        back = read_frame(path)
        for part in poses_io.POSE_PARTS:
            found = poses[part][i, :, 2] > 0
            assert np.abs(back[part][found] - poses[part][i, found]).max(initial=0) <= 1e-3  # px, confidence
            assert (back[part][~found] == 0).all()  # not found: 0, 0, 0
        assert (back["body"][B["LEar"]] == 0).all()
        assert (back["face"] == 0).all() == (i == 5)


def test_the_pose_video_is_the_skeletons_at_the_canvas(exported):
    folder, poses = exported
    cap = cv2.VideoCapture(str(folder / "pose.mp4"))
    assert (cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == \
        (FPS, W, H)
    frames = []
    while (got := cap.read())[0]:
        frames.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB))
    assert len(frames) == N
    def soft(img):  # H.264 halves the colour resolution: compare what survives of the thin lines
        return cv2.GaussianBlur(cv2.cvtColor(np.asarray(img, np.uint8), cv2.COLOR_RGB2GRAY), (5, 5), 0).astype(float)

    drawn = [soft(draw_labels(poses, i, H, W)) for i in range(N)]
    for i, frame in enumerate(frames):
        assert (frame.max() > 100) == (i != 3)  # the frame without a person is black
        if i != 3:
            errors = [np.abs(soft(frame) - d).mean() for d in drawn]
            assert errors[i] < 3 and errors[i] < 0.5 * min(e for j, e in enumerate(errors) if j != i)
