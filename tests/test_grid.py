"""grid: source, pose and every target as captioned tiles (2x2 for two targets, else near 16:9); without source
frames (a made-up dance): pose, every target."""

import cv2
import numpy as np
import pytest

from dancenow import conf
from dancenow.errors import UserError
from dancenow.layout import MIN_TEXT_HEIGHT, Grid, caption_bar, columns
from dancenow.stages.grid import run
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.keypoints import B

N, FPS = 6, 12.0


def write_poses(path, n=N, h=64, w=48):
    body = np.zeros((n, 25, 3), np.float32)
    for k, (x, y) in {"Nose": (24, 8), "Neck": (24, 16), "MidHip": (24, 36), "RAnkle": (18, 60),
                      "LAnkle": (30, 60)}.items():
        body[:, B[k]] = (x * w / 48, y * h / 64, 1.0)
    body[:, B["RAnkle"], 0] += np.arange(n)  # the pose changes from frame to frame
    empty = {part: np.zeros((n, k, 3), np.float32) for part, k in poses_io.POSE_PARTS.items() if part != "body"}
    with h5.create(path) as f:
        poses_io.write_poses(f, {"body": body, **empty}, {"fps": FPS, "height": h, "width": w})
    return path


def write_frames(path, value, fps=None, n=N, h=64, w=48):
    with h5.create(path) as f:
        h5.frames_dataset(f, n, h, w)[...] = np.full((n, h, w, 3), value, np.uint8)
        if fps is not None:
            f.attrs["fps"] = fps
    return path


def grid(tmp_path, source_frames, name="grid.mp4", poses=None, n_targets=2, h=64, w=48, extra=()):
    targets = [write_frames(tmp_path / f"t{i}.h5", 40 + 70 * i, h=h, w=w) for i in range(n_targets)]
    poses = poses or write_poses(tmp_path / "p.h5", h=h, w=w)
    names = [chr(ord("a") + i) for i in range(n_targets)]
    cfg = conf.load([f"grid.source_frames={source_frames}", f"grid.source_poses={poses}",
                     f"grid.targets=[{','.join(map(str, targets))}]", f"grid.names=[{','.join(names)}]",
                     f"grid.tile_height={h}", f"grid.output={tmp_path / name}", *extra])
    run(cfg)
    cap = cv2.VideoCapture(str(tmp_path / name))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    return np.stack(frames), cap.get(cv2.CAP_PROP_FPS)


def cell(video, layout, i):
    """The picture of tile i in every frame of a grid video."""
    x, y = layout.position(i)
    return video[:, y + layout.bar_h:y + layout.bar_h + layout.cell_h, x:x + layout.cell_w]


def test_two_targets_make_the_blogs_2x2_source_and_pose_above_the_targets(tmp_path):
    h = w = 64  # the demo's canvases are square
    video, fps = grid(tmp_path, write_frames(tmp_path / "src.h5", 250, fps=FPS, h=h, w=w), h=h, w=w)
    layout = Grid([(h, w)] * 4, ["source", "pose", "a", "b"], h)
    assert (layout.rows, layout.cols) == (2, 2) and fps == FPS
    assert video.shape == (N, 2 * (layout.bar_h + h), 2 * w, 3)
    assert np.abs(cell(video, layout, 0).astype(int) - 250).mean() < 3  # top left: the source
    pose = cell(video, layout, 1)  # top right: the skeleton on black
    assert np.median(pose) < 10 and pose.max() > 100
    for i, value in ((2, 40), (3, 110)):  # below: a, then b
        assert np.abs(cell(video, layout, i).astype(int) - value).mean() < 3
    bars = [video[0, y:y + layout.bar_h, x:x + w] for x, y in map(layout.position, range(4))]
    for bar, caption in zip(bars, ["source", "pose", "a", "b"]):  # each caption bar shows its own text
        expected = cv2.cvtColor(caption_bar(caption, w, h), cv2.COLOR_RGB2BGR)
        assert np.abs(bar.astype(int) - expected).mean() < 4


def test_without_source_frames_the_pose_comes_first(tmp_path):
    h, w = 64, 48  # portrait tiles: three of them in one row
    without, fps = grid(tmp_path, "null", "without.mp4")
    layout = Grid([(h, w)] * 3, ["pose", "a", "b"], h)
    assert (layout.rows, layout.cols) == (1, 3) and fps == FPS  # the poses' fps
    assert without.shape == (N, layout.bar_h + h, 3 * w, 3)
    pose = cell(without, layout, 0)
    assert np.median(pose) < 10 and pose.max() > 100
    assert np.abs(pose[0].astype(int) - pose[-1]).max() > 50  # the figure moves
    for i, value in enumerate((40, 110)):  # then the targets, in order
        assert np.abs(cell(without, layout, 1 + i).astype(int) - value).mean() < 3


def test_columns_can_be_chosen_and_tiles_of_other_sizes_fit_their_cell(tmp_path):
    video, _ = grid(tmp_path, write_frames(tmp_path / "src.h5", 250, fps=FPS, h=64, w=112), n_targets=3,
                    extra=["grid.columns=5"])
    layout = Grid([(64, 112), (64, 48), (64, 48), (64, 48), (64, 48)], list("spabc"), 64, 5)
    assert layout.cell_w == 112 and video.shape == (N, layout.bar_h + 64, 5 * 112, 3)
    target = cell(video, layout, 2)  # a 48 px wide target centred in its 112 px cell, grey bars beside it
    assert np.abs(target[:, :, 32:80].astype(int) - 40).mean() < 3 and np.abs(target[:, :, :28].astype(int) - 16).mean() < 3


def test_the_automatic_layout_stays_near_16_9():
    assert [columns(n, 1.0) for n in range(1, 9)] == [1, 2, 3, 2, 3, 3, 4, 4]  # square tiles: 4 -> 2x2
    assert [columns(n, 16 / 9) for n in range(1, 7)] == [1, 2, 2, 2, 3, 3]
    assert columns(4, 9 / 16) == 4  # four phone-portrait tiles: one row (16:9 overall), not a tall 2x2
    for n, aspect in ((4, 1.0), (5, 1.0), (6, 16 / 9), (8, 1.0)):
        c = columns(n, aspect)
        rows = -(-n // c)
        assert 1.0 <= c * aspect / rows <= 3.6


@pytest.mark.parametrize("tile_height", [64, 128, 256, 512, 1080])
def test_captions_stay_readable_at_every_tile_size(tile_height):
    bar = caption_bar("target_woman", tile_height, tile_height)
    ink = np.argwhere(bar.max(axis=2) > 80)
    glyph_height = ink[:, 0].max() - ink[:, 0].min() + 1  # 'g' descends: more than a capital's height
    assert glyph_height >= MIN_TEXT_HEIGHT and glyph_height >= 0.05 * tile_height
    assert ink[:, 1].min() > 0 and ink[:, 1].max() < tile_height - 1  # all of it inside the tile's width
    assert bar.shape[0] <= max(0.12 * tile_height, 2 * MIN_TEXT_HEIGHT)  # and the bar no taller than it needs


def test_source_frames_and_poses_must_agree(tmp_path):
    with pytest.raises(UserError, match="has 5 frames"):
        grid(tmp_path, write_frames(tmp_path / "src.h5", 250, fps=FPS), poses=write_poses(tmp_path / "p5.h5", n=5))
    assert not (tmp_path / "grid.mp4").exists()
