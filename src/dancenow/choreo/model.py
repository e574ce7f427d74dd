"""The choreography network: a recurrent network that predicts the next frame's motion features (motion.py) from
the frames so far, trained with auto-conditioning (acLSTM, Zhou et al., ICLR 2018, "Auto-Conditioned Recurrent
Networks for Extended Complex Human Motion Synthesis") so that it keeps dancing when it free-runs on its own
outputs; plus the metrics that judge a generated dance.

Auto-conditioning: a network trained only with teacher forcing (always the true previous frame as input) never
sees its own errors; free-running, they accumulate, and it typically drifts into a static pose ("freezes"). acLSTM
trains on the same windows but alternates `ground_truth_length` frames of true input with `condition_length` frames
in which the input is the network's own previous output (gradients flow through it), so it learns to continue from
imperfect motion. Its paper and code use 5 / 5 on 100-frame windows, a 3-layer LSTM of 1024 units.

Metrics (pure functions on decoded poses [F, 25, 3]; lengths in body heights: pass `unit` = the length of one body
height in the poses' units, 1 for poses in body units as the BVH reader gives them):

* `motion_energy`: per 2 s window, the mean speed of the joints relative to the root (body heights / s);
  `energy_range`: its [min, max] over the training sequences. `frozen`: a generated window below `factor` (0.5)
  x the training minimum, or below an absolute floor, means the dance froze.
* `bone_length_error`: the largest relative deviation of a bone from the training skeleton's median length
  (`reference_bone_lengths`); inf if a used keypoint is NaN/inf (`has_nan`).
* `novelty`: per generated window, the distance to its nearest training window; `copy_threshold`: below it the
  window is a replay of the training data.
"""

import dataclasses

import numpy as np
import torch
from torch import nn

from ..keypoints import BODY_PAIRS
from . import motion
from .motion import JOINTS, ROOT


@dataclasses.dataclass
class ChoreoConfig:
    """Training settings of `train` (a dict with these keys works too)."""
    hidden: int = 256              # units per recurrent layer
    layers: int = 3
    cell: str = "lstm"             # "lstm" or "gru"
    window: int = 100              # frames per training window (inputs; the target is the window shifted by 1)
    batch_size: int = 32
    iterations: int = 5000
    lr: float = 1e-3               # Adam
    grad_clip: float = 1.0         # max gradient norm
    auto_condition: bool = True    # acLSTM training; False = plain teacher forcing
    condition_length: int = 5      # frames fed with the network's own output, per cycle
    ground_truth_length: int = 5   # frames fed with the ground truth, per cycle
    seed: int = 0


class ChoreoNet(nn.Module):
    """`layers` stacked LSTM (or GRU) layers of `hidden` units and a linear layer: features [N, T, D] (normalised)
    -> the prediction of the next frame's features at every step [N, T, D]. The features' normalisation (mean, std)
    lives in buffers, so it is saved and loaded with the weights."""

    def __init__(self, dim, hidden=256, layers=3, cell="lstm"):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.dim, self.hidden, self.layers, self.cell = dim, hidden, layers, cell
        self.rnn = rnn(dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, dim)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x, state=None):
        """x [N, T, D] -> (next-frame predictions [N, T, D], recurrent state to continue from)."""
        h, state = self.rnn(x, state)
        return self.out(h), state


def _config(config):
    if config is None:
        return ChoreoConfig()
    if isinstance(config, ChoreoConfig):
        return config
    items = dict(config) if isinstance(config, dict) else {f.name: getattr(config, f.name)
                                                         for f in dataclasses.fields(ChoreoConfig)
                                                         if hasattr(config, f.name)}
    unknown = set(items) - {f.name for f in dataclasses.fields(ChoreoConfig)}
    if unknown:
        raise ValueError(f"unknown choreography training settings: {sorted(unknown)}")
    return ChoreoConfig(**items)


def train(sequences, fps, config=None):
    """Train a ChoreoNet on feature sequences (a list of [F, D] arrays from motion.encode; they are normalised here
    with the mean/std over all of them, which the model keeps, so already-normalised input works too).

    Every iteration draws `batch_size` random windows of `window` + 1 frames (any sequence long enough, weighted by
    its number of windows) and minimises the MSE between the predictions and the next frames. With
    `auto_condition` the inputs alternate `ground_truth_length` true frames and `condition_length` frames of the
    network's own previous prediction (acLSTM); otherwise every input is the true frame (teacher forcing). Adam,
    gradient-norm clipping; deterministic on the CPU for a given `seed`.

    Returns (model in eval mode, history: dict with "loss" (per iteration), "fps", "config")."""
    cfg = _config(config)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mean, std = motion.fit_normalization(sequences)
    seqs = [motion.normalize(s, mean, std) for s in sequences if len(s) >= cfg.window + 1]
    if not seqs:
        raise ValueError(f"no sequence has the {cfg.window + 1} frames of a training window")
    starts = np.array([len(s) - cfg.window for s in seqs], dtype=np.float64)  # windows per sequence
    dim = seqs[0].shape[1]
    model = ChoreoNet(dim, cfg.hidden, cfg.layers, cfg.cell)
    model.mean.copy_(torch.from_numpy(mean))
    model.std.copy_(torch.from_numpy(std))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    model.train()
    for _ in range(cfg.iterations):
        which = rng.choice(len(seqs), size=cfg.batch_size, p=starts / starts.sum())
        batch = np.stack([seqs[i][t:t + cfg.window + 1]
                          for i, t in zip(which, (rng.integers(0, starts[which].astype(np.int64))))])
        batch = torch.from_numpy(batch)
        inputs, targets = batch[:, :-1], batch[:, 1:]
        if not cfg.auto_condition or cfg.condition_length == 0:
            pred, _ = model(inputs)
        else:
            preds, state, t = [], None, 0
            while t < cfg.window:  # a stretch of true frames in one call, then own outputs frame by frame
                n = min(cfg.ground_truth_length, cfg.window - t)
                out, state = model(inputs[:, t:t + n], state)
                preds.append(out)
                t += n
                for _ in range(min(cfg.condition_length, cfg.window - t)):
                    out, state = model(out[:, -1:], state)
                    preds.append(out)
                    t += 1
            pred = torch.cat(preds, dim=1)
        loss = nn.functional.mse_loss(pred, targets)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return model, {"loss": losses, "fps": fps, "config": dataclasses.asdict(cfg)}


@torch.no_grad()
def generate(model, seed_frames, n_frames, temperature=0.0, seed=0):
    """A new dance: features [n_frames, D] (unnormalised, as motion.encode gives them) following `seed_frames`
    [S, D] (real frames, S >= 1, not part of the output). The network reads the seed, then runs on its own
    outputs; with `temperature` > 0 every output gets Gaussian noise of `temperature` feature standard deviations
    (of the training data) before it is kept and fed back. The same seed gives the same dance."""
    model.eval()
    seed_frames = np.asarray(seed_frames, dtype=np.float32)
    if seed_frames.ndim != 2 or len(seed_frames) < 1 or seed_frames.shape[1] != model.dim:
        raise ValueError(f"seed_frames must be [S >= 1, {model.dim}], got {seed_frames.shape}")
    gen = torch.Generator().manual_seed(seed)
    x = (torch.from_numpy(seed_frames) - model.mean) / model.std
    out, state = model(x[None], None)
    nxt = out[:, -1:]
    frames = []
    for _ in range(n_frames):
        if temperature > 0:
            nxt = nxt + temperature * torch.randn(nxt.shape, generator=gen)
        frames.append(nxt[0, 0])
        nxt, state = model(nxt, state)
    if not frames:
        return np.zeros((0, model.dim), dtype=np.float32)
    return (torch.stack(frames) * model.std + model.mean).numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------------------- metrics

def _rel(poses, joints, unit):
    """(x, y) of `joints` relative to the root in each frame, in body heights: [F, J, 2]."""
    p = np.asarray(poses, dtype=np.float64)[:, list(joints), :2]
    return (p - p[:, [list(joints).index(ROOT)]]) / unit


def motion_energy(poses, fps, window_s=2.0, joints=JOINTS, unit=1.0):
    """Per consecutive, non-overlapping `window_s` window of poses [F, 25, 3]: the mean speed (body heights per
    second) of the joints relative to the root (MidHip), over the window's frame pairs and the joints other than
    the root. Relative to the root, so a body that holds a pose while sliding across the floor (a constant root
    velocity, a common way for a generator to fail) has energy 0 like one that stands still. A trailing part
    shorter than a window is dropped, unless the sequence is shorter than one window: then it is one window.
    Returns [n_windows]."""
    rel = _rel(poses, joints, unit)
    rel = np.delete(rel, list(joints).index(ROOT), axis=1)
    speed = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(axis=1) * fps  # [F - 1]
    w = max(1, int(round(window_s * fps)))
    n = len(speed) // w
    if n == 0:
        return np.array([speed.mean()]) if len(speed) else np.zeros(0)
    return speed[:n * w].reshape(n, w).mean(axis=1)


def energy_range(sequences, fps, window_s=2.0, joints=JOINTS, unit=1.0):
    """[min, max] of `motion_energy` over all windows of the training pose sequences."""
    e = np.concatenate([motion_energy(s, fps, window_s, joints, unit) for s in sequences])
    return np.array([e.min(), e.max()])


def frozen(gen_energy, train_range, factor=0.5, floor=1e-3):
    """Whether a generated dance froze: some window's energy is below max(factor x the training minimum, floor).

    Rule: the calmest 2 s of the training data is the least motion a dancer of this data set shows; a generated
    window with less than half of it (factor 0.5: a margin for the training set not covering every calm moment)
    is taken as a freeze. The absolute floor (1e-3 body heights/s, under 2 mm/s for a 1.7 m person: a still body)
    keeps the rule working when the training data itself contains standing still."""
    return bool(np.any(np.asarray(gen_energy) < max(factor * float(train_range[0]), floor)))


def bones(joints=JOINTS):
    """The BODY_PAIRS bones whose two keypoints are both in `joints`."""
    js = set(joints)
    return [(a, b) for a, b in BODY_PAIRS if a in js and b in js]


def reference_bone_lengths(sequences, joints=JOINTS):
    """{bone: median length over every frame of the training pose sequences} for `bones(joints)`."""
    allp = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences])
    return {(a, b): float(np.median(np.linalg.norm(allp[:, a, :2] - allp[:, b, :2], axis=-1)))
            for a, b in bones(joints)}


def has_nan(poses, joints=JOINTS):
    """Whether any used keypoint coordinate is NaN or infinite."""
    return not np.isfinite(np.asarray(poses)[:, list(joints), :2]).all()


def bone_length_error(poses, reference_lengths, joints=JOINTS):
    """The largest relative deviation |length / reference - 1| of any bone in `reference_lengths` (bones among
    `joints`, e.g. from `reference_bone_lengths`) over all frames of poses [F, 25, 3]; inf when a used keypoint is
    NaN/inf. Both in the same units. In 2D a bone pointing at the camera looks shorter, so compare with the same
    measure on the training sequences rather than with 0."""
    if has_nan(poses, joints):
        return float("inf")
    p = np.asarray(poses, dtype=np.float64)
    worst = 0.0
    for (a, b), ref in reference_lengths.items():
        length = np.linalg.norm(p[:, a, :2] - p[:, b, :2], axis=-1)
        worst = max(worst, float(np.abs(length / ref - 1.0).max()))
    return worst


def novelty(generated, training, window, joints=JOINTS, unit=1.0):
    """For each consecutive, non-overlapping `window`-frame window of the generated poses [F, 25, 3]: the distance
    to the nearest training window (every start frame of every training pose sequence), where the distance of two
    windows is the mean over frames and joints of the Euclidean distance (body heights) between corresponding
    joints after aligning the roots frame by frame (both relative to their MidHip: where the dancer stands or
    travels does not make a copy new). Returns [n_windows]; 0 means an exact replay.

    Use with `copy_threshold`: a window nearer than that to the training data is a copy."""
    gen = _rel(generated, joints, unit)
    trains = [motion.windows(_rel(s, joints, unit), window) for s in training]
    trains = np.concatenate([t for t in trains if len(t)])  # [N, window, J, 2]
    out = []
    for k in range(len(gen) // window):
        g = gen[k * window:(k + 1) * window]
        out.append(np.linalg.norm(trains - g, axis=-1).mean(axis=(1, 2)).min())
    return np.array(out)


def copy_threshold(training, factor=2.0, joints=JOINTS, unit=1.0):
    """The novelty below which a generated window counts as a copy: `factor` (2) x the typical frame-to-frame
    motion of the training data (the median over its frames of the mean root-aligned joint displacement between
    consecutive frames, body heights).

    Justification: novelty is a mean joint distance to the nearest training window. An exact replay scores 0. A
    replay with a timing jitter of a frame or so, or with noise of the size of one frame's motion on every joint
    (i.i.d. Gaussian noise of std s per coordinate adds s * sqrt(pi / 2) ~ 1.25 s), stays within about
    1-2 frames' motion of the original: such a sequence is still the training dance. A window that is farther from
    every training window than the body moves in two frames differs from all of them by more than jitter, i.e. it
    is a pose sequence the training data does not contain."""
    d = [np.linalg.norm(np.diff(_rel(s, joints, unit), axis=0), axis=-1).mean(axis=1) for s in training]
    return factor * float(np.median(np.concatenate(d)))
