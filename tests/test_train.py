"""The train stage: pix2pixHD networks, losses, data, and the resumable, deterministic training loop.

Trains on real frames of target_woman.mp4 (../shared/data) with label maps drawn from the reference BlazePose
keypoints that come with it, converted to BODY_25 (the tests are about training, not about pose estimation).
"""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_stage
from dancenow import conf
from dancenow.generation import generate
from dancenow.images import to_device
from dancenow.models.checkpoint import load_performer
from dancenow.stages import extract
from dancenow.stages import train as train_stage
from dancenow.training.data import PoseFrameDataset, ShuffleSampler
from dancenow.errors import UserError
from dancenow.io import h5
from dancenow.io.video import ffmpeg_exe
from dancenow.io import poses as poses_io
from dancenow.models import GlobalGenerator, MultiscaleDiscriminator
from dancenow.models.losses import VGGLoss, load_vgg19_features

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEO = DATA / "video" / "target_woman.mp4"
REFERENCE = DATA / "keypoints" / "target_woman.blazepose33.json"

# BlazePose-33 index of each BODY_25 keypoint (Neck and MidHip are midpoints; small toes = big toes)
BLAZEPOSE_TO_BODY25 = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 9: 24, 10: 26, 11: 28, 12: 23, 13: 25,
                       14: 27, 15: 5, 16: 2, 17: 8, 18: 7, 19: 31, 20: 31, 21: 29, 22: 32, 23: 32, 24: 30}


def need_real_data():
    if not (VIDEO.is_file() and REFERENCE.is_file()):
        msg = f"real test data missing: {VIDEO} and {REFERENCE}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def make_poses(frames_path, out, frames=None):
    """poses.h5 for frames.h5 from the reference keypoints, mapped into the stored frames' pixels."""
    with h5.open_input(frames_path, "frames") as f:
        n, height, width = f["frames"].shape[:3]
        geometry, fps = h5.FrameGeometry.from_attrs(f.attrs), float(f.attrs["fps"])
    n = n if frames is None else frames
    xy = np.array(json.loads(REFERENCE.read_text()), np.float64)[:n, :, :2] * geometry.scale
    xy += [geometry.offset_x, geometry.offset_y]
    body = np.zeros((n, 25, 3), np.float32)
    for b, k in BLAZEPOSE_TO_BODY25.items():
        body[:, b, :2] = xy[:, k]
    body[:, 1, :2] = (xy[:, 11] + xy[:, 12]) / 2
    body[:, 8, :2] = (xy[:, 23] + xy[:, 24]) / 2
    body[:, :, 2] = 1.0
    poses = dict(body=body, face=np.zeros((n, 70, 3)), left_hand=np.zeros((n, 21, 3)),
                 right_hand=np.zeros((n, 21, 3)), detected=np.ones(n, bool))
    with h5.create(out) as f:
        poses_io.write_poses(f, poses, dict(fps=fps, height=height, width=width))
    return out


def make_target(folder, size, max_frames=None):
    need_real_data()
    folder.mkdir(parents=True, exist_ok=True)
    extract.run(conf.load([f"extract.input={VIDEO}", f"extract.output={folder / 'frames.h5'}",
                             f"extract.audio={folder / 'audio.m4a'}", f"extract.height={size}",
                             f"extract.width={size}", f"extract.max_frames={max_frames or 'null'}"]))
    make_poses(folder / "frames.h5", folder / "poses.h5")
    return folder / "frames.h5", folder / "poses.h5"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """6 real frames at 64x64."""
    return make_target(tmp_path_factory.mktemp("small"), 64, max_frames=6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """All 65 real frames at the tiny preset's 128x128."""
    return make_target(tmp_path_factory.mktemp("tiny"), 128)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """In-process training on one thread: steadier timings on a shared 2-core machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train_cfg(frames, poses, out_dir, *overrides):
    return conf.load(["preset=tiny", f"train.frames={frames}", f"train.poses={poses}",
                        f"train.output={out_dir / 'generator.pt'}", f"train.workdir={out_dir / 'work'}",
                        *overrides])


# ---- networks and losses ---------------------------------------------------------------------------------------

def test_generator_and_discriminator_shapes():
    torch.manual_seed(0)
    G = GlobalGenerator(3, 3, ngf=8, n_downsample=2, n_blocks=1)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    D = MultiscaleDiscriminator(6, ndf=8, n_layers=2, num_d=3)
    out = D(x, y)
    assert len(out) == 3
    assert all(len(feats) == 2 + 2 for feats in out)  # n_layers_d + 2 stages, the last one the scores
    assert [feats[-1].shape[1] for feats in out] == [1, 1, 1]
    assert out[0][0].shape[-1] > out[1][0].shape[-1] > out[2][0].shape[-1]  # each scale at half resolution


def test_vgg_perceptual_loss(tmp_path):
    import torchvision
    torch.manual_seed(0)
    path = tmp_path / "vgg19-random.pth"
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), path)  # the layout of vgg19-dcbb9e9d.pth
    try:
        loss = VGGLoss(path)
        a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
        value = loss(a, b)
        assert torch.isfinite(value) and value > 0
        assert loss(a, a) == 0
        assert not any(p.requires_grad for p in loss.parameters())

        missing = tmp_path / "nowhere" / "vgg19.pth"
        with pytest.raises(UserError, match=re.escape(str(missing))):
            VGGLoss(missing)
        state = {k: v for k, v in torch.load(path, weights_only=True, mmap=True).items() if k.startswith("features.")}
        wrong = tmp_path / "wrong.pth"
        torch.save({f"module.{k}": v for k, v in state.items()}, wrong)  # as nn.DataParallel would name them
        with pytest.raises(UserError, match=r"not torchvision's vgg19 state dict.*missing keys"):
            load_vgg19_features(wrong)
        shapes = tmp_path / "shapes.pth"
        torch.save({**state, "features.28.weight": torch.zeros(1)}, shapes)
        with pytest.raises(UserError, match="wrong shapes"):
            load_vgg19_features(shapes)
        junk = tmp_path / "junk.pth"
        junk.write_bytes(b"not a torch file")
        with pytest.raises(UserError, match="could not be read"):
            load_vgg19_features(junk)
        del state
    finally:
        path.unlink()


def test_training_with_vgg(small, tmp_path):
    import torchvision
    weights = tmp_path / "vgg19.pth"
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])  # torchvision's own layout
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, weights)
    train_stage.run(train_cfg(*small, tmp_path, "train.iterations=2", "train.log_every=1", f"train.vgg_weights={weights}"))
    _, meta = load_performer(tmp_path / "generator.pt")
    vgg = [h["G_VGG" if h["phase"] == "main" else "F_VGG"] for h in meta["history"]]
    assert {h["phase"] for h in meta["history"]} == {"main", "face"}  # the face GAN has its own VGG loss
    assert all(np.isfinite(v) and v > 0 for v in vgg)
    with pytest.raises(UserError, match="nowhere.pth"):
        train_stage.run(train_cfg(*small, tmp_path, f"train.vgg_weights={tmp_path / 'nowhere.pth'}"))


# ---- data ------------------------------------------------------------------------------------------------------

def test_dataset(small, tmp_path):
    frames, poses = small
    ds = PoseFrameDataset(frames, poses)
    assert len(ds) == 6 and (ds.height, ds.width) == (64, 64)
    label, image = ds[2]["label"], ds[2]["real"]
    for t in (label, image):
        assert t.shape == (3, 64, 64) and t.dtype == torch.uint8  # made float on the training device
    assert (label > 0).any() and (label == 0).float().mean() > 0.5  # a skeleton on black
    batch = to_device({"label": label[None], "face_box": torch.tensor([[1, 2]])}, torch.device("cpu"))
    assert batch["label"].dtype == torch.float32 and batch["face_box"].dtype == torch.int64
    assert torch.equal(batch["label"][0], label.float() / 127.5 - 1)
    assert batch["label"].min() == -1 and batch["label"].max() <= 1
    # every DataLoader worker opens frames.h5 itself
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, sampler=ShuffleSampler(len(ds), 0))
    it = iter(loader)
    got = [next(it) for _ in range(4)]
    order = [i for i, _ in zip(ShuffleSampler(len(ds), 0), range(8))]
    for k, batch in enumerate(got):
        for j in range(2):
            want = ds[order[2 * k + j]]
            assert torch.equal(batch["label"][j], want["label"]) and torch.equal(batch["real"][j], want["real"])
    del it
    # a resumed sampler continues the same stream
    assert [i for i, _ in zip(ShuffleSampler(len(ds), 0, start=5), range(3))] == order[5:8]

    short = make_poses(frames, tmp_path / "short.h5", frames=5)
    with pytest.raises(UserError, match="5 frames of poses but .* has 6 frames"):
        train_stage.run(train_cfg(frames, short, tmp_path))
    with pytest.raises(UserError, match="poses file not found"):
        train_stage.run(train_cfg(frames, tmp_path / "missing.h5", tmp_path))


@pytest.mark.parametrize("temporal, face", [(True, True), (False, False)])
def test_resident_batches_are_the_data_loaders(small, tmp_path, temporal, face):
    """train.data_on_device's batches: a DataLoader's over the same sampler, key by key and bit by bit (a resumed
    sampler too), from one copy of the frames and label maps the items read."""
    from dancenow.training.data import frames_used, resident_batches, resident_bytes

    frames, poses = small
    ds = PoseFrameDataset(frames, poses, np.arange(5), label_cache=tmp_path / "labels.h5", temporal=temporal,
                          face_crop=32 if face else None)
    assert len(frames_used(ds)) == 5 and resident_bytes(ds) == 2 * 5 * 3 * 64 * 64
    for start in (0, 7):
        loader = iter(torch.utils.data.DataLoader(ds, batch_size=3, drop_last=True,
                                                  sampler=ShuffleSampler(len(ds), 4, start)))
        resident = resident_batches(ds, ShuffleSampler(len(ds), 4, start), 3, torch.device("cpu"))
        for _ in range(4):
            want, got = next(loader), next(resident)
            assert list(got) == list(want) == ["label", "real"] + ["label_prev", "real_prev"] * temporal + \
                ["face_box"] * face
            for k in want:
                assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k


def test_data_on_the_device_trains_the_same_weights(small, tmp_path, caplog):
    """On the CPU (where the default reads per batch) train.data_on_device=true trains the same weights to the bit,
    both phases, across a resume in the face phase."""
    frames, poses = small
    caplog.set_level(logging.INFO, logger="dancenow")
    steps = ("train.iterations=4", "train.face.iterations=2")
    train_stage.run(train_cfg(frames, poses, tmp_path / "loader", *steps))
    assert "copied to" not in caplog.text
    on = "train.data_on_device=true"
    train_stage.run(train_cfg(frames, poses, tmp_path / "device", "train.iterations=4", "train.face.iterations=1", on))
    train_stage.run(train_cfg(frames, poses, tmp_path / "device", *steps, on))
    assert "resuming from iteration 1 of phase face" in caplog.text
    assert "phase main: its 0.00 GiB of frames and label maps copied to cpu" in caplog.text
    a, b = (torch.load(tmp_path / d / "generator.pt", weights_only=True) for d in ("loader", "device"))
    for part in ("generator", "face"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part


# ---- training --------------------------------------------------------------------------------------------------

def mean_l1(generator_path, frames, poses):
    """Mean |generated - real| (in [-1,1] units) of every frame, rendered as `dancenow render` does."""
    performer, meta = load_performer(generator_path)
    pose = poses_io.read_poses(poses)
    with h5.open_input(frames, "frames") as f:
        real = f["frames"][()]
    assert (meta["height"], meta["width"]) == real.shape[1:3]
    fake = np.stack(list(generate(performer, pose, range(len(real)), *real.shape[1:3], "cpu")))
    return float(np.abs(fake.astype(np.float64) - real).mean() / 127.5)


def test_overfit_a_few_real_frames(small, tmp_path, caplog):
    frames, poses = small
    caplog.set_level(logging.INFO, logger="dancenow")
    train_stage.run(train_cfg(frames, poses, tmp_path / "init", "train.iterations=0"))  # the untrained generator
    train_stage.run(train_cfg(frames, poses, tmp_path / "trained", "train.iterations=100", "train.log_every=10"))
    before = mean_l1(tmp_path / "init" / "generator.pt", frames, poses)
    after = mean_l1(tmp_path / "trained" / "generator.pt", frames, poses)
    assert after < 0.5 * before, (before, after)
    vgg_off = [r for r in caplog.records if r.levelno == logging.WARNING and "perceptual" in r.getMessage()]
    assert len(vgg_off) == 2 and "train.vgg_weights" in vgg_off[0].getMessage()  # one per run

    G, meta = load_performer(tmp_path / "trained" / "generator.pt")
    assert not G.training and meta["iteration"] == 100
    assert [h["phase"] for h in meta["history"]] == ["main"] * 10 + ["face"]  # log_every=10, face: 10 iterations
    assert meta["generator"]["ngf"] == 8 and meta["train"]["iterations"] == 100
    assert meta["generator"]["temporal"] and meta["face"]["crop"] == 32 and G.face is not None
    # TensorBoard got the loss curves and the sample images of both phases, on one time axis
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "trained" / "work" / "tb"), size_guidance={"images": 0}).Reload()
    assert {"main/G_GAN", "main/G_temporal", "face/F_GAN"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("main/G_GAN")] == list(range(10, 101, 10))
    assert [e.step for e in events.Scalars("face/F_GAN")] == [110]  # after the main phase's 100 steps
    assert len(events.Images("main: label | generated | real")) == 10  # sample_every=10 (tiny preset)


def test_resume_in_process_and_config_change(small, tmp_path, caplog):
    frames, poses = small
    caplog.set_level(logging.INFO, logger="dancenow")
    no_face = "train.face.enabled=false"
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=4", "train.checkpoint_every=2", no_face))
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.checkpoint_every=2", no_face))
    assert "resuming from iteration 4 of phase main" in caplog.text
    # the face GAN after the main phase: the main phase is done, the face phase starts
    caplog.clear()
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.face.iterations=2"))
    assert "different train config" in caplog.text  # the face GAN's settings are part of the config
    caplog.clear()
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.face.iterations=4"))
    assert "resuming from iteration 2 of phase face" in caplog.text
    caplog.clear()
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=8", "train.face.iterations=4"))
    assert "cannot continue: starting fresh" in caplog.text  # the face GAN was trained on the 6-iteration G
    caplog.clear()
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.lr=0.001"))
    assert "different train config" in caplog.text and "resuming" not in caplog.text


def test_channels_last_trains_the_same_networks_and_resumes_either_way(small, tmp_path, caplog):
    """train.channels_last (on GPUs by default) changes the memory layout, not the arithmetic: on the CPU the first
    step's losses are those of the default layout within float rounding, and after 4 main and 2 face steps the
    losses and the rendered frames still agree; a run resumes across the setting."""
    frames, poses = small
    caplog.set_level(logging.INFO, logger="dancenow")
    steps = ("train.iterations=4", "train.face.iterations=2", "train.log_every=1")
    train_stage.run(train_cfg(frames, poses, tmp_path / "default", *steps))
    assert "channels last" not in caplog.text  # the CPU's default
    train_stage.run(train_cfg(frames, poses, tmp_path / "last", *steps, "train.channels_last=true"))
    assert "channels last" in caplog.text
    a, b = (torch.load(tmp_path / d / "generator.pt", weights_only=True) for d in ("default", "last"))
    assert any(t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
               for t in b["generator"].values())  # it did train in the other layout
    ha, hb = a["meta"]["history"], b["meta"]["history"]
    assert [(h["phase"], h["iteration"]) for h in ha] == [(h["phase"], h["iteration"]) for h in hb]
    for i, (x, y) in enumerate(zip(ha, hb)):
        for k in x.keys() - {"phase", "iteration"}:  # the first step: the same networks and batch
            assert x[k] == pytest.approx(y[k], rel=1e-5 if i == 0 else 1e-2, abs=1e-6), (i, k)
    difference = abs(mean_l1(tmp_path / "default" / "generator.pt", frames, poses)
                     - mean_l1(tmp_path / "last" / "generator.pt", frames, poses))
    assert difference < 1e-3, difference
    no_face = "train.face.enabled=false"
    train_stage.run(train_cfg(frames, poses, tmp_path / "resumed", "train.iterations=2", no_face,
                              "train.channels_last=true"))
    caplog.clear()
    train_stage.run(train_cfg(frames, poses, tmp_path / "resumed", "train.iterations=4", no_face))
    assert "resuming from iteration 2 of phase main" in caplog.text


def test_compiled_step_trains_the_same_networks(small, tmp_path, caplog, monkeypatch):
    """train.compile runs every network of the step through torch.compile (here with the aot_eager backend: the same
    captured graphs and compiled autograd as inductor's, without minutes of code generation): the main phase's
    generator and discriminators, the face phase's networks and its frozen generator. The same losses within float
    rounding, the same checkpoint keys (the compiled wrappers share the networks' weights), a resume across the
    setting."""
    from torch._dynamo import lookup_backend

    from dancenow.training import phases

    graphs = []

    def counting(gm, inputs):
        graphs.append(gm)
        return lookup_backend("aot_eager")(gm, inputs)

    monkeypatch.setattr(phases, "COMPILE_BACKEND", counting)
    frames, poses = small
    caplog.set_level(logging.INFO, logger="dancenow")
    steps = ("train.iterations=3", "train.face.iterations=2", "train.log_every=1")
    train_stage.run(train_cfg(frames, poses, tmp_path / "eager", *steps))
    assert not graphs
    torch._dynamo.reset()
    try:
        train_stage.run(train_cfg(frames, poses, tmp_path / "compiled", *steps, "train.compile=true"))
        # main: G, D and Dt twice each (on an input that requires gradients and on one that does not); face: the
        # frozen G once, F once, FD twice
        assert len(graphs) == 10, len(graphs)
        a, b = (torch.load(tmp_path / d / "generator.pt", weights_only=True) for d in ("eager", "compiled"))
        for part in ("generator", "face"):
            assert a[part].keys() == b[part].keys()
        for x, y in zip(a["meta"]["history"], b["meta"]["history"], strict=True):
            for k in x.keys() - {"phase", "iteration"}:
                assert x[k] == pytest.approx(y[k], rel=1e-4, abs=1e-6), (x["phase"], x["iteration"], k)
        train_stage.run(train_cfg(frames, poses, tmp_path / "compiled", "train.iterations=3", "train.face.iterations=3"))
        assert "resuming from iteration 2 of phase face" in caplog.text
    finally:
        torch._dynamo.reset()


def test_an_ordinary_iteration_reads_nothing_back_from_the_device(small, tmp_path, monkeypatch):
    """Reading a tensor's value on the host waits for a GPU to finish all it was given, and then the GPU idles while
    the host queues the next step. dancenow's own code (the loop, the steps, the data) reads values only at the
    iterations that log or save a checkpoint; on this CPU every such read is caught as it is asked for."""
    from dancenow.training import loop

    reads, at = {}, [None]
    real_lr = loop.set_learning_rate

    def iteration(phase, c, it, world):
        at[0] = (phase.name, it)
        return real_lr(phase, c, it, world)

    def caught(name):
        real = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if f"{os.sep}dancenow{os.sep}" in sys._getframe(1).f_code.co_filename:
                reads.setdefault(at[0], []).append(name)
            return real(self, *args, **kwargs)
        return read

    monkeypatch.setattr(loop, "set_learning_rate", iteration)
    for name in ("item", "tolist", "cpu", "__bool__", "__float__", "__int__"):  # (numpy() refuses CUDA tensors)
        monkeypatch.setattr(torch.Tensor, name, caught(name))
    frames, poses = small
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.face.iterations=4",
                              "train.log_every=3", "train.checkpoint_every=4"))
    reads.pop(None, None)  # before the first step
    logs_or_saves = {("main", 3), ("main", 4), ("main", 6), ("face", 3)}
    assert set(reads) == logs_or_saves, reads
    assert reads[("main", 4)] == ["tolist"]  # the checkpoint's window of losses, one read


def test_learning_rate_follows_the_square_root_of_the_samples_a_step(monkeypatch):
    from dancenow.training.phases import adam

    c = dict(lr=1e-3, beta1=0.5, batch_size=4, lr_scaling="sqrt")
    monkeypatch.setenv("WORLD_SIZE", "2")  # 2 ranks x 4 samples
    assert adam(c, torch.nn.Linear(2, 2)).param_groups[0]["lr"] == pytest.approx(1e-3 * 8 ** 0.5)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert adam(dict(c, batch_size=1), torch.nn.Linear(2, 2)).param_groups[0]["lr"] == 1e-3
    assert adam(dict(c, lr_scaling="none"), torch.nn.Linear(2, 2)).param_groups[0]["lr"] == 1e-3


def test_learning_rate_decays_linearly_over_the_last_fraction_of_each_phase(small, tmp_path):
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    frames, poses = small
    seen = {}
    hook = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.setdefault(id(opt), []).append(
        opt.param_groups[0]["lr"]))
    try:
        train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=6", "train.lr=0.001",
                                  "train.lr_decay=0.5", "train.face.iterations=4"))
    finally:
        hook.remove()
    main = [1, 1, 1, 1, 2 / 3, 1 / 3]  # the last 3 of 6 steps: pix2pixHD's niter_decay, one step for one epoch
    face = [1, 1, 1, 1 / 2]
    expected = [[1e-3 * f for f in face]] * 2 + [[1e-3 * f for f in main]] * 2  # G and D, then F and FD
    assert np.allclose(np.concatenate(sorted(seen.values(), key=len)), np.concatenate(expected))


def test_gpu_kernels_fast_unless_deterministic_and_the_cpu_always_exact():
    from dancenow.training.resume import kernels

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with kernels(torch.device("cuda"), exact=False):  # only flags: no GPU needed
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        assert not torch.are_deterministic_algorithms_enabled()
    with kernels(torch.device("cuda"), exact=True):
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled()
    for exact in (True, False):
        with kernels(torch.device("cpu"), exact):
            assert torch.are_deterministic_algorithms_enabled()
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


def test_an_untrained_generator_and_a_silent_render_are_said(small_target, tmp_path, caplog):
    frames, poses = small_target
    with caplog.at_level(logging.WARNING):
        train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=0", "train.face.enabled=false"))
    assert "train.iterations=0: the generator is not trained" in caplog.text
    res = run_stage("render", "preset=tiny", f"render.poses={poses}", f"render.checkpoint={tmp_path}/generator.pt",
                    f"render.output={tmp_path}/generated.h5", f"render.video={tmp_path}/out.mp4")
    assert f"{tmp_path}/generator.pt was trained for 0 iterations: its frames are noise" in res.stderr
    assert f"the source video has no audio track: {tmp_path}/out.mp4 is silent" in res.stderr
    with_audio = run_stage("render", "preset=tiny", f"render.poses={poses}", f"render.output={tmp_path}/g2.h5",
                           f"render.checkpoint={tmp_path}/generator.pt", f"render.video={tmp_path}/out2.mp4",
                           f"render.audio={tone(tmp_path / 'tone.m4a')}")
    assert "no audio" not in with_audio.stderr


def tone(path, seconds=2):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:a", "aac", str(path)], check=True)
    return path


def test_load_performer_refuses_other_files(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "none.pt"))):
        load_performer(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match="not a dancenow checkpoint"):
        load_performer(junk)
    torch.save({"generator": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a dancenow checkpoint"):
        load_performer(tmp_path / "other.pt")
    torch.save({"format": "dancenow.pix2pixhd", "meta": Exploit(tmp_path / "pwned"), "generator": {}}, tmp_path / "exploit.pt")
    with pytest.raises(UserError) as refused:
        load_performer(tmp_path / "exploit.pt")
    assert "holds Python objects, not only tensors (posix.system" in str(refused.value)
    assert "weights_only" not in str(refused.value) and not (tmp_path / "pwned").exists()


class Exploit:
    """Unpickling it would run a shell command."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch '{self.path}'",)


def start_cli(frames, poses, out_dir, iterations):
    args = [sys.executable, "-m", "dancenow.cli", "train", "preset=tiny", f"train.frames={frames}",
            f"train.poses={poses}", f"train.output={out_dir / 'generator.pt'}", f"train.workdir={out_dir / 'work'}",
            f"train.iterations={iterations}", "train.checkpoint_every=10", "train.log_every=5", "seed=3", "threads=1"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_and_resume_matches_uninterrupted_run(tiny, tmp_path):
    frames, poses = tiny
    iterations = 40
    out = tmp_path / "run"
    final, latest = out / "generator.pt", out / "work" / "latest.pt"

    # the uninterrupted run
    proc = start_cli(frames, poses, out, iterations)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    reference = final.read_bytes()
    reference_history = torch.load(final, weights_only=True)["meta"]["history"]
    final.unlink()
    for p in sorted(out.joinpath("work").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()

    # the same run, SIGKILLed as soon as it wrote its first checkpoint, then rerun
    proc = start_cli(frames, poses, out, iterations)
    deadline = time.monotonic() + 300
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert latest.exists() and not final.exists()
    for folder in (out, out / "work"):
        for p in folder.iterdir():
            assert p.name in ("generator.pt", "latest.pt", "labels_128x128.h5", "work", "tb") or \
                re.fullmatch(r"\..*\.\d+\.tmp", p.name)
    killed_at = torch.load(latest, weights_only=True)["meta"]["iteration"]
    assert 0 < killed_at < iterations

    proc = start_cli(frames, poses, out, iterations)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    resumed = re.search(r"resuming from iteration (\d+)", err)
    assert resumed and int(resumed.group(1)) >= killed_at > 0
    G, meta = load_performer(final)
    assert meta["iteration"] == iterations and (meta["height"], meta["width"]) == (128, 128)
    assert meta["history"] == reference_history  # same seed: same losses, kill or not
    assert final.read_bytes() == reference  # ... and the same bytes
    assert not [p for p in out.rglob("*.tmp")]


def test_label_cache_holds_the_drawn_label_maps(small, tmp_path):
    frames, poses = small
    drawn = PoseFrameDataset(frames, poses)
    cached = PoseFrameDataset(frames, poses, label_cache=tmp_path / "labels.h5")
    for i in range(len(drawn)):
        assert np.array_equal(drawn.label(i), cached.label(i))
        assert all(torch.equal(drawn[i][k], cached[i][k]) for k in ("label", "real"))
    mtime = (tmp_path / "labels.h5").stat().st_mtime_ns
    PoseFrameDataset(frames, poses, label_cache=tmp_path / "labels.h5")  # same poses: reused, not redrawn
    assert (tmp_path / "labels.h5").stat().st_mtime_ns == mtime
