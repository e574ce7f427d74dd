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
  `energy_range`: its [min, max] over every 2 s window of the training sequences. `frozen`: a generated window
  below the training minimum; `energy_in_range`: every generated window within the training range.
* `bone_length_error`: how far (relative) a bone's length leaves the range of its lengths in the training data
  (`bone_ranges`; 2D bones foreshorten); above `BONE_TOLERANCE` (10 %) the dance fell apart; inf if a used
  keypoint is NaN/inf (`has_nan`).
* `novelty`: per generated window, the distance to its nearest training window; `copy_threshold`: below it the
  window is a replay of the training data.
"""

import dataclasses
import functools
import logging
import sys

import numpy as np
import torch
from torch import nn

from ..keypoints import BODY_PAIRS
from ..progress import Bar
from . import motion
from .motion import JOINTS, ROOT

log = logging.getLogger(__name__)
BONE_TOLERANCE = 0.1  # a dance whose bone_length_error exceeds it has fallen apart


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
    select_every: int = 0          # every this many iterations, free-run the network and keep the best (0 = the last)
    select_seconds: float = 60.0   # length of those free runs
    select_seeds: int = 4          # how many of them (from different real windows) per check
    select_temperature: float = 0.0  # the `generate` temperature of those runs
    seed: int = 0


class ChoreoNet(nn.Module):
    """`layers` stacked LSTM (or GRU) layers of `hidden` units and a linear layer: features [N, T, D] (normalised)
    -> the prediction of the next frame's features at every step [N, T, D]. The features' normalisation (mean, std)
    lives in buffers, so it is saved and loaded with the weights, and so do the shortest and longest length of
    every bone in the training data (`bone_lo`, `bone_hi`, in `skeleton_tree` order), which `constrain` holds the
    generated skeleton to."""

    def __init__(self, dim, hidden=256, layers=3, cell="lstm"):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.dim, self.hidden, self.layers, self.cell = dim, hidden, layers, cell
        self.rnn = rnn(dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, dim)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        n_bones = len(skeleton_tree())
        self.register_buffer("bone_lo", torch.zeros(n_bones))
        self.register_buffer("bone_hi", torch.full((n_bones,), float("inf")))
        self.constrain_bones = True  # generation holds bones within their training lengths (off: the raw network)

    def forward(self, x, state=None):
        """x [N, T, D] -> (next-frame predictions [N, T, D], recurrent state to continue from)."""
        h, state = self.rnn(x, state)
        return self.out(h), state

    def set_skeleton(self, sequences):
        """Take the bone length ranges of feature sequences (unnormalised, body units)."""
        ranges = bone_ranges([motion.decode(s) for s in sequences])
        for k, ((a, b), _, _) in enumerate(skeleton_tree()):
            self.bone_lo[k], self.bone_hi[k] = ranges[(a, b)]

    def constrain(self, features):
        """Normalised features [..., D] -> the same with every bone's length clamped into its training range, walking
        the skeleton from the root (a bone keeps its direction; its child joint and everything below move with it).
        The root's velocity is untouched. In 2D a bone's length varies (it foreshortens), so a range and not a
        length: the longest is its true length, beyond it the skeleton would come apart."""
        f = features * self.std + self.mean
        rel = f[..., 2:].unflatten(-1, (-1, 2))
        r = JOINTS.index(ROOT)
        xy = torch.cat([rel[..., :r, :], torch.zeros_like(rel[..., :1, :]), rel[..., r:, :]], dim=-2)
        out = xy.clone()
        for k, (_, p, c) in enumerate(skeleton_tree()):
            v = xy[..., c, :] - xy[..., p, :]
            n = v.norm(dim=-1, keepdim=True).clamp_min(1e-9)
            out[..., c, :] = out[..., p, :] + v * (n.clamp(self.bone_lo[k], self.bone_hi[k]) / n)
        rel = torch.cat([out[..., :r, :], out[..., r + 1:, :]], dim=-2).flatten(-2)
        return (torch.cat([f[..., :2], rel], dim=-1) - self.mean) / self.std


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
    model.set_skeleton(sequences)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses, checks, best = [], [], None
    check = _free_running_check(sequences, fps, cfg) if cfg.select_every > 0 else None
    model.train()
    steps = Bar(range(cfg.iterations), desc="choreo", unit="it", leave=False,
                mininterval=0.5 if sys.stderr.isatty() else 30)  # batch logs: rarely
    for _ in steps:
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
        if len(losses) % max(1, cfg.iterations // 10) == 0:
            log.info("iteration %d/%d: loss %.4f", len(losses), cfg.iterations, np.mean(losses[-50:]))
        if check is not None and (len(losses) % cfg.select_every == 0 or len(losses) == cfg.iterations):
            score = check(model)
            checks.append({"iteration": len(losses), **score})
            if best is None or score["score"] >= best[0]:
                best = score["score"], len(losses), {k: v.clone() for k, v in model.state_dict().items()}
            model.train()
    model.eval()
    history = {"loss": losses, "fps": fps, "config": dataclasses.asdict(cfg), "iteration": cfg.iterations}
    if best is not None:
        model.load_state_dict(best[2])
        history.update(iteration=best[1], checks=checks)
        log.info("kept the network of iteration %d: score %.2f of its free runs", best[1], best[0])
    return model, history


def _free_running_check(sequences, fps, cfg):
    """A function model -> {score, bone_length_error (the worst run's)}: the network free-runs `select_seconds`
    from `select_seeds` real windows (fixed here) at `select_temperature`; a run's score is the fraction of its
    2 s windows that move as the training data does (motion energy within its range) and are not a copy of it
    (novelty at least `copy_threshold`), 0 when its bones leave their training lengths by more than
    `BONE_TOLERANCE` (or it made NaN); the check's score is the mean over the runs.

    Why: the training loss measures one-step prediction from (mostly) real input, not what matters here, a minute
    of the network's own output. That changes from one checkpoint to the next (on the CMU salsa a 3 x 128 LSTM fell
    into a still pose after 2,000 iterations that danced at 600, and well-fitted ones replay the training windows),
    so it is checked and the best kept, as early stopping on a validation measure would."""
    poses = [motion.decode(s) for s in sequences]
    trange = energy_range(poses, fps)
    ranges = bone_ranges(poses)
    window = max(2, int(round(2.0 * fps)))
    usable = [p for p in poses if len(p) >= window]
    threshold = copy_threshold(poses)
    rng = np.random.default_rng([cfg.seed, 1])  # its own: checking must not change what training draws
    seed_len = min(30, min(len(s) for s in sequences))
    picks = [(i, int(rng.integers(len(sequences[i]) - seed_len + 1)))
             for i in rng.integers(len(sequences), size=cfg.select_seeds)]
    n = int(round(cfg.select_seconds * fps))

    def check(model):
        model.eval()
        seeds = torch.from_numpy(np.stack([sequences[i][t:t + seed_len] for i, t in picks]).astype(np.float32))
        noise = torch.Generator().manual_seed(cfg.seed)
        out = _free_run(model, (seeds - model.mean) / model.std, n, cfg.select_temperature, noise)
        scores, worst = [], 0.0
        for f in (out * model.std + model.mean).numpy():
            dance = motion.decode(f)
            err = bone_length_error(dance, ranges)
            worst = max(worst, err)
            if err > BONE_TOLERANCE:
                scores.append(0.0)
                continue
            e = motion_energy(dance, fps)
            good = (e >= trange[0]) & (e <= trange[1])
            if usable:
                nov = novelty(dance, usable, window)
                good[:len(nov)] &= nov[:len(good)] >= threshold
            scores.append(float(good.mean()))
        return {"score": float(np.mean(scores)), "bone_length_error": worst}
    return check


@torch.no_grad()
def _free_run(model, seeds, n_frames, temperature=0.0, generator=None):
    """Normalised seed windows [K, S, D] -> the next n_frames the network makes on its own [K, n_frames, D]."""
    out, state = model(seeds, None)
    nxt = out[:, -1:]
    frames = []
    for _ in range(n_frames):
        if model.constrain_bones:
            nxt = model.constrain(nxt)
        frames.append(nxt)
        if temperature > 0:  # the network reads a perturbed copy of its output; what it dances stays smooth
            nxt = nxt + temperature * torch.randn(nxt.shape, generator=generator)
        nxt, state = model(nxt, state)
    return torch.cat(frames, dim=1) if frames else seeds.new_zeros((len(seeds), 0, seeds.shape[2]))


def generate(model, seed_frames, n_frames, temperature=0.0, seed=0):
    """A new dance: features [n_frames, D] (unnormalised, as motion.encode gives them) following `seed_frames`
    [S, D] (real frames, S >= 1, not part of the output). The network reads the seed, then runs on its own
    outputs, each held to the training skeleton's bone lengths (`ChoreoNet.constrain`). With `temperature` > 0 the
    network reads back a copy of each output with Gaussian noise of `temperature` feature standard deviations (of
    the training data): the dance itself has no noise (its frames are the network's predictions, smooth), but it
    leaves the exact replay of a training dance that a deterministic run tends to fall into; an auto-conditioned
    network is trained on imperfect input of this kind. The same seed gives the same dance."""
    model.eval()
    seed_frames = np.asarray(seed_frames, dtype=np.float32)
    if seed_frames.ndim != 2 or len(seed_frames) < 1 or seed_frames.shape[1] != model.dim:
        raise ValueError(f"seed_frames must be [S >= 1, {model.dim}], got {seed_frames.shape}")
    x = (torch.from_numpy(seed_frames) - model.mean) / model.std
    gen = _free_run(model, x[None], n_frames, temperature, torch.Generator().manual_seed(seed))[0]
    return (gen * model.std + model.mean).numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------------------- metrics

def _rel(poses, joints, unit):
    """(x, y) of `joints` relative to the root in each frame, in body heights: [F, J, 2]."""
    p = np.asarray(poses, dtype=np.float64)[:, list(joints), :2]
    return (p - p[:, [list(joints).index(ROOT)]]) / unit


def motion_energy(poses, fps, window_s=2.0, joints=JOINTS, unit=1.0, stride=None):
    """Per `window_s` window of poses [F, 25, 3] (one every `stride` frames; default: consecutive, non-overlapping):
    the mean speed (body heights per second) of the joints relative to the root (MidHip), over the window's frame
    pairs and the joints other than the root. Relative to the root, so a body that holds a pose while sliding
    across the floor (a constant root velocity, a common way for a generator to fail) has energy 0 like one that
    stands still. A trailing part shorter than a window is dropped, unless the sequence is shorter than one window:
    then it is one window. Returns [n_windows]."""
    rel = _rel(poses, joints, unit)
    rel = np.delete(rel, list(joints).index(ROOT), axis=1)
    speed = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(axis=1) * fps  # [F - 1]
    w = max(1, int(round(window_s * fps)))
    if len(speed) < w:
        return np.array([speed.mean()]) if len(speed) else np.zeros(0)
    sums = np.concatenate([[0.0], np.cumsum(speed)])
    starts = np.arange(0, len(speed) - w + 1, stride or w)
    return (sums[starts + w] - sums[starts]) / w


def energy_range(sequences, fps, window_s=2.0, joints=JOINTS, unit=1.0):
    """[min, max] of `motion_energy` over every window (each start frame) of the training pose sequences."""
    e = np.concatenate([motion_energy(s, fps, window_s, joints, unit, stride=1) for s in sequences])
    return np.array([e.min(), e.max()])


def frozen(gen_energy, train_range):
    """Whether a generated dance froze: some window moves less than the calmest window of the training data (the
    least motion a dancer of this data set shows in `window_s`)."""
    return bool(np.any(np.asarray(gen_energy) < float(train_range[0])))


def energy_in_range(gen_energy, train_range):
    """Whether every window of a generated dance moves as much as some training window and no more than any: the
    issue's "no freezing" criterion, which also catches a dance that shakes itself apart."""
    e = np.asarray(gen_energy)
    return bool(np.all((e >= float(train_range[0])) & (e <= float(train_range[1]))))


def bones(joints=JOINTS):
    """The BODY_PAIRS bones whose two keypoints are both in `joints`."""
    js = set(joints)
    return [(a, b) for a, b in BODY_PAIRS if a in js and b in js]


@functools.lru_cache
def skeleton_tree(joints=JOINTS):
    """The bones among `joints` walked from the root, parents first: [((a, b) as in BODY_PAIRS, index of the parent
    in `joints`, index of the child)]."""
    idx = {j: i for i, j in enumerate(joints)}
    todo, seen, order = bones(joints), {ROOT}, []
    while todo:
        (a, b) = next(bone for bone in todo if (bone[0] in seen) != (bone[1] in seen))
        parent, child = (a, b) if a in seen else (b, a)
        order.append(((a, b), idx[parent], idx[child]))
        seen.add(child)
        todo.remove((a, b))
    return tuple(order)


def bone_ranges(sequences, joints=JOINTS):
    """{bone: (shortest, longest) length over every frame of the training pose sequences} for `bones(joints)`."""
    allp = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences])
    out = {}
    for a, b in bones(joints):
        length = np.linalg.norm(allp[:, a, :2] - allp[:, b, :2], axis=-1)
        out[(a, b)] = (float(length.min()), float(length.max()))
    return out


def has_nan(poses, joints=JOINTS):
    """Whether any used keypoint coordinate is NaN or infinite."""
    return not np.isfinite(np.asarray(poses)[:, list(joints), :2]).all()


def bone_length_error(poses, ranges, joints=JOINTS):
    """How far the bones of poses [F, 25, 3] leave the lengths the training skeleton shows (`bone_ranges`): the
    largest relative excess, over bones and frames, of a length above its training longest (length / longest - 1)
    or below its training shortest (1 - length / shortest); 0 when every bone stays within its training range, inf
    when a used keypoint is NaN/inf. Both in the same units.

    Why a range and not one length per bone: the poses are 2D, and a bone that turns towards the camera looks
    shorter (the CMU salsa's forearm projects from 0.004 to 0.46 torso lengths). Its longest projection is its true
    length, so a bone longer than that by more than 10 % means the skeleton came apart; its shortest is the most
    foreshortening the data shows (a lower bound that matters for bones that never turn away, like the torso)."""
    if has_nan(poses, joints):
        return float("inf")
    p = np.asarray(poses, dtype=np.float64)
    worst = 0.0
    for (a, b), (lo, hi) in ranges.items():
        length = np.linalg.norm(p[:, a, :2] - p[:, b, :2], axis=-1)
        worst = max(worst, float((length / hi - 1.0).max()))
        if lo > 0:
            worst = max(worst, float((1.0 - length / lo).max()))
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
