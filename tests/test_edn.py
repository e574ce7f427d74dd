"""The EDN parts of the generator and its training: temporal smoothing (data pairs, G(x_t, G(x_{t-1})), the temporal
discriminator), the face GAN's crops, the local enhancer and coarse-to-fine training, switching each part off,
bfloat16 autocast and the held-out frames.

Networks are tiny (ngf 4-8) and images 32-64 px; the in-process training runs use test_train's 6 real frames at 64x64.
"""

import contextlib

import numpy as np
import pytest
import torch

from dancenow import conf
from dancenow.device import amp_context
from dancenow.generation import generate, label_batch
from dancenow.models.checkpoint import load_performer
from dancenow.stages import train as train_stage
from dancenow.training import phases
from dancenow.training.data import PoseFrameDataset
from dancenow.errors import UserError
from dancenow.face import add_at, crop, face_boxes
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.keypoints import B
from dancenow.metrics import high_frequency_energy
from dancenow.models import GlobalGenerator, MultiscaleDiscriminator
from dancenow.models.generator import LocalEnhancer
from dancenow.models.performer import Performer, build_face_generator, build_generator, generator_input
from dancenow.training.steps import MAIN_LOSSES, TEMPORAL_LOSSES, generate_pair, main_step

from test_train import one_thread, small, train_cfg  # noqa: F401  (fixtures: one thread; 6 real frames at 64x64)


@pytest.fixture(scope="module")
def gap_poses(small, tmp_path_factory):
    """The small target's poses with frame 3 without a person (every confidence 0)."""
    frames, poses = small
    p = poses_io.read_poses(poses)
    for part in poses_io.POSE_PARTS:
        p[part][3, :, 2] = 0
    out = tmp_path_factory.mktemp("gap") / "poses.h5"
    with h5.create(out) as f:
        poses_io.write_poses(f, p, dict(p["attrs"]))
    return frames, out


def gen_cfg(temporal, n_local_enhancers=0, ngf=4):
    return dict(label_nc=3, output_nc=3, ngf=ngf, n_downsample=2, n_blocks=1, n_local_enhancers=n_local_enhancers,
                n_blocks_local=1, temporal=temporal)


def random_batch(temporal, size=32, n=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = ("label", "real") + (("label_prev", "real_prev") if temporal else ())
    return {k: torch.rand(n, 3, size, size, generator=g) * 2 - 1 for k in keys}


# ---- 1. temporal pairs in the data ------------------------------------------------------------------------------

def test_temporal_items_are_consecutive_pairs_of_frames_with_a_person(gap_poses):
    frames, poses = gap_poses
    single = PoseFrameDataset(frames, poses)
    pairs = PoseFrameDataset(frames, poses, temporal=True)
    assert single.n_without_person == 1
    assert single.indices.tolist() == [0, 1, 2, 4, 5]  # frame 3 has no person
    # frame 0 has no previous frame, frame 3 no person, frame 4 no person in the frame before
    assert pairs.indices.tolist() == [1, 2, 5]
    by_frame = {int(t): single[i] for i, t in enumerate(single.indices)}
    for i, t in enumerate(pairs.indices.tolist()):
        item = pairs[i]
        assert set(item) == {"label", "real", "label_prev", "real_prev"}
        assert torch.equal(item["label"], by_frame[t]["label"]) and torch.equal(item["real"], by_frame[t]["real"])
        assert torch.equal(item["label_prev"], by_frame[t - 1]["label"])
        assert torch.equal(item["real_prev"], by_frame[t - 1]["real"])
        assert not torch.equal(item["real_prev"], item["real"])  # really two different frames
    assert "label_prev" not in single[0]

    # frames= (the training frames of a holdout) restricts the items, and the previous frame must be one of them
    assert PoseFrameDataset(frames, poses, frames=[0, 1, 2]).indices.tolist() == [0, 1, 2]
    assert PoseFrameDataset(frames, poses, frames=[0, 1, 2], temporal=True).indices.tolist() == [1, 2]
    assert PoseFrameDataset(frames, poses, frames=[1, 2, 4, 5], temporal=True).indices.tolist() == [2, 5]
    with pytest.raises(UserError, match="a person in the frame before"):
        PoseFrameDataset(frames, poses, frames=[3, 4], temporal=True)


# ---- 2. the temporal generator's data flow ----------------------------------------------------------------------

def test_temporal_generator_is_one_graph_over_the_pair():
    torch.manual_seed(0)
    cfg = gen_cfg(True)
    G = build_generator(cfg)
    assert G.model[1].weight.shape[1] == 6  # label map + previous output
    batch = random_batch(True)
    frames = generate_pair(G, cfg, batch)
    assert len(frames) == 2
    (lp, fake_prev, rp), (lt, fake, rt) = frames
    assert lp is batch["label_prev"] and rp is batch["real_prev"] and lt is batch["label"] and rt is batch["real"]
    assert fake.shape == fake_prev.shape == (1, 3, 32, 32)
    # the first frame is generated from zeros, the second from the first one's output
    with torch.no_grad():
        first = G(torch.cat([batch["label_prev"], torch.zeros(1, 3, 32, 32)], 1))
        assert torch.allclose(fake_prev, first, atol=1e-6)
        assert torch.allclose(fake, G(torch.cat([batch["label"], first], 1)), atol=1e-6)
        assert torch.equal(generator_input(cfg, batch["label"], None)[:, 3:], torch.zeros(1, 3, 32, 32))

    # the gradient of a loss on the second frame reaches the first frame's output ...
    (g_prev,) = torch.autograd.grad(fake.sum(), fake_prev, retain_graph=True)
    assert g_prev.abs().sum() > 0
    # ... and the weights through the first call: with the first output detached the gradient is another one
    w = G.model[1].weight
    (g_full,) = torch.autograd.grad(fake.sum(), w)
    cut = G(generator_input(cfg, batch["label"], fake_prev.detach()))
    (g_cut,) = torch.autograd.grad(cut.sum(), w)
    assert torch.allclose(cut, fake, atol=1e-6)
    assert not torch.allclose(g_full, g_cut)

    # the second output depends on the first frame's label map
    other = dict(batch, label_prev=-batch["label_prev"])
    with torch.no_grad():
        assert not torch.allclose(generate_pair(G, cfg, other)[1][1], generate_pair(G, cfg, batch)[1][1])


def test_frame_by_frame_generator_takes_the_label_map_alone():
    torch.manual_seed(0)
    cfg = gen_cfg(False)
    G = build_generator(cfg)
    assert G.model[1].weight.shape[1] == 3
    batch = random_batch(False)
    frames = generate_pair(G, cfg, batch)
    assert len(frames) == 1
    label, fake, real = frames[0]
    assert label is batch["label"] and real is batch["real"]
    with torch.no_grad():
        assert torch.allclose(fake, G(batch["label"]))
    assert generator_input(cfg, batch["label"], torch.ones(1, 3, 32, 32)) is batch["label"]


# ---- 3. the temporal discriminator -----------------------------------------------------------------------------

def loss_cfg():
    return dict(n_layers_d=2, lambda_feat=10.0, lambda_vgg=10.0, ndf=4, num_d=2, lr=0.0002, beta1=0.5,
                batch_size=1, lr_scaling="none")


def test_main_step_trains_the_temporal_discriminator():
    torch.manual_seed(0)
    c, cfg = loss_cfg(), gen_cfg(True)
    G = build_generator(cfg)
    nets = {"G": G, **phases.discriminators(c, True, torch.device("cpu"))}
    assert nets["Dt"].nets[0].stages[0][0].weight.shape[1] == 12  # (x_{t-1}, x_t, y_{t-1}, y_t)
    opts = {"G": phases.adam(c, G), "D": phases.adam(c, nets["D"], nets["Dt"])}
    before = {k: m.nets[0].stages[0][0].weight.detach().clone() for k, m in nets.items() if k != "G"}
    g_before = G.model[1].weight.detach().clone()
    losses = main_step(nets, opts, None, random_batch(True), c, cfg, contextlib.nullcontext())
    assert set(losses) == set(MAIN_LOSSES + TEMPORAL_LOSSES)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["G_temporal"] > 0 and losses["D_temporal"] > 0
    for k in ("D", "Dt"):
        assert not torch.equal(nets[k].nets[0].stages[0][0].weight, before[k]), k
    assert not torch.equal(G.model[1].weight, g_before)


class GradRecorder:
    """An optimizer that keeps the gradients it is asked to step with and changes no weight."""

    def __init__(self, module):
        self.params, self.grads = list(module.parameters()), None
        self.param_groups = [{"params": self.params}]

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.grads = [None if p.grad is None else p.grad.clone() for p in self.params]


def test_the_temporal_discriminator_shapes_the_generators_gradient():
    torch.manual_seed(0)
    c, cfg = loss_cfg(), gen_cfg(True)
    G = build_generator(cfg)
    D = phases.discriminators(c, False, torch.device("cpu"))["D"]
    batch = random_batch(True)
    grads = []
    for seed in (1, 2):  # two temporal discriminators, all else the same
        torch.manual_seed(seed)
        Dt = phases.discriminators(c, True, torch.device("cpu"))["Dt"]
        opts = {"G": GradRecorder(G), "D": GradRecorder(torch.nn.ModuleList([D, Dt]))}
        main_step({"G": G, "D": D, "Dt": Dt}, opts, None, batch, c, cfg, contextlib.nullcontext())
        assert all(g is not None for g in opts["G"].grads)
        assert all(g is not None and g.abs().sum() > 0 for g in opts["D"].grads[-len(list(Dt.parameters())):])
        grads.append(opts["G"].grads)
    # G's loss includes G_temporal: another Dt, another gradient for G
    assert any(not torch.equal(a, b) for a, b in zip(*grads))


@pytest.mark.parametrize("temporal", [False, True])
def test_one_discriminator_pass_gives_pix2pixhds_two_pass_gradients(temporal):
    """The step's gradients are pix2pixHD's: G's those of its losses with the discriminators frozen, the
    discriminators' those of theirs on the generated images detached, which pix2pixHD computes from a second
    forward pass of each discriminator (written out here) and the step from the one it shares."""
    from dancenow.models.losses import feature_matching_loss, lsgan_loss

    torch.manual_seed(0)
    c, cfg = loss_cfg(), gen_cfg(temporal)
    G = build_generator(cfg)
    nets = {"G": G, **phases.discriminators(c, temporal, torch.device("cpu"))}
    Ds = torch.nn.ModuleList(m for k, m in nets.items() if k != "G")
    batch = random_batch(temporal)
    opts = {"G": GradRecorder(G), "D": GradRecorder(Ds)}
    losses = main_step(nets, opts, None, batch, c, cfg, contextlib.nullcontext())

    def terms(D, cond, fake, real, frozen):
        for p in D.parameters():
            p.requires_grad_(not frozen)
        pred_fake, pred_real = D(cond, fake), D(cond, real)
        for p in D.parameters():
            p.requires_grad_(True)
        if frozen:
            feat = feature_matching_loss(pred_fake, pred_real, c["n_layers_d"])
            return lsgan_loss(pred_fake, True) + feat * c["lambda_feat"]
        return (lsgan_loss(pred_fake, False) + lsgan_loss(pred_real, True)) * 0.5

    frames = generate_pair(G, cfg, batch)
    pairs = [(nets["D"], label, fake, real) for label, fake, real in frames]
    if temporal:
        (lp, fp, rp), (lt, ft, rt) = frames
        pairs.append((nets["Dt"], torch.cat([lp, lt], 1), torch.cat([fp, ft], 1), torch.cat([rp, rt], 1)))
    n = len(frames)
    weight = [1 / n] * n + [1.0] * temporal  # D's terms are means over the frames; Dt's judge the pair once
    loss_g = sum(w * terms(D, cond, fake, real, True) for w, (D, cond, fake, real) in zip(weight, pairs))
    loss_d = sum(w * terms(D, cond, fake.detach(), real, False) for w, (D, cond, fake, real) in zip(weight, pairs))
    want_g = torch.autograd.grad(loss_g, list(G.parameters()))
    want_d = torch.autograd.grad(loss_d, list(Ds.parameters()))
    assert losses["D_fake"] > 0 and losses["G_GAN"] > 0
    for got, want in ((opts["G"].grads, want_g), (opts["D"].grads, want_d)):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * b.abs().max().item()), (a - b).abs().max()


def test_main_step_without_temporal_smoothing_needs_no_temporal_discriminator():
    torch.manual_seed(0)
    c, cfg = loss_cfg(), gen_cfg(False)
    G = build_generator(cfg)
    nets = {"G": G, **phases.discriminators(c, False, torch.device("cpu"))}
    assert set(nets) == {"G", "D"}
    opts = {"G": phases.adam(c, G), "D": phases.adam(c, nets["D"])}
    losses = main_step(nets, opts, None, random_batch(False), c, cfg, contextlib.nullcontext())
    assert set(losses) == set(MAIN_LOSSES)
    assert all(torch.isfinite(v) for v in losses.values())


# ---- 4. the face crop ------------------------------------------------------------------------------------------

def head_poses():
    """5 frames at 64x64: a face around (40, 20); only the body's head; a face at the top-right corner; a body
    without head keypoints; head keypoints below the confidence threshold."""
    body, face = np.zeros((5, 25, 3)), np.zeros((5, 70, 3))
    # 0: confident face points around x=40, y=20, an unconfident outlier, and the body's head elsewhere
    face[0, :4] = [(38, 18, 1), (42, 22, 1), (40, 20, 0.9), (40, 20, 1)]
    face[0, 4] = (1, 60, 0.01)
    body[0, B["Nose"]] = (10, 50, 1)
    body[0, B["MidHip"]] = (30, 50, 1)
    # 1: no face; nose and eyes confident (centre x=20, y=28), the ears not
    body[1, B["Nose"]] = (20, 30, 1)
    body[1, B["REye"]] = (18, 26, 1)
    body[1, B["LEye"]] = (22, 28, 1)
    body[1, B["REar"]] = (60, 60, 0.01)
    body[1, B["Neck"]] = (50, 50, 1)  # not a head keypoint
    # 2: a face at the top-right corner
    face[2, :2] = [(62, 1, 1), (62, 3, 1)]
    # 3: a body without head keypoints
    body[3, [B["Neck"], B["MidHip"], B["LAnkle"]]] = (30, 30, 1)
    # 4: head keypoints below MIN_CONFIDENCE
    body[4, B["Nose"]] = (30, 30, 0.05)
    return dict(body=body, face=face)


def test_face_boxes_centre_fall_back_clamp_and_invalid():
    boxes, valid = face_boxes(head_poses(), 16, 64, 64)
    assert boxes.dtype == np.int64 and boxes.shape == (5, 2)
    assert valid.tolist() == [True, True, True, False, False]
    assert boxes[0].tolist() == [12, 32]  # (y, x) = (20 - 8, 40 - 8): the face wins over the body's head
    assert boxes[1].tolist() == [20, 12]  # the body's nose and eyes: centre (x=20, y=28)
    assert boxes[2].tolist() == [0, 48]   # shifted inside the frame
    images = torch.rand(5, 3, 64, 64)
    crops = crop(images, torch.from_numpy(boxes), 16)
    assert crops.shape == (5, 3, 16, 16)  # full size at the edge too
    assert torch.equal(crops[2], images[2, :, 0:16, 48:64])
    # non-square frames: y is clamped by the height, x by the width
    boxes, _ = face_boxes(head_poses(), 16, 32, 64)
    assert boxes[0].tolist() == [12, 32] and boxes[2].tolist() == [0, 48]
    boxes, _ = face_boxes(dict(body=np.zeros((1, 25, 3)), face=np.array([[(2, 30, 1)] + [(0, 0, 0)] * 69])), 16,
                          32, 64)
    assert boxes[0].tolist() == [16, 0]  # y = 30 - 8 = 22 > 32 - 16; x = 2 - 8 < 0
    with pytest.raises(ValueError, match="does not fit"):
        face_boxes(head_poses(), 48, 32, 64)


def test_crop_and_add_at_touch_exactly_the_box():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 64, 64)
    original = images.clone()
    boxes = torch.tensor([[12, 32], [0, 48], [40, 0]])
    crops = crop(images, boxes, 16)
    for b, (y, x) in enumerate(boxes.tolist()):
        assert torch.equal(crops[b], images[b, :, y:y + 16, x:x + 16])
    out = add_at(images, torch.ones(3, 3, 16, 16), boxes)
    assert torch.equal(images, original)  # a new tensor: the input is left as it was
    diff = out - images
    for b, (y, x) in enumerate(boxes.tolist()):
        inside = torch.zeros(64, 64, dtype=torch.bool)
        inside[y:y + 16, x:x + 16] = True
        assert torch.allclose(diff[b][:, inside], torch.ones(()))
        assert torch.equal(out[b][:, ~inside], images[b][:, ~inside])


def test_performer_adds_the_face_residual_inside_the_box_only():
    torch.manual_seed(0)
    cfg = gen_cfg(False)
    G = build_generator(cfg)
    face_cfg = dict(crop=16, ngf=4, n_downsample=1, n_blocks=1)
    F = build_face_generator(face_cfg)
    assert F.model[1].weight.shape[1] == 6  # (label crop, generated crop)
    performer = Performer(G, cfg, F, face_cfg).eval()
    label = torch.rand(3, 3, 64, 64) * 2 - 1
    boxes = torch.tensor([[12, 32], [20, 12], [0, 48]])
    has_face = torch.tensor([True, False, True])
    with torch.no_grad():
        final, out = performer(label, None, boxes, has_face)
        assert torch.allclose(out, G(label))
        residual = F(torch.cat([crop(label[[0, 2]], boxes[[0, 2]], 16), crop(out[[0, 2]], boxes[[0, 2]], 16)], 1))
    assert torch.equal(final[1], out[1])  # no face: untouched
    for j, b in enumerate((0, 2)):
        y, x = boxes[b].tolist()
        inside = torch.zeros(64, 64, dtype=torch.bool)
        inside[y:y + 16, x:x + 16] = True
        assert torch.equal(final[b][:, ~inside], out[b][:, ~inside])
        assert torch.allclose(final[b][:, inside] - out[b][:, inside], residual[j].flatten(1), atol=1e-6)
        assert (final[b][:, inside] != out[b][:, inside]).any()
    # no face anywhere, or no boxes: the generator's output alone
    with torch.no_grad():
        none, _ = performer(label, None, boxes, torch.zeros(3, dtype=torch.bool))
        assert torch.equal(none, out)
        assert torch.equal(performer(label)[0], out)


def test_render_feeds_each_output_into_the_next_and_restarts_without_a_person(gap_poses):
    torch.manual_seed(0)
    cfg = gen_cfg(True)
    performer = Performer(build_generator(cfg), cfg).eval()
    poses = poses_io.read_poses(gap_poses[1])
    got = np.stack(list(generate(performer, poses, range(6), 64, 64, "cpu", batch_size=4)))
    want, prev = [], None
    with torch.no_grad():
        for t in range(6):
            label = label_batch(poses, [t], 64, 64)
            if t in (0, 3):  # a sequence starts (at 3: no person, it restarts): its first frame from its own output
                _, prev = performer(label, None)
            final, prev = performer(label, prev)
            want.append(((final.clamp(-1, 1) + 1) * 127.5).round().byte()[0].permute(1, 2, 0).numpy())
    assert np.array_equal(got, np.stack(want))
    # feeding zeros instead of the previous output makes other frames
    with torch.no_grad():
        alone, _ = performer(label_batch(poses, [2], 64, 64), None)
    assert not np.array_equal(((alone.clamp(-1, 1) + 1) * 127.5).round().byte()[0].permute(1, 2, 0).numpy(), got[2])


def test_the_first_rendered_frame_is_as_close_to_the_second_as_later_pairs_are(small, tmp_path):
    """A trained temporal model: frame 0 (from its own output, not from zeros) is no outlier of the sequence."""
    frames, poses = small
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.iterations=60", "train.face.enabled=false"))
    performer, _ = load_performer(tmp_path / "generator.pt")
    pose = poses_io.read_poses(poses)
    got = np.stack(list(generate(performer, pose, range(6), 64, 64, "cpu"))).astype(np.float64)
    steps = np.abs(np.diff(got, axis=0)).mean(axis=(1, 2, 3))
    assert steps[0] <= steps[1:].max(), steps
    # from zeros alone (what rendering did before) the first frame is the outlier of this very model
    with torch.no_grad():
        cold, _ = performer(label_batch(pose, [0], 64, 64), None)
    cold = ((cold.clamp(-1, 1) + 1) * 127.5).round()[0].permute(1, 2, 0).numpy()
    assert np.abs(cold - got[1]).mean() > steps[0]


# ---- 5. the local enhancer -------------------------------------------------------------------------------------

def test_resize_upsampling_paints_no_checkerboard():
    """At initialisation already, transposed convolutions put a checkerboard on a smooth input; nearest x2 + conv
    does not (Odena et al. 2016)."""
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1,
                                        size=(64, 64), mode="bilinear", align_corners=False)
    energy = {}
    for mode in ("transpose", "resize"):
        values = []
        for seed in range(3):
            torch.manual_seed(seed)
            G = build_generator(dict(gen_cfg(False, ngf=8), n_downsample=3, upsample=mode))
            with torch.no_grad():
                y = ((G(x).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            values.append(high_frequency_energy(y).mean())
        energy[mode] = max(values) if mode == "resize" else min(values)
    assert energy["resize"] < 0.2 < 0.3 < energy["transpose"], energy
    local = build_generator(dict(gen_cfg(False, n_local_enhancers=1), upsample="resize"))
    assert local(x[:1]).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_resize_convolution_equals_upsample_pad_conv(layout):
    """ResizeConv2d computes conv3x3(reflection_pad(nearest_x2(x))) at the input's size: the same values and
    gradients (input, weights, bias) within float rounding, odd sizes and the memory format kept; and the weights of
    a generator made with the three separate layers load into it (same state dict keys) and give the same image."""
    from dancenow.models.generator import ResizeConv2d

    torch.manual_seed(0)
    layer = ResizeConv2d(5, 7)
    x = torch.randn(2, 5, 9, 6).contiguous(memory_format=layout).requires_grad_()
    reference = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2, mode="nearest"), torch.nn.ReflectionPad2d(1))
    want = torch.nn.functional.conv2d(reference(x), layer.weight, layer.bias)
    got = layer(x)
    assert got.shape == (2, 7, 18, 12) and got.is_contiguous(memory_format=layout)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(got, (x, layer.weight, layer.bias), g),
                    torch.autograd.grad(want, (x, layer.weight, layer.bias), g)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-5), (a - b).abs().max()
    # a generator of the layout before (nn.Upsample, nn.ReflectionPad2d, nn.Conv2d) loads and paints the same
    G = build_generator(dict(gen_cfg(False, ngf=4), n_downsample=2, upsample="resize"))
    layers = list(G.model)
    resize = [i for i, m in enumerate(layers) if isinstance(m, ResizeConv2d)]
    assert len(resize) == 2
    for i in resize:
        layers[i - 2:i + 1] = [torch.nn.Upsample(scale_factor=2, mode="nearest"), torch.nn.ReflectionPad2d(1),
                               torch.nn.Conv2d(layers[i].in_channels, layers[i].out_channels, 3)]
    old = torch.nn.Sequential(*layers)
    old.load_state_dict({k.removeprefix("model."): v for k, v in G.state_dict().items()})
    G.load_state_dict({f"model.{k}": v for k, v in old.state_dict().items()})
    label = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(G(label), old(label), atol=1e-5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_narrow_convolution_equals_the_plain_one(layout):
    """NarrowConv2d (the generators' image layers, the discriminators' patch maps) gives nn.Conv2d's values and
    gradients within float rounding, its output in the input's layout and its weight's gradient in the weight's."""
    from dancenow.models.generator import NarrowConv2d

    torch.manual_seed(0)
    layer = NarrowConv2d(16, 3, 7, stride=2, padding=2)
    x = torch.randn(2, 16, 23, 30).contiguous(memory_format=layout).requires_grad_()
    want = torch.nn.functional.conv2d(x, layer.weight, layer.bias, stride=2, padding=2)
    got = layer(x)
    assert got.shape == want.shape == (2, 3, 11, 14) and got.is_contiguous(memory_format=layout)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(got, (x, layer.weight, layer.bias), g, retain_graph=True),
                    torch.autograd.grad(want, (x, layer.weight, layer.bias), g)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-5), (a - b).abs().max()
    got.backward(g)
    assert layer.weight.grad.is_contiguous()
    G, D = build_generator(gen_cfg(False, ngf=4)), MultiscaleDiscriminator(6, 4, 2, 2)
    assert [m.out_channels for m in (*G.modules(), *D.modules()) if isinstance(m, NarrowConv2d)] == [3, 1, 1]


@pytest.mark.parametrize("n_local", [1, 2])
def test_local_enhancer_takes_the_global_generator(n_local):
    torch.manual_seed(0)
    ngf = 4
    G = LocalEnhancer(3, 3, ngf, n_downsample_global=1, n_blocks_global=1, n_local_enhancers=n_local,
                      n_blocks_local=1)
    assert G.size_multiple == 2 ** (1 + n_local)
    coarse = GlobalGenerator(3, 3, ngf * 2 ** n_local, n_downsample=1, n_blocks=1)
    trunk_keys = G.global_trunk.state_dict().keys()
    assert trunk_keys and all(f"model.{k}" in coarse.state_dict() for k in trunk_keys)
    assert not all(torch.equal(v, coarse.state_dict()[f"model.{k}"]) for k, v in G.global_trunk.state_dict().items())
    G.load_global(coarse)
    for k, v in G.global_trunk.state_dict().items():
        assert torch.equal(v, coarse.state_dict()[f"model.{k}"]), k
    head = [k for k in coarse.state_dict() if int(k.split(".")[1]) >= len(G.global_trunk)]
    assert head and all(int(k.split(".")[1]) == len(coarse.model) - 2 for k in head)  # only the output conv is left

    seen = []
    G.global_trunk.register_forward_hook(lambda m, inp, out: seen.append((inp[0].shape, out.shape)))
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        y = G(x)
        assert seen[0][0] == (2, 3, 32 // 2 ** n_local, 48 // 2 ** n_local)
        assert seen[0][1][1] == ngf * 2 ** n_local
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
        # the trunk on the coarse input is the coarse generator minus its head
        small = G.downsample(x) if n_local == 1 else G.downsample(G.downsample(x))
        assert torch.allclose(G.global_trunk(small), coarse.model[:-3](small))
        G.global_trunk[1].weight.mul_(3)  # the first conv of the trunk
        assert not torch.allclose(G(x), y)


# ---- 6. coarse-to-fine training --------------------------------------------------------------------------------

def trunk_compare(workdir, output):
    """For every trunk layer: whether the coarse generator's weights (latest.pt's done['global']) equal the final
    generator's global_trunk weights."""
    done = torch.load(workdir / "latest.pt", weights_only=True)["done"]
    ckpt = torch.load(output, weights_only=True)
    performer, _ = load_performer(output)
    n_trunk = len(performer.generator.global_trunk)
    coarse = done["global"]
    assert all(k.startswith("model.") for k in coarse)
    trunk = {k: v for k, v in coarse.items() if int(k.split(".")[1]) < n_trunk}
    final = {k[len("global_trunk."):]: v for k, v in ckpt["generator"].items() if k.startswith("global_trunk.")}
    assert set(final) == {k[len("model."):] for k in trunk} and final
    return {k: torch.equal(v, final[k[len("model."):]]) for k, v in trunk.items()}, done


def test_coarse_to_fine_training(small, tmp_path):
    frames, poses = small
    local = ["train.n_local_enhancers=1", "train.n_downsample=1", "train.global_iterations=2",
             "train.iterations=2", "train.log_every=1", "train.background=none"]
    out = tmp_path / "frozen"
    train_stage.run(train_cfg(frames, poses, out, *local, "train.fix_global_iterations=100", "train.face.iterations=2"))
    performer, meta = load_performer(out / "generator.pt")
    assert [h["phase"] for h in meta["history"]] == ["global", "global", "main", "main", "face", "face"]
    assert [tuple(p) for p in meta["plan"]] == [("global", 2), ("main", 2), ("face", 2)]
    assert isinstance(performer.generator, LocalEnhancer) and performer.face is not None
    assert meta["generator"]["n_local_enhancers"] == 1
    same, done = trunk_compare(out / "work", out / "generator.pt")
    assert all(same.values()), [k for k, v in same.items() if not v]  # frozen throughout the 2 main iterations
    assert set(done) == {"global", "main", "face"}
    assert (out / "work" / "labels_32x32.h5").is_file()  # the coarse phase ran at half size
    assert torch.equal(performer.generator.global_trunk[1].weight, done["global"]["model.1.weight"])

    out = tmp_path / "free"
    train_stage.run(train_cfg(frames, poses, out, *local, "train.fix_global_iterations=0", "train.face.enabled=false"))
    same, _ = trunk_compare(out / "work", out / "generator.pt")
    assert not all(same.values())  # the trunk trained on in the main phase

    # with the background plate: the coarse generator sees it at half size, its trunk starts the local enhancer
    out = tmp_path / "plate"
    plate = [o for o in local if o != "train.background=none"] + ["train.background=plate"]
    train_stage.run(train_cfg(frames, poses, out, *plate, "train.fix_global_iterations=100",
                              "train.face.enabled=false"))
    performer, meta = load_performer(out / "generator.pt")
    done = torch.load(out / "work" / "latest.pt", weights_only=True)["done"]
    assert meta["generator"]["plate"] is True  # target_woman's camera is static
    assert done["global"]["plate"].shape[2:] == (32, 32) and performer.generator.plate.shape[2:] == (64, 64)
    assert torch.equal(performer.generator.global_trunk[1].weight, done["global"]["net.model.1.weight"])


# ---- 7. each part can be switched off ---------------------------------------------------------------------------

def plan_of(n_local=0, global_iterations=0, face=True):
    return phases.phase_plan(dict(n_local_enhancers=n_local, global_iterations=global_iterations, iterations=7,
                                 face=dict(enabled=face, iterations=3)))


def test_phase_plan():
    assert plan_of() == [("main", 7), ("face", 3)]
    assert plan_of(face=False) == [("main", 7)]
    assert plan_of(n_local=1, global_iterations=5) == [("global", 5), ("main", 7), ("face", 3)]
    assert plan_of(n_local=1, global_iterations=5, face=False) == [("global", 5), ("main", 7)]
    assert plan_of(n_local=1, global_iterations=0) == [("main", 7), ("face", 3)]  # no coarse phase
    assert plan_of(n_local=0, global_iterations=5) == [("main", 7), ("face", 3)]  # no local enhancer: no coarse


def test_training_without_temporal_smoothing_and_face(small, tmp_path):
    frames, poses = small
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.temporal=false", "train.face.enabled=false",
                              "train.background=none", "train.iterations=2", "train.log_every=1"))
    ckpt = torch.load(tmp_path / "generator.pt", weights_only=True)
    meta = ckpt["meta"]
    assert meta["generator"]["temporal"] is False and meta["face"] is None and ckpt["face"] is None
    assert ckpt["generator"]["model.1.weight"].shape[1] == 3
    assert [h["phase"] for h in meta["history"]] == ["main", "main"]
    assert all(set(h) == {"phase", "iteration", *MAIN_LOSSES} for h in meta["history"])
    latest = torch.load(tmp_path / "work" / "latest.pt", weights_only=True)
    assert set(latest["nets"]) == {"G", "D"}  # no temporal discriminator
    performer, _ = load_performer(tmp_path / "generator.pt")
    assert performer.face is None and not performer.temporal


def test_bad_switches_are_refused_when_the_config_is_composed(small, tmp_path):
    frames, poses = small
    c = conf.section(train_cfg(frames, poses, tmp_path, "train.temporal=yes", "train.face.enabled=no"), "train")
    assert c["temporal"] is True and c["face"]["enabled"] is False  # typed: 'no' is false, not a truthy string
    for override, match in (("train.temporal=maybe", "train.temporal must be true or false, not 'maybe'"),
                            ("train.face.enabled=2.5", "train.face.enabled must be true or false, not 2.5"),
                            ("train.holdout=1.0", r"train.holdout must be a number >= 0 and < 1, not 1.0"),
                            ("train.holdout=-0.1", "train.holdout must be a number >= 0"),
                            ("train.amp=fast", "train.amp must be one of auto, bf16, off, not 'fast'")):
        with pytest.raises(UserError, match=match):
            train_cfg(frames, poses, tmp_path / "bad", override)  # refused before any stage runs
    assert not (tmp_path / "bad").exists()


# ---- 8. bfloat16 autocast ------------------------------------------------------------------------------------------

def test_amp_is_off_on_cpu():
    torch.manual_seed(0)
    G = GlobalGenerator(3, 3, ngf=4, n_downsample=1, n_blocks=1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = G(x)
    for setting in ("auto", "bf16", "off"):
        ctx, on = amp_context(setting, torch.device("cpu"), "train.amp")
        assert on is False
        with ctx, torch.no_grad():
            assert not torch.is_autocast_enabled()
            y = G(x)
        assert y.dtype == torch.float32 and torch.equal(y, ref)
    for key in ("train.amp", "render.amp", "evaluate.amp", "pose.amp"):
        with pytest.raises(UserError, match=f"{key} must be one of auto, bf16, off, not 'sometimes'"):
            conf.load([f"{key}=sometimes"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bfloat16 autocast needs a CUDA GPU")
def test_amp_runs_the_generator_in_bfloat16_on_gpus():
    device = torch.device("cuda")
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16 support")
    ctx, on = amp_context("auto", device, "train.amp")
    assert on is True
    G = build_generator(gen_cfg(True)).to(device)
    with ctx, torch.no_grad():
        y = G(generator_input(gen_cfg(True), torch.rand(1, 3, 32, 32, device=device), None))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
    off, on = amp_context("off", device, "train.amp")
    with off, torch.no_grad():
        assert not on and G(torch.rand(1, 6, 32, 32, device=device)).dtype == torch.float32


# ---- 9. held-out frames ----------------------------------------------------------------------------------------

def test_training_frames():
    assert np.array_equal(phases.training_frames(100, 0.2), np.arange(80))
    assert np.array_equal(phases.training_frames(6, 0.0), np.arange(6))
    assert len(phases.training_frames(6, 0.5)) == 3


def test_holdout_keeps_the_last_frames_out_of_training(small, tmp_path):
    frames, poses = small
    train_stage.run(train_cfg(frames, poses, tmp_path, "train.holdout=0.5", "train.iterations=1",
                        "train.face.enabled=false"))
    _, meta = load_performer(tmp_path / "generator.pt")
    assert meta["train_frames"] == 3 and meta["n_frames"] == 6
