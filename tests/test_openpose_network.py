"""The CMU body-pose network: layer names and shapes of the users' weights file, loading and its refusals, the
preprocessing and the coordinate mapping, multi-scale and batched inference (random weights: no real file here)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from dancenow.errors import UserError
from dancenow.pose.openpose import network
from dancenow.pose.openpose.network import (BodyPoseNetwork, expected_shapes, load_network, preprocess, run_network,
                                            to_frame)

KEYS_JSON = Path(__file__).resolve().parents[2] / "shared" / "openpose" / "body_pose_model.keys.json"
N_PARAMS = 52_311_446


@pytest.fixture(scope="module")
def keys():
    """{key: shape} of the users' body_pose_model.pth, in the file's order."""
    if not KEYS_JSON.exists():
        pytest.skip(f"missing {KEYS_JSON}")
    return {k: tuple(v) for k, v in json.loads(KEYS_JSON.read_text()).items()}


@pytest.fixture(scope="module")
def weights(keys, tmp_path_factory):
    """A plain state dict of random float32 tensors keyed and shaped like the users' file (He-initialised, so the
    outputs after 6 stages are of order 1), saved as body_pose_model.pth; (path, state)."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in keys.items():
        if k.endswith(".weight"):
            state[k] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / math.prod(shape[1:]))
        else:
            state[k] = torch.randn(shape, generator=gen) * 0.1
    path = tmp_path_factory.mktemp("openpose") / "body_pose_model.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def net(weights):
    return load_network(weights[0])


def frames_of(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# ---- layers and weights -------------------------------------------------------------------------------------------

def test_keys_and_shapes_are_the_weights_files(keys):
    shapes = expected_shapes()
    assert list(shapes) == list(keys)  # same keys, even in the file's order
    assert {k: tuple(s) for k, s in shapes.items()} == keys
    assert len(shapes) == 184
    assert sum(math.prod(s) for s in shapes.values()) == N_PARAMS
    with torch.device("meta"):
        built = BodyPoseNetwork()
    assert sum(p.numel() for p in built.parameters()) == N_PARAMS
    assert all(isinstance(m, nn.Conv2d) for m in built.children()) and len(list(built.children())) == 92
    # stages 2..6 read [PAFs (38), heatmaps (19), front features (128)]
    assert all(keys[f"Mconv1_stage{s}_{b}.weight"][1] == 38 + 19 + 128 for s in range(2, 7) for b in ("L1", "L2"))
    for name, conv in built.named_children():
        k = conv.kernel_size[0]
        assert k == keys[name + ".weight"][2] == keys[name + ".weight"][3], name
        assert conv.padding == (k // 2, k // 2) and conv.stride == (1, 1) and conv.dilation == (1, 1), name


def test_loads_the_file_strictly_and_frozen(net, weights):
    _, state = weights
    assert set(net.state_dict()) == set(state)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())
    pafs, heatmaps = net(torch.zeros(1, 3, 64, 64))
    assert pafs.shape == (1, 38, 8, 8) and heatmaps.shape == (1, 19, 8, 8)
    pafs, heatmaps = net(torch.zeros(2, 3, 72, 95))  # stride 8, rounded down
    assert pafs.shape == (2, 38, 9, 11) and heatmaps.shape == (2, 19, 9, 11)
    # a weights file loads into a plain (strict) nn.Module too: no prefix on the keys
    fresh = BodyPoseNetwork()
    fresh.load_state_dict(torch.load(weights[0], weights_only=True), strict=True)


def test_concatenation_order_and_relu_placement(net):
    """Mconv1 of stages 2..6 reads exactly [previous L1 output, previous L2 output, ReLU(conv4_4_CPM)]; every conv
    but the last of each branch feeds ReLU'd values on; the branch outputs keep their negative values."""
    outs, ins = {}, {}
    hooks = []
    for name, conv in net.named_children():
        hooks.append(conv.register_forward_hook(lambda m, i, o, name=name: outs.__setitem__(name, o.clone())))
        hooks.append(conv.register_forward_pre_hook(lambda m, i, name=name: ins.__setitem__(name, i[0].clone())))
    try:
        x = torch.from_numpy(frames_of(1, 64, 64)).permute(0, 3, 1, 2).float() / 256 - 0.5
        with torch.no_grad():
            pafs, heatmaps = net(x)
    finally:
        for h in hooks:
            h.remove()
    features = torch.relu(outs["conv4_4_CPM"])
    last = {"L1": "conv5_5_CPM_L1", "L2": "conv5_5_CPM_L2"}
    for stage in range(2, 7):
        for b in ("L1", "L2"):
            inp = ins[f"Mconv1_stage{stage}_{b}"]
            assert inp.shape[1] == 185
            assert torch.equal(inp[:, :38], outs[last["L1"]])
            assert torch.equal(inp[:, 38:57], outs[last["L2"]])
            assert torch.equal(inp[:, 57:], features)
        last = {b: f"Mconv7_stage{stage}_{b}" for b in ("L1", "L2")}
    assert torch.equal(pafs, outs["Mconv7_stage6_L1"]) and torch.equal(heatmaps, outs["Mconv7_stage6_L2"])
    finals = [n for n in outs if n.startswith(("conv5_5", "Mconv7"))]
    assert len(finals) == 12
    for n in finals:  # no ReLU after the last conv of a branch: its negative values reach the next stage
        assert outs[n].min() < 0, n
    for n, inp in ins.items():
        if n == "conv1_1" or n.startswith("Mconv1"):
            continue
        assert inp.min() >= 0, n  # after a ReLU
        assert outs[n].min() < 0, n  # ... that had something to do


def test_last_convs_have_no_relu(weights):
    net = load_network(weights[0])
    for b in ("L1", "L2"):
        getattr(net, f"Mconv7_stage6_{b}").weight.zero_()
        getattr(net, f"Mconv7_stage6_{b}").bias.fill_(-5.0)
    with torch.no_grad():
        pafs, heatmaps = net(torch.zeros(1, 3, 64, 64))
    assert torch.equal(pafs, torch.full((1, 38, 8, 8), -5.0))
    assert torch.equal(heatmaps, torch.full((1, 19, 8, 8), -5.0))


# ---- refusals -----------------------------------------------------------------------------------------------------

def cheap_state(keys):
    """Tensors of the right shapes, each backed by one element (a few kB on disk)."""
    return {k: torch.zeros(()).expand(s) for k, s in keys.items()}


def refusal(path):
    with pytest.raises(UserError) as e:
        load_network(path)
    msg = str(e.value)
    assert "pose.openpose_weights" in msg and str(path) in msg
    assert "body_pose_model.pth: 184 tensors, keys conv1_1.weight ... Mconv7_stage6_L2.bias" in msg
    return msg


def test_refusals(keys, tmp_path):
    torch.save(cheap_state(keys), tmp_path / "ok.pth")  # the shapes check passes a cheap file: the refusals below
    load_network(tmp_path / "ok.pth")  # are about what each file lacks

    assert "not found" in refusal(tmp_path / "absent.pth")

    state = cheap_state(keys)
    del state["Mconv7_stage6_L2.bias"]
    torch.save(state, tmp_path / "missing.pth")
    assert "missing keys ['Mconv7_stage6_L2.bias']" in refusal(tmp_path / "missing.pth")

    state = cheap_state(keys)
    state["Mconv1_stage3_L2.weight"] = torch.zeros(()).expand(128, 184, 7, 7)
    torch.save(state, tmp_path / "misshapen.pth")
    msg = refusal(tmp_path / "misshapen.pth")
    assert "Mconv1_stage3_L2.weight (128, 184, 7, 7) instead of (128, 185, 7, 7)" in msg

    (tmp_path / "text.pth").write_text("not a torch file\n")
    assert "could not be read" in refusal(tmp_path / "text.pth")

    torch.save([1, 2, 3], tmp_path / "list.pth")
    assert "holds a list" in refusal(tmp_path / "list.pth")

    with pytest.raises(UserError) as e:
        load_network(None)
    assert "pose.backend=openpose needs pose.openpose_weights=/path/to/body_pose_model.pth" in str(e.value)


# ---- preprocessing and coordinates --------------------------------------------------------------------------------

def red_square_frame():
    """100x150 (HxW), a red square on rows 40..59, columns 60..89 of a blue-green background."""
    frame = np.zeros((1, 100, 150, 3), np.uint8)
    frame[:] = (0, 100, 200)
    frame[0, 40:60, 60:90] = (255, 0, 0)
    return frame


def test_preprocess_without_resizing_is_exact():
    frame = red_square_frame()
    x, meta = preprocess(frame, box_size=100)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 104, 152)
    assert meta.resized == (100, 100 * 150 // 100) == meta.original and meta.padded == (104, 152)
    bgr = torch.from_numpy(frame[0, :, :, ::-1].copy()).permute(2, 0, 1).float()
    assert torch.equal(x[0, :, :100, :150], bgr / 256 - 0.5)
    assert (x[0, 2, 40:60, 60:90] == 255 / 256 - 0.5).all() and (x[0, :2, 40:60, 60:90] == -0.5).all()
    assert (x[0, :, 100:] == 0).all() and (x[0, :, :, 150:] == 0).all()  # padding: 128 / 256 - 0.5


@pytest.mark.parametrize("scale", [1.0, 0.7])
def test_preprocess_resizes_pads_and_maps_back(scale):
    frame = red_square_frame()
    x, meta = preprocess(frame, scale=scale)
    rh = round(368 * scale)
    rw = round(150 * rh / 100)
    assert meta.resized == (rh, rw) and meta.original == (100, 150) and meta.stride == 8
    assert meta.factor == rh / 100 and abs(meta.factor_x - meta.factor_y) < 1 / 150
    ph, pw = -(-rh // 8) * 8, -(-rw // 8) * 8
    assert x.shape == (1, 3, ph, pw) and meta.padded == (ph, pw) and meta.output == (ph // 8, pw // 8)
    if scale == 0.7:
        assert (ph, pw) == (264, 392) and (rh, rw) == (258, 387)  # padding on both sides
    assert (x[0, :, rh:] == 0).all() and (x[0, :, :, rw:] == 0).all()
    assert x.min() >= -0.5 and x.max() < 0.5
    # the square is red: BGR channel 2 high, 0 low; its centre maps back through meta
    red = x[0, 2, :rh, :rw] > (255 + 0) / 2 / 256 - 0.5
    blue = x[0, 0, :rh, :rw] < (0 + 200) / 2 / 256 - 0.5
    ys, xs = torch.nonzero(red & blue, as_tuple=True)
    cx, cy = xs.float().mean().item(), ys.float().mean().item()
    ex, ey = meta.original_to_resized(74.5, 49.5)  # centre of columns 60..89, rows 40..59
    assert abs(cx - ex) < 1 and abs(cy - ey) < 1
    # the plain x * factor misses the half-pixel shift (factor - 1) / 2: within a pixel of it
    slack = 1 + (meta.factor - 1) / 2
    assert abs(cx - 74.5 * meta.factor) < slack and abs(cy - 49.5 * meta.factor) < slack
    ox, oy = meta.resized_to_original(cx, cy)
    assert abs(ox - 74.5) < 1 / meta.factor and abs(oy - 49.5) < 1 / meta.factor
    assert np.allclose(meta.resized_to_original(*meta.original_to_resized(3.0, 7.0)), (3.0, 7.0))


def test_output_cell_maps_to_the_documented_pixel():
    """A peak in output cell (i, j) lands, after to_frame, on the original pixel meta.cell_to_original(j, i)."""
    _, meta = preprocess(red_square_frame(), scale=0.7)
    oh, ow = meta.output
    for i, j in [(10, 20), (3, 40), (28, 7)]:
        maps = torch.zeros(1, 1, oh, ow)
        maps[0, 0, i, j] = 1.0
        up = to_frame(maps, meta)
        assert up.shape == (1, 1, 100, 150)
        y, x = divmod(int(up[0, 0].argmax()), 150)
        ex, ey = meta.cell_to_original(j, i)
        assert abs(x - ex) <= 1 and abs(y - ey) <= 1, ((x, y), (ex, ey))
        assert np.allclose(meta.cell_to_resized(j, i), (8 * j + 3.5, 8 * i + 3.5))
    assert torch.allclose(to_frame(torch.full((2, 3, oh, ow), 0.25), meta), torch.tensor(0.25))


# ---- inference ----------------------------------------------------------------------------------------------------

def test_run_network_frame_size_and_scale_average(net):
    frames = frames_of(2, 48, 80, seed=1)
    heat1, paf1 = run_network(net, frames, scales=(1.0,), box_size=64)
    assert heat1.shape == (2, 19, 48, 80) and paf1.shape == (2, 38, 48, 80)
    assert heat1.dtype == paf1.dtype == torch.float32
    heat05, paf05 = run_network(net, frames, scales=(0.5,), box_size=64)
    heat, paf = run_network(net, frames, scales=(1.0, 0.5), box_size=64)
    assert torch.allclose(heat, (heat1 + heat05) / 2, atol=1e-6)
    assert torch.allclose(paf, (paf1 + paf05) / 2, atol=1e-6)
    assert not torch.allclose(heat1, heat05, atol=1e-2)  # the two scales do differ
    # pafs are the L1 branch, heatmaps the L2 branch, each through to_frame
    x, meta = preprocess(frames, box_size=64)
    with torch.no_grad():
        pafs, heatmaps = net(x)
    assert torch.allclose(paf1, to_frame(pafs, meta), atol=1e-5)
    assert torch.allclose(heat1, to_frame(heatmaps, meta), atol=1e-5)


def test_batched_equals_one_at_a_time(net):
    frames = frames_of(3, 40, 56, seed=2)
    heat, paf = run_network(net, frames, box_size=64)
    heat2, paf2 = run_network(net, frames, box_size=64, batch_size=2)
    for i in range(3):
        h, p = run_network(net, frames[i:i + 1], box_size=64)
        assert torch.allclose(heat[i:i + 1], h, atol=1e-5, rtol=1e-5)
        assert torch.allclose(paf[i:i + 1], p, atol=1e-5, rtol=1e-5)
    assert torch.allclose(heat, heat2, atol=1e-5, rtol=1e-5) and torch.allclose(paf, paf2, atol=1e-5, rtol=1e-5)


def test_autocast_runs_in_bf16_and_returns_float32(net):
    frames = frames_of(1, 40, 56, seed=3)
    seen = []
    hook = net.Mconv7_stage6_L2.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        heat, paf = run_network(net, frames, box_size=32, autocast=torch.autocast("cpu", dtype=torch.bfloat16))
    finally:
        hook.remove()
    assert seen == [torch.bfloat16]
    assert heat.dtype == paf.dtype == torch.float32
    ref_heat, _ = run_network(net, frames, box_size=32)
    assert (heat - ref_heat).abs().max() < 0.1 * ref_heat.abs().max()


def test_module_constants():
    assert network.WEIGHTS_KEY == "pose.openpose_weights" and network.WEIGHTS_FILE == "body_pose_model.pth"
