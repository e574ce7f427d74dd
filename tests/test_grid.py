"""grid: source | pose | every target side by side; without source frames (a made-up dance): pose | every target."""

import cv2
import numpy as np
import pytest

from dancenow import conf
from dancenow.errors import UserError
from dancenow.stages.grid import CAPTION_HEIGHT, run
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.keypoints import B

N, FPS, H, W = 6, 12.0, 64, 48  # a portrait canvas: the tiles keep its aspect


def write_poses(path, n=N):
    body = np.zeros((n, 25, 3), np.float32)
    for k, (x, y) in {"Nose": (24, 8), "Neck": (24, 16), "MidHip": (24, 36), "RAnkle": (18, 60),
                      "LAnkle": (30, 60)}.items():
        body[:, B[k]] = (x, y, 1.0)
    body[:, B["RAnkle"], 0] += np.arange(n)  # the pose changes from frame to frame
    empty = {part: np.zeros((n, k, 3), np.float32) for part, k in poses_io.POSE_PARTS.items() if part != "body"}
    with h5.create(path) as f:
        poses_io.write_poses(f, {"body": body, **empty}, {"fps": FPS, "height": H, "width": W})
    return path


def write_frames(path, value, fps=None, n=N):
    with h5.create(path) as f:
        h5.frames_dataset(f, n, H, W)[...] = np.full((n, H, W, 3), value, np.uint8)
        if fps is not None:
            f.attrs["fps"] = fps
    return path


def grid(tmp_path, source_frames, name="grid.mp4", poses=None):
    targets = [write_frames(tmp_path / f"t{i}.h5", 60 + 120 * i) for i in range(2)]
    poses = poses or write_poses(tmp_path / "p.h5")
    cfg = conf.load([f"grid.source_frames={source_frames}", f"grid.source_poses={poses}",
                       f"grid.targets=[{targets[0]},{targets[1]}]", "grid.names=[a,b]", f"grid.tile_height={H}",
                       f"grid.output={tmp_path / name}"])
    run(cfg)
    cap = cv2.VideoCapture(str(tmp_path / name))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    return np.stack(frames), cap.get(cv2.CAP_PROP_FPS)


def test_without_source_frames_the_pose_comes_first(tmp_path):
    with_source, fps = grid(tmp_path, write_frames(tmp_path / "src.h5", 250, fps=FPS), "with.mp4")
    assert with_source.shape == (N, H + CAPTION_HEIGHT, 4 * W, 3) and fps == FPS  # source | pose | a | b
    without, fps = grid(tmp_path, "null", "without.mp4")
    assert without.shape == (N, H + CAPTION_HEIGHT, 3 * W, 3) and fps == FPS  # pose | a | b, the poses' fps
    body = slice(CAPTION_HEIGHT, None)
    assert np.abs(with_source[:, body, :W].astype(int) - 250).mean() < 3  # the source column ...
    assert np.abs(without[:, body, :W].astype(int) - 250).mean() > 100  # ... is gone: the pose is first
    pose_with, pose_without = with_source[:, body, W:2 * W], without[:, body, :W]
    assert np.abs(pose_with.astype(int) - pose_without).mean() < 3 and pose_without.max() > 100
    assert np.abs(pose_without[0].astype(int) - pose_without[-1]).max() > 50  # the figure moves
    for i, value in enumerate((60, 180)):  # then the targets, in order
        assert np.abs(without[:, body, (1 + i) * W:(2 + i) * W].astype(int) - value).mean() < 3


def test_source_frames_and_poses_must_agree(tmp_path):
    with pytest.raises(UserError, match="has 5 frames"):
        grid(tmp_path, write_frames(tmp_path / "src.h5", 250, fps=FPS), poses=write_poses(tmp_path / "p5.h5", n=5))
    assert not (tmp_path / "grid.mp4").exists()
