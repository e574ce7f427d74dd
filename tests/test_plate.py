"""The static background plate: the room without the person from a video with a static camera, refused when the
camera moves, and a generator that sees it."""

import numpy as np
import torch

from dancenow.generation import generate
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.models.checkpoint import load_performer
from dancenow.models.performer import WithPlate
from dancenow.plate import MAX_ERROR, estimate_plate, static_plate
from dancenow.stages import train as train_stage
from test_train import one_thread, train_cfg  # noqa: F401  (a fixture)

H, W, N = 64, 96, 24


def scene(pan=0):
    """N frames of a textured room with a figure (a 14x30 block) walking across it, and its poses (its corners and
    centre as body keypoints). With `pan`, the camera moves `pan` px to the right every frame."""
    rng = np.random.default_rng(0)
    room = rng.integers(0, 256, (H, W + pan * N, 3), dtype=np.uint8)
    frames, body = [], np.zeros((N, 25, 3), np.float32)
    for t in range(N):
        f = room[:, pan * t:pan * t + W].copy()
        x = 4 + 3 * t
        f[20:50, x:x + 14] = (200, 40, 40)
        frames.append(f)
        body[t, :5] = [(x, 20, 1), (x + 13, 20, 1), (x, 49, 1), (x + 13, 49, 1), (x + 7, 35, 1)]
    poses = {"body": body, "face": np.zeros((N, 70, 3)), "left_hand": np.zeros((N, 21, 3)),
             "right_hand": np.zeros((N, 21, 3))}
    return np.stack(frames), poses, room[:, :W]


def test_the_plate_of_a_moving_figure_over_a_known_room_is_the_room():
    frames, poses, room = scene()
    plate, error, seen = estimate_plate(frames, poses, range(N))
    assert seen == 1.0 and error == 0.0
    assert np.array_equal(plate, room)
    plate, message = static_plate(frames, poses, range(N))
    assert plate is not None and "background plate" in message


def test_a_panning_camera_is_detected_and_there_is_no_plate():
    frames, poses, _ = scene(pan=3)
    _, error, _ = estimate_plate(frames, poses, range(N))
    assert error > MAX_ERROR
    plate, message = static_plate(frames, poses, range(N))
    assert plate is None and "not static" in message and "training without a background plate" in message


def write_scene(d, pan=0):
    """The scene as frames.h5 and poses.h5 (what extract and pose would write)."""
    frames, poses, room = scene(pan)
    d.mkdir(parents=True, exist_ok=True)
    with h5.create(d / "frames.h5") as f:
        h5.frames_dataset(f, N, H, W)[:] = frames
        f.attrs["fps"], f.attrs["video_sha256"] = 10.0, "scene"
    with h5.create(d / "poses.h5") as f:
        poses_io.write_poses(f, poses, {"fps": 10.0, "height": H, "width": W})
    return d / "frames.h5", d / "poses.h5", room


def test_a_generator_trained_with_the_plate_keeps_it_and_renders(tmp_path, caplog):
    caplog.set_level("INFO", logger="dancenow")
    frames, poses, room = write_scene(tmp_path / "static")
    train_stage.run(train_cfg(frames, poses, tmp_path / "out", "train.background=plate", "train.iterations=3",
                              "train.face.enabled=false"))
    assert any("background plate: 100 %" in r.getMessage() for r in caplog.records)
    performer, meta = load_performer(tmp_path / "out" / "generator.pt")
    assert meta["generator"]["plate"] is True
    assert performer.generator.net.model[1].weight.shape[1] == 9  # label + previous frame + plate
    plate = ((performer.generator.plate[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(plate, room)  # kept in the checkpoint
    out = np.stack(list(generate(performer, poses_io.read_poses(poses), range(3), H, W, "cpu")))
    assert out.shape == (3, H, W, 3)
    # a panning camera: trained without a plate, said once in the log
    frames, poses, _ = write_scene(tmp_path / "pan", pan=3)
    train_stage.run(train_cfg(frames, poses, tmp_path / "pan_out", "train.background=plate", "train.iterations=1",
                              "train.face.enabled=false"))
    assert load_performer(tmp_path / "pan_out" / "generator.pt")[1]["generator"]["plate"] is False
    assert any("training without a background plate" in r.getMessage() for r in caplog.records)


class Painter(torch.nn.Module):
    """A stand-in network of four output channels: a red person where x > 0.5, and the mask it is given."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        out = torch.full((len(x), 4, *x.shape[2:]), -1.0)
        out[:, 0] = 1.0
        out[:, 3] = self.mask
        return out


def test_composite_paints_the_person_over_the_plate_where_its_mask_says():
    room = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    mask = torch.full((8, 8), -1.0)
    mask[:, 4:] = 1.0  # the right half: the person
    g = WithPlate(Painter(mask), 8, 8, composite=True)
    g.set_plate(room)
    out = g(torch.zeros(2, 3, 8, 8))
    plate = g.plate.expand(2, -1, -1, -1)
    assert torch.equal(out[..., :4], plate[..., :4])  # mask 0: the plate, exactly
    assert torch.equal(out[:, :, :, 4:], torch.tensor([1.0, -1.0, -1.0])[None, :, None, None].expand(2, 3, 8, 4))


def test_a_composite_generator_trains_and_renders(tmp_path):
    frames, poses, room = write_scene(tmp_path / "static")
    train_stage.run(train_cfg(frames, poses, tmp_path / "out", "train.background=composite", "train.limb_width=0.1",
                              "train.iterations=2", "train.face.enabled=false"))
    performer, meta = load_performer(tmp_path / "out" / "generator.pt")
    assert meta["generator"]["composite"] is True and meta["generator"]["limb_width"] == 0.1
    assert performer.generator.net.model[-2].weight.shape[0] == 4  # the frame's three channels and the mask
    out = np.stack(list(generate(performer, poses_io.read_poses(poses), range(3), H, W, "cpu")))
    assert out.shape == (3, H, W, 3)
