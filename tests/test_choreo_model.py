"""Choreography network (dancenow.choreo.motion / .model) on synthetic dances made here: every joint of a 15-keypoint
body moves on its own sinusoid (period 16-48 frames, random phase and amplitude) around a standing skeleton of
about 0.9 body units, while the root sways and bounces. Tiny networks, so the file runs in seconds on a CPU."""

import numpy as np
import pytest
import torch

from dancenow.choreo import model as M
from dancenow.choreo import motion
from dancenow.keypoints import B

FPS = 30
SKELETON = {"Nose": (0, -.42), "Neck": (0, -.3), "RShoulder": (-.1, -.3), "LShoulder": (.1, -.3),
            "RElbow": (-.15, -.15), "LElbow": (.15, -.15), "RWrist": (-.17, 0), "LWrist": (.17, 0),
            "MidHip": (0, 0), "RHip": (-.06, 0), "LHip": (.06, 0), "RKnee": (-.07, .22), "LKnee": (.07, .22),
            "RAnkle": (-.07, .45), "LAnkle": (.07, .45)}


def dance(n, seed=0):
    """A procedural periodic dance: poses [n, 25, 3] in body units, confidence 1 on the 15 used keypoints."""
    r = np.random.default_rng(seed)
    t = np.arange(n)
    p = np.zeros((n, 25, 3), np.float32)
    for name, (x, y) in SKELETON.items():
        j = B[name]
        period, phase = r.choice([16, 24, 32, 48]), r.uniform(0, 2 * np.pi)
        amp = 0.0 if name == "MidHip" else r.uniform(0.02, 0.08)
        p[:, j, 0] = x + amp * np.sin(2 * np.pi * t / period + phase)
        p[:, j, 1] = y + amp * np.cos(2 * np.pi * t / period + 2 * phase)
        p[:, j, 2] = 1
    root = np.stack([0.2 * np.sin(2 * np.pi * t / 96), 0.02 * np.sin(2 * np.pi * t / 16)], -1)
    p[:, list(motion.JOINTS), :2] += root[:, None]
    return p


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # small nets: threads only add overhead, and the machine's cores are shared
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained():
    """A tiny auto-conditioned model on one dance: (model, history, features)."""
    torch.set_num_threads(1)
    f, _ = motion.encode(dance(300))
    net, hist = M.train([f], FPS, dict(hidden=32, layers=3, window=30, batch_size=8, iterations=120, lr=3e-3))
    return net, hist, f


def test_encode_is_translation_and_scale_invariant_and_decode_round_trips():
    p = dance(200)
    f, scale = motion.encode(p)
    assert f.shape == (200, motion.feature_dim()) == (200, 30) and f.dtype == np.float32
    moved = p.copy()
    moved[:, :, :2] += np.array([3.5, -1.25], np.float32)
    f_moved, scale_moved = motion.encode(moved)
    assert scale_moved == pytest.approx(scale, rel=1e-6)
    assert np.abs(f_moved - f).max() < 1e-5
    bigger = p.copy()
    bigger[:, :, :2] *= 3.0
    f_big, scale_big = motion.encode(bigger)
    assert scale_big == pytest.approx(3 * scale, rel=1e-6) and np.abs(f_big - f).max() < 1e-5

    back = motion.decode(f, scale, start=p[0, B["MidHip"], :2])
    used = list(motion.JOINTS)
    assert np.abs(back[:, used, :2] - p[:, used, :2]).max() < 1e-5
    assert (back[:, used, 2] == 1).all() and (np.delete(back, used, axis=1) == 0).all()

    gappy = p.copy()
    gappy[50, B["LWrist"]] = 0  # a missed keypoint is interpolated from its neighbours in time
    back = motion.decode(motion.encode(gappy)[0], scale, start=p[0, B["MidHip"], :2])
    assert np.abs(back[50, B["LWrist"], :2] - (p[49, B["LWrist"], :2] + p[51, B["LWrist"], :2]) / 2).max() < 1e-5

    w = motion.windows(f, 40, 20)
    assert w.shape == (9, 40, 30) and np.array_equal(w[2], f[40:80])
    assert motion.windows(f[:10], 40, 20).shape == (0, 40, 30)


def test_training_reduces_loss_and_is_deterministic(trained):
    net, hist, f = trained
    loss = np.array(hist["loss"])
    k = len(loss) // 10
    assert loss[-k:].mean() < 0.5 * loss[:k].mean()
    mean, std = motion.fit_normalization([f])
    assert np.allclose(net.mean.numpy(), mean) and np.allclose(net.std.numpy(), std)  # saved with the weights
    cfg = dict(hidden=16, layers=2, window=20, batch_size=4, iterations=5, auto_condition=False)
    a, b = M.train([f], FPS, cfg)[1]["loss"], M.train([f], FPS, cfg)[1]["loss"]
    assert a == b
    assert M.train([f], FPS, dict(cfg, seed=1))[1]["loss"] != a
    # auto-conditioning whose true stretch spans the whole window is teacher forcing; a real one is not
    assert M.train([f], FPS, dict(cfg, auto_condition=True, ground_truth_length=20))[1]["loss"] == pytest.approx(a)
    assert M.train([f], FPS, dict(cfg, auto_condition=True))[1]["loss"][1:] != pytest.approx(a[1:])


def test_generate_is_seeded_sized_and_finite(trained):
    net, _, f = trained
    g0 = M.generate(net, f[:10], 50)
    assert g0.shape == (50, 30) and np.isfinite(g0).all()
    assert np.array_equal(g0, M.generate(net, f[:10], 50))
    n1, n1_again, n2 = (M.generate(net, f[:10], 50, temperature=0.3, seed=s) for s in (1, 1, 2))
    assert np.array_equal(n1, n1_again) and np.isfinite(n1).all()
    assert np.abs(n1 - n2).max() > 1e-3 and np.abs(n1 - g0).max() > 1e-3
    assert not M.has_nan(motion.decode(n1))


def test_constrain_holds_every_bone_in_its_training_range_and_keeps_directions(trained):
    net, _, f = trained
    poses = motion.decode(f)
    ranges = M.bone_ranges([poses])
    x = (torch.from_numpy(f[:20]) - net.mean) / net.std
    kept = motion.decode((net.constrain(x) * net.std + net.mean).numpy())
    assert np.allclose(kept, poses[:20], atol=1e-4)  # training poses are within their own ranges: untouched

    wild = poses[:20].copy()
    el, wr, kn = B["LElbow"], B["LWrist"], B["LKnee"]
    wild[:, wr, :2] = wild[:, el, :2] + 1.5 * (wild[:, wr, :2] - wild[:, el, :2])  # forearm 50 % too long
    wild[:, kn, :2] = wild[:, B["LHip"], :2] + 0.2 * (wild[:, kn, :2] - wild[:, B["LHip"], :2])  # thigh squashed
    assert M.bone_length_error(wild, ranges) > 0.4
    fw = motion.encode(wild, scale=1.0)[0]
    fixed = motion.decode((net.constrain((torch.from_numpy(fw) - net.mean) / net.std) * net.std + net.mean).numpy())
    assert M.bone_length_error(fixed, ranges) < 1e-4
    for a, b in ((el, wr), (B["LHip"], kn), (kn, B["LAnkle"])):  # every bone keeps its direction
        u, v = fixed[:, b, :2] - fixed[:, a, :2], wild[:, b, :2] - wild[:, a, :2]
        cos = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        assert np.allclose(cos, 1, atol=1e-5)
    assert np.allclose(fixed[:, B["RAnkle"]], wild[:, B["RAnkle"]], atol=1e-4)  # the other leg was within range
    g = motion.decode(M.generate(net, f[:10], 200))
    assert M.bone_length_error(g, ranges) < 1e-4


def test_selection_keeps_the_best_free_running_checkpoint():
    f, _ = motion.encode(dance(300))
    cfg = dict(hidden=16, layers=2, window=30, batch_size=8, iterations=60, lr=3e-3, select_every=20,
               select_seconds=4)
    net, hist = M.train([f], FPS, cfg)
    scores = [c["score"] for c in hist["checks"]]
    assert [c["iteration"] for c in hist["checks"]] == [20, 40, 60]
    best = max(i for i, c in enumerate(hist["checks"]) if c["score"] == max(scores))  # ties: the later one
    assert hist["iteration"] == hist["checks"][best]["iteration"]
    again, _ = M.train([f], FPS, {**cfg, "iterations": hist["iteration"], "select_every": 0})
    for k, v in net.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert len(hist["loss"]) == 60


def test_metrics_on_constructed_inputs():
    train = dance(300)
    rng = M.energy_range([train], FPS)
    assert 0 < rng[0] <= rng[1]
    every = M.motion_energy(train, FPS, stride=1)  # the range is over every 2 s window, not only 5 of them
    assert len(every) == 300 - 60 and every.min() == rng[0] and every.max() == rng[1]
    assert not M.frozen(M.motion_energy(train, FPS), rng) and M.energy_in_range(M.motion_energy(train, FPS), rng)
    assert not M.energy_in_range(2 * M.motion_energy(train, FPS), rng)  # twice as wild: out of range, not frozen
    assert not M.frozen(2 * M.motion_energy(train, FPS), rng)

    static = np.repeat(train[:1], 121, axis=0)  # 120 frame-to-frame steps: two 2 s windows
    e = M.motion_energy(static, FPS)
    assert e.shape == (2,) and np.allclose(e, 0) and M.frozen(e, rng)
    gliding = static.copy()
    gliding[:, :, 0] += 0.01 * np.arange(121)[:, None]  # a held pose sliding across the floor is frozen too
    e = M.motion_energy(gliding, FPS)
    assert np.allclose(e, 0, atol=1e-5) and M.frozen(e, rng)
    double_speed = M.motion_energy(train[:241:2], FPS)  # every other frame: the same dance twice as fast
    assert double_speed.shape == (2,)
    assert double_speed.mean() == pytest.approx(2 * M.motion_energy(train[:241], FPS).mean(), rel=0.1)

    refs = M.bone_ranges([train])
    assert len(refs) == 14 and M.bone_length_error(train, refs) == 0.0
    el, wr = B["RElbow"], B["RWrist"]
    longest = int(np.argmax(np.linalg.norm(train[:, wr, :2] - train[:, el, :2], axis=-1)))
    stretched = train[longest:longest + 1].copy()
    stretched[0, wr, :2] = stretched[0, el, :2] + 1.2 * (stretched[0, wr, :2] - stretched[0, el, :2])
    assert M.bone_length_error(stretched, refs) == pytest.approx(0.2, abs=1e-5)
    shrunk = train[:1].copy()  # the torso at half its shortest length
    neck, hip = B["Neck"], B["MidHip"]
    shrunk[0, neck, :2] = shrunk[0, hip, :2] + 0.5 * refs[(neck, hip)][0] * (
        (shrunk[0, neck, :2] - shrunk[0, hip, :2]) / np.linalg.norm(shrunk[0, neck, :2] - shrunk[0, hip, :2]))
    assert M.bone_length_error(shrunk, refs) >= 0.5 - 1e-5
    broken = stretched.copy()
    broken[0, B["LKnee"], 0] = np.nan
    assert M.has_nan(broken) and M.bone_length_error(broken, refs) == float("inf")

    window = 60
    thr = M.copy_threshold([train])
    copy = train[50:50 + window].copy()
    copy[:, :, :2] += np.array([3.0, 1.0], np.float32)  # standing elsewhere does not make it new
    assert M.novelty(copy, [train], window)[0] < 1e-6
    noisy = copy + np.float32(0.1 * thr) * np.random.default_rng(0).standard_normal(copy.shape).astype(np.float32)
    other = dance(window, seed=1)
    n_noisy, n_other = M.novelty(noisy, [train], window)[0], M.novelty(other, [train], window)[0]
    assert n_noisy < thr < n_other
    assert M.novelty(dance(3 * window + 5, seed=1), [train], window).shape == (3,)


def test_auto_conditioning_vs_teacher_forcing_free_running():
    """Free-running for 10x the training window (400 frames) after 200 iterations of a 3x32 LSTM.

    Measured on this synthetic dance: the auto-conditioned model keeps every 2 s window's motion energy within
    [0.5 x min, 2 x max] of the training range, and so does the plain teacher-forced one: a deterministic periodic
    dance is learnt as a stable oscillator by both, and the baseline does not freeze. (Freezing shows on data whose
    future is ambiguous, e.g. chains of random moves, where at this tiny budget both models freeze, so the
    difference cannot be shown at test size.) The test asserts what holds: neither freezes here, and the
    auto-conditioned one stays in range."""
    train = dance(400)
    f, scale = motion.encode(train)
    rng = M.energy_range([train], FPS)
    window = 40
    energies = {}
    for ac in (True, False):
        net, hist = M.train([f], FPS, dict(hidden=32, layers=3, window=window, batch_size=16, iterations=200,
                                           lr=3e-3, auto_condition=ac))
        gen = motion.decode(M.generate(net, f[:10], 10 * window), scale)
        assert not M.has_nan(gen)
        energies[ac] = M.motion_energy(gen, FPS)
    assert len(energies[True]) == 6
    assert (energies[True] > 0.5 * rng[0]).all() and (energies[True] < 2 * rng[1]).all(), (energies, rng)
    assert not M.frozen(energies[True], rng)
    assert not M.frozen(energies[False], rng), (energies[False], rng)


def test_on_the_salsa_plan_a_freezes_and_the_auto_conditioned_network_keeps_dancing():
    """The baseline the issue names, on the CMU salsa (51 s at 30 fps), against what the stage does, with the same
    2 x 64 LSTM and 300 iterations: "Plan A" (teacher forcing, deterministic free-running) froze (some 2 s window
    below the training's calmest) in 7 of 8 one-minute dances from different real windows (8 of 8 for the second
    training seed, and with model selection). The auto-conditioned network with free-running selection, reading back its output with noise
    (temperature 1), kept every dance within the training's motion energy."""
    from conftest import real_data
    from dancenow.choreo import sources

    poses = [sources.load_bvh(real_data("mocap", f"cmu_salsa_0{i}.bvh"), 30.0) for i in (1, 2, 3)]
    feats = [motion.encode(p, scale=1.0)[0] for p in poses]
    trange = M.energy_range(poses, 30.0)
    rng = np.random.default_rng(7)
    windows = [feats[i][t:t + 30] for i, t in ((i, rng.integers(len(feats[i]) - 29)) for i in rng.integers(3, size=8))]
    size = dict(hidden=64, layers=2, window=50, batch_size=16, iterations=300)

    def dances(net, temperature):
        energies = [M.motion_energy(motion.decode(M.generate(net, w, 1800, temperature, seed=k)), 30.0)
                    for k, w in enumerate(windows)]
        return sum(M.frozen(e, trange) for e in energies), float(np.mean([M.energy_in_range(e, trange)
                                                                           for e in energies]))

    plan_a, _ = M.train(feats, 30.0, dict(size, auto_condition=False))
    frozen, _ = dances(plan_a, 0.0)
    assert frozen >= 6
    ours, _ = M.train(feats, 30.0, dict(size, auto_condition=True, select_every=50, select_temperature=1.0))
    frozen, in_range = dances(ours, 1.0)
    assert frozen == 0 and in_range == 1.0
