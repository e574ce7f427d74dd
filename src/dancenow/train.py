"""train: EDN's generator for one target person, trained on its (label map, frame) pairs; render uses the result.

The phases, each a training loop of its own iterations, run one after the other in one stage:
- `global` (only with train.n_local_enhancers > 0): pix2pixHD's coarse-to-fine start, a global generator with
  ngf * 2**n_local_enhancers filters trained at 1/2**n_local_enhancers of the frame size (train.global_iterations);
- `main`: the full-size generator (with local enhancers: the global one's weights in its trunk, frozen for the first
  train.fix_global_iterations) against a multi-scale PatchGAN, for train.iterations;
- `face` (train.face.enabled): EDN's face GAN, a residual generator on the face crop with its own discriminator,
  the main generator frozen, for train.face.iterations.

With train.temporal (EDN's temporal smoothing) the generator sees its own previous output, G(x_t, G(x_{t-1})), and a
second discriminator judges consecutive pairs (x_{t-1}, x_t, y_{t-1}, y_t). The objective is LSGAN + lambda_feat *
feature matching + lambda_vgg * VGG-19 perceptual loss (the latter only when train.vgg_weights names torchvision's
vgg19 weights); Adam(lr, (beta1, 0.999)) for every network. train.holdout keeps the last fraction of the frames out
of training, for `dancenow evaluate`. On GPUs the forward passes run under bfloat16 autocast (train.amp).

- determinism: on CPU the same seed and config give the same checkpoint bytes, with or without a kill and resume
  in between (each phase's data order is a function of (seed, phase, epoch); every RNG state is checkpointed).
- {workdir}/latest.pt every checkpoint_every iterations and at the end of each phase (phase, networks, optimizers,
  RNG states, loss history, the weights of finished phases), written atomically; a rerun with the same training
  config resumes from it. {workdir}/tb holds TensorBoard logs.
- `output`: the generator's and face generator's weights and the metadata rendering needs (`load_performer`).
- DDP: with several tasks (RANK/WORLD_SIZE, see dancenow.distributed) every rank trains the networks wrapped in
  DistributedDataParallel (NCCL on GPUs, gloo on CPU) on its own batch_size samples of the same (seed, epoch) stream;
  rank 0 alone logs and writes files. The logged losses are the means over the ranks.
- stopping: when dancenow.distributed.STOP is set (the Slurm launcher sets it on Slurm's warning before a time limit
  or preemption), every rank stops after the same completed iteration, rank 0 saves latest.pt and Stopped is
  raised; the next run resumes from there and ends as an uninterrupted run would.
"""

import contextlib
import hashlib
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from . import __version__
from .config import section
from .data import PoseFrameDataset, ShuffleSampler, to_device
from .distributed import STOP, Stopped, local_rank, process_group, rank_and_size
from .errors import UserError
from .io.atomic import atomic_path
from .models import MultiscaleDiscriminator
from .models.losses import perceptual_loss
from .models.performer import Performer, build_face_generator, build_generator, generator_input
from .train_steps import (FACE_LOSSES, MAIN_LOSSES, TEMPORAL_LOSSES, face_step, generate_pair, main_step,
                          set_requires_grad)

log = logging.getLogger(__name__)

FORMAT = "dancenow.pix2pixhd"  # marks the checkpoints this module writes
FORMAT_VERSION = 2
# train config keys that do not change the trained weights: left out of the resume fingerprint (the iterations of
# each phase are checked against the checkpoint's plan instead)
NOT_TRAINING = ("frames", "poses", "output", "workdir", "vgg_weights", "iterations", "global_iterations",
                "checkpoint_every", "sample_every", "log_every", "num_workers", "amp")
LABEL = "openpose-body25-face70-hands21-rgb"


# ---- reproducibility -------------------------------------------------------------------------------------------

def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # CUDA generators too


@contextlib.contextmanager
def deterministic(device):
    """Deterministic kernels for the duration of training; the previous global settings are restored after."""
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # reflection padding's CUDA backward has no deterministic kernel: warn instead of failing (best effort)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    else:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


def rng_state(device):
    """Every RNG state, in types torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                     gauss], "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state, device):
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(c, seed, world_size, data):
    """Hash of everything that shapes the trained weights: the train config minus paths, bookkeeping and phase
    lengths, the seed, the number of ranks, whether VGG is on, and which data (the source video's hash, the frames'
    shape, the poses file's bytes, the frames trained on)."""
    keep = {k: v for k, v in c.items() if k not in NOT_TRAINING}
    keep["face"] = {k: v for k, v in c["face"].items() if k != "iterations"}
    keep.update(seed=seed, world_size=world_size, vgg=c["vgg_weights"] is not None and bool(c["lambda_vgg"]),
                data=data)
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def amp_context(setting, device, key="train.amp"):
    """(context, on): bfloat16 autocast on a GPU that supports it (setting auto | bf16), exact float32 elsewhere."""
    if setting not in ("auto", "bf16", "off"):
        raise UserError(f"{key} must be auto, bf16 or off, not {setting!r}")
    if setting == "off" or device.type != "cuda":
        return contextlib.nullcontext(), False
    if not torch.cuda.is_bf16_supported():
        if setting == "bf16":
            raise UserError(f"{key}=bf16: this GPU has no bfloat16 support; use {key}=auto or off")
        return contextlib.nullcontext(), False
    return torch.autocast("cuda", dtype=torch.bfloat16), True


# ---- checkpoints -----------------------------------------------------------------------------------------------

def save_atomic(obj, path):
    """torch.save to a temporary name, fsync, rename: the final name only ever holds a complete file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # to a file object: the archive's inner name does not depend on the temporary name
        f.flush()
        os.fsync(f.fileno())


def read_checkpoint(path, keys=("generator",)):
    """torch.load(weights_only=True) of a file this module wrote, with `keys` (the output's "generator"; the
    resumable state's "phase", "nets", ...); UserError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"generator checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path} is not a dancenow checkpoint (a .pt written by `dancenow train`): "
                        f"{(str(e).splitlines() or [type(e).__name__])[0]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or not {"meta", *keys} <= ckpt.keys():
        raise UserError(f"{path} is not a dancenow checkpoint (a .pt written by `dancenow train`)")
    return ckpt


def load_performer(path, device="cpu"):
    """The generator (and face generator) of a `dancenow train` checkpoint as a Performer in eval mode on
    `device`, and its metadata (height, width, generator and face sizes, the train config, the loss history)."""
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    try:
        G = build_generator(meta["generator"])
        G.load_state_dict(ckpt["generator"])
        face = None
        if meta.get("face"):
            face = build_face_generator(meta["face"])
            face.load_state_dict(ckpt["face"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise UserError(f"{path}: its generator weights do not match its metadata ({str(e).splitlines()[0]}); "
                        f"retrain with this version of dancenow") from None
    return Performer(G, meta["generator"], face, meta.get("face")).to(device).eval(), meta


# ---- configuration -----------------------------------------------------------------------------------------------

def check_config(c):
    minimum = dict(iterations=0, global_iterations=0, fix_global_iterations=0, batch_size=1, ngf=1,
                   n_downsample=0, n_blocks=0, n_local_enhancers=0, n_blocks_local=0, ndf=1, n_layers_d=1, num_d=1,
                   checkpoint_every=1, sample_every=1, log_every=1, num_workers=0)
    face_minimum = dict(iterations=0, crop=8, ngf=1, n_downsample=0, n_blocks=0, ndf=1, n_layers_d=1, num_d=1)
    for where, keys in (("train", minimum), ("train.face", face_minimum)):
        d = c if where == "train" else c["face"]
        for k, low in keys.items():
            if not isinstance(d[k], int) or isinstance(d[k], bool) or d[k] < low:
                raise UserError(f"{where}.{k} must be an integer >= {low}, not {d[k]!r}")
    for k, v in (("lr", c["lr"]), ("beta1", c["beta1"]), ("lambda_feat", c["lambda_feat"]),
                 ("lambda_vgg", c["lambda_vgg"]), ("face.lambda_feat", c["face"]["lambda_feat"])):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
            raise UserError(f"train.{k} must be a non-negative number, not {v!r}")
    if not isinstance(c["holdout"], (int, float)) or not 0 <= c["holdout"] < 1:
        raise UserError(f"train.holdout must be a fraction in [0, 1), not {c['holdout']!r}")
    for k, v in (("temporal", c["temporal"]), ("face.enabled", c["face"]["enabled"])):
        if not isinstance(v, bool):
            raise UserError(f"train.{k} must be true or false, not {v!r}")


def generator_config(c, height, width):
    return dict(label_nc=3, output_nc=3, ngf=c["ngf"], n_downsample=c["n_downsample"], n_blocks=c["n_blocks"],
                n_local_enhancers=c["n_local_enhancers"], n_blocks_local=c["n_blocks_local"],
                temporal=c["temporal"], height=height, width=width)


def coarse_config(g):
    """The global generator of a local-enhancer config `g`, alone, at its coarse size (the `global` phase)."""
    n = g["n_local_enhancers"]
    return dict(g, ngf=g["ngf"] * 2 ** n, n_local_enhancers=0, height=g["height"] // 2 ** n,
                width=g["width"] // 2 ** n)


def face_config(c):
    f = c["face"]
    if not f["enabled"]:
        return None
    return {k: f[k] for k in ("crop", "ngf", "n_downsample", "n_blocks", "ndf", "n_layers_d", "num_d",
                              "lambda_feat")}


def phase_plan(c):
    """[(phase, iterations)] in training order."""
    plan = []
    if c["n_local_enhancers"] and c["global_iterations"]:
        plan.append(("global", c["global_iterations"]))
    plan.append(("main", c["iterations"]))
    if c["face"]["enabled"]:
        plan.append(("face", c["face"]["iterations"]))
    return plan


def training_frames(n_frames, holdout):
    """Indices of the frames trained on: all but the last `holdout` fraction (what `dancenow evaluate` renders)."""
    return np.arange(n_frames - int(round(holdout * n_frames)))


def check_sizes(c, height, width, source):
    multiple = 2 ** (c["n_downsample"] + c["n_local_enhancers"])
    if height % multiple or width % multiple:
        raise UserError(f"{source} holds {width}x{height} frames; with train.n_downsample={c['n_downsample']} and "
                        f"train.n_local_enhancers={c['n_local_enhancers']} the height and width must be multiples "
                        f"of {multiple}")
    f = face_config(c)
    if f and (f["crop"] > min(height, width) or f["crop"] % 2 ** f["n_downsample"]):
        raise UserError(f"train.face.crop={f['crop']} must fit in the {width}x{height} frames and be a multiple of "
                        f"2**train.face.n_downsample={2 ** f['n_downsample']}")


# ---- the phases --------------------------------------------------------------------------------------------------

class Phase:
    """One training loop: the networks it trains (`nets`, checkpointed), the wrappers the step runs (`train_nets`,
    DDP over several ranks), their optimizers, the dataset, the step and the losses it logs."""

    def __init__(self, name, iterations, nets, opts, dataset, step, losses, sample):
        self.name, self.iterations, self.nets, self.opts = name, iterations, nets, opts
        self.dataset, self.step, self.losses, self.sample = dataset, step, losses, sample
        self.train_nets = nets


def discriminators(c, temporal, device):
    D = {"D": MultiscaleDiscriminator(6, c["ndf"], c["n_layers_d"], c["num_d"]).to(device)}
    if temporal:
        D["Dt"] = MultiscaleDiscriminator(12, c["ndf"], c["n_layers_d"], c["num_d"]).to(device)
    return D


def adam(c, *modules):
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=c["lr"], betas=(c["beta1"], 0.999))


def generator_phase(name, iterations, c, gen_cfg, dataset, vgg, device, autocast, coarse_weights=None):
    """`global` (the coarse generator) or `main` (the full-size one, started from the coarse one's weights)."""
    G = build_generator(gen_cfg).to(device)
    if coarse_weights is not None:
        coarse = build_generator(coarse_config(gen_cfg))
        coarse.load_state_dict(coarse_weights)
        G.load_global(coarse)
    nets = {"G": G, **discriminators(c, gen_cfg["temporal"], device)}
    opts = {"G": adam(c, G), "D": adam(c, *(m for k, m in nets.items() if k != "G"))}
    losses = MAIN_LOSSES + (TEMPORAL_LOSSES if gen_cfg["temporal"] else ())

    def step(phase, batch):
        return main_step(phase.train_nets, phase.opts, vgg, batch, c, gen_cfg, autocast)

    def sample(phase, item):
        _, fake, _ = generate_pair(phase.nets["G"], gen_cfg, item)[-1]
        return [item["label"], fake, item["real"]]

    return Phase(name, iterations, nets, opts, dataset, step, losses, sample)


def face_phase(iterations, c, gen_cfg, face_cfg, G_weights, dataset, vgg, device, autocast):
    G = build_generator(gen_cfg).to(device)
    G.load_state_dict(G_weights)
    set_requires_grad(G, False)
    F = build_face_generator(face_cfg).to(device)
    FD = MultiscaleDiscriminator(6, face_cfg["ndf"], face_cfg["n_layers_d"], face_cfg["num_d"]).to(device)
    nets = {"F": F, "FD": FD}
    opts = {"F": adam(c, F), "FD": adam(c, FD)}

    def step(phase, batch):
        return face_step(dict(phase.train_nets, G_frozen=G), phase.opts, vgg, batch, c, gen_cfg, face_cfg,
                         autocast)

    def sample(phase, item):
        performer = Performer(G, gen_cfg, phase.nets["F"], face_cfg)
        prev = G(generator_input(gen_cfg, item["label_prev"], None)) if gen_cfg["temporal"] else None
        final, _ = performer(item["label"], prev, item["face_box"], torch.ones(1, dtype=torch.bool))
        return [item["label"], final, item["real"]]

    return Phase("face", iterations, nets, opts, dataset, step, losses=FACE_LOSSES, sample=sample)


def global_frozen(phase, c, it):
    """In the main phase with local enhancers: whether iteration `it` trains the local enhancers alone."""
    return phase.name == "main" and c["n_local_enhancers"] > 0 and it <= c["fix_global_iterations"]


def wrap(phase, c, it, world, device):
    """Freeze or unfreeze the global trunk for iteration `it`, and (re)wrap the trained networks in DDP: DDP
    registers the parameters that require gradients when it is built."""
    if phase.name == "main" and c["n_local_enhancers"] > 0:
        set_requires_grad(phase.nets["G"].global_trunk, not global_frozen(phase, c, it))
    if world > 1:
        phase.train_nets = {k: DistributedDataParallel(m, device_ids=[device] if device.type == "cuda" else None)
                            for k, m in phase.nets.items()}


# ---- the stage ---------------------------------------------------------------------------------------------------

def run(cfg):
    c = section(cfg, "train")
    seed = int(cfg.seed)
    check_config(c)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank()) if cuda else torch.device("cpu")
    rank, world = rank_and_size()
    is_main = rank == 0
    info = log.info if is_main else (lambda *args: None)  # rank 0 alone logs
    workdir, output = Path(c["workdir"]), Path(c["output"])
    latest = workdir / "latest.pt"
    autocast, amp = amp_context(c["amp"], device)

    probe = PoseFrameDataset(c["frames"], c["poses"])
    H, W = probe.height, probe.width
    check_sizes(c, H, W, c["frames"])
    frames = training_frames(probe.n_frames, c["holdout"])
    if probe.n_without_person:
        info("%d of %d frames have no person and are left out", probe.n_without_person, probe.n_frames)
    if len(frames) < probe.n_frames:
        info("training on frames 0..%d; the last %d (train.holdout=%g) are held out for evaluation",
             len(frames) - 1, probe.n_frames - len(frames), c["holdout"])
    data_id = [probe.video_sha256, probe.n_frames, H, W, probe.poses_sha256, len(frames)]
    fp = fingerprint(c, seed, world, data_id)
    gen_cfg, face_cfg = generator_config(c, H, W), face_config(c)
    plan = phase_plan(c)
    workdir.mkdir(parents=True, exist_ok=True)

    def dataset(phase):
        scale = 2 ** c["n_local_enhancers"] if phase == "global" else 1
        size = f"{H // scale}x{W // scale}"
        return PoseFrameDataset(c["frames"], c["poses"], frames, label_cache=workdir / f"labels_{size}.h5",
                                temporal=c["temporal"], scale=scale,
                                face_crop=face_cfg["crop"] if phase == "face" else None,
                                poses_sha256=probe.poses_sha256)

    def meta(phase_name, it):
        return dict(format_version=FORMAT_VERSION, dancenow_version=__version__, phase=phase_name, iteration=it,
                    plan=plan, height=H, width=W, generator=gen_cfg, face=face_cfg, train=c, seed=seed,
                    fingerprint=fp, video_sha256=probe.video_sha256, n_frames=probe.n_frames,
                    train_frames=len(frames), label=LABEL, amp=amp, history=history)

    if cuda:
        torch.cuda.set_device(device)
    with deterministic(device), logging_redirect_tqdm(), process_group("nccl" if cuda else "gloo"):
        vgg = perceptual_loss(c["vgg_weights"], c["lambda_vgg"])
        if vgg is not None:
            vgg.to(device)
        ckpt = resumable(latest, fp, plan)
        done, history = {}, []
        if ckpt is not None:
            done, history = ckpt["done"], [interned(e) for e in ckpt["meta"]["history"]]
            if ckpt["phase"] in done and dict(plan)[ckpt["phase"]] > ckpt["meta"]["iteration"]:
                del done[ckpt["phase"]]  # more iterations asked of a finished phase: it goes on
        info("%d frames of %dx%d, phases %s, batch %d x %d ranks, on %s%s", len(frames), W, H,
             ", ".join(f"{p} {n} it" for p, n in plan), c["batch_size"], world, device,
             " (bfloat16 autocast)" if amp else "")
        writer = tb_writer(workdir / "tb", resume_step(ckpt, plan)) if is_main else None
        try:
            for index, (name, iterations) in enumerate(plan):
                if name in done:
                    continue
                seed_everything(seed + 1000 * index)
                if name == "face":
                    phase = face_phase(iterations, c, gen_cfg, face_cfg, done["main"], dataset(name), vgg, device,
                                       autocast)
                else:
                    cfg_here = gen_cfg if name == "main" else coarse_config(gen_cfg)
                    phase = generator_phase(name, iterations, c, cfg_here, dataset(name), vgg, device, autocast,
                                            done.get("global") if name == "main" else None)
                start = 0
                if ckpt is not None and ckpt["phase"] == name:
                    for k, m in phase.nets.items():
                        m.load_state_dict(ckpt["nets"][k])
                    for k, o in phase.opts.items():
                        o.load_state_dict(ckpt["opts"][k])
                    set_rng_state(ckpt["rng"], device)
                    start = ckpt["meta"]["iteration"]
                    info("resuming from iteration %d of phase %s (%s)", start, name, latest)
                window = ckpt["window"] if ckpt is not None and ckpt["phase"] == name else None
                ckpt = None

                def save(it, window, phase=phase):
                    """latest.pt at iteration `it` of this phase, with the losses summed since the last log."""
                    save_atomic(dict(format=FORMAT, phase=phase.name, done=done,
                                     nets={k: m.state_dict() for k, m in phase.nets.items()},
                                     opts={k: o.state_dict() for k, o in phase.opts.items()},
                                     rng=rng_state(device), window=window, meta=meta(phase.name, it)), latest)

                phase.offset = sum(n for _, n in plan[:index])  # TensorBoard steps run on across the phases
                train_phase(phase, start, window, c, seed + 1000 * index, device, world, is_main, info, writer,
                            history, save)
                done[name] = phase.nets["F" if name == "face" else "G"].state_dict()
                if is_main:
                    save(iterations, None)
        finally:
            if writer:
                writer.close()
        if is_main:
            final = meta("main", c["iterations"])
            save_atomic(dict(format=FORMAT, generator=done["main"], face=done.get("face"), meta=final), output)
    info("wrote %s", output)


def train_phase(phase, start, window, c, seed, device, world, is_main, info, writer, history, save):
    """Iterations start+1 .. phase.iterations of one phase: steps, loss logging, samples, checkpoints, stopping.
    `window`: the losses summed since the last log line of a resumed run (None: a fresh one)."""
    ds = phase.dataset
    sample_item = to_device({k: v[None] for k, v in ds[len(ds) // 2].items()}, device)
    ds.close()  # workers open their own handles
    loader = DataLoader(ds, batch_size=c["batch_size"], drop_last=True, num_workers=c["num_workers"],
                        sampler=ShuffleSampler(len(ds), seed, start * c["batch_size"], rank_and_size()[0], world),
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)
    window = interned(window or dict.fromkeys(phase.losses, 0.0) | {"steps": 0})
    info("phase %s: %d samples, %d iterations, networks %s", phase.name, len(ds), phase.iterations,
         ", ".join(f"{k} {n_params(m):.2f}M" for k, m in phase.nets.items()))
    for m in phase.nets.values():
        m.train()
    wrap(phase, c, start + 1, world, device)
    bar = tqdm(total=phase.iterations, initial=start, desc=f"train {phase.name}", unit="it", dynamic_ncols=True,
               disable=not is_main, mininterval=0.5 if sys.stderr.isatty() else 30)  # batch logs: rarely
    t0, t0_it = time.perf_counter(), start
    try:
        for it in range(start + 1, phase.iterations + 1):
            if it > start + 1 and global_frozen(phase, c, it - 1) != global_frozen(phase, c, it):
                info("iteration %d: the global generator trains too from now on", it)
                wrap(phase, c, it, world, device)
            batch = to_device(next(batches), device)
            losses = phase.step(phase, batch)
            stop = STOP.is_set()
            if world > 1:
                losses, stop = across_ranks(losses, stop, device)
            for k, v in losses.items():
                window[k] += v
            window["steps"] += 1
            bar.update(1)
            if it % c["log_every"] == 0:
                n = window.pop("steps")
                entry = {k: v / n for k, v in window.items()}
                history.append({"phase": phase.name, "iteration": it, **entry})
                window = dict.fromkeys(phase.losses, 0.0) | {"steps": 0}
                sec = (time.perf_counter() - t0) / max(1, it - t0_it)
                t0, t0_it = time.perf_counter(), it
                info("%s it %d/%d  %s  %.3f s/it", phase.name, it, phase.iterations,
                     "  ".join(f"{k} {v:.4f}" for k, v in entry.items()), sec)
                if writer:
                    for k, v in entry.items():
                        writer.add_scalar(f"{phase.name}/{k}", v, phase.offset + it)
                    writer.add_scalar(f"{phase.name}/sec_per_iteration", sec, phase.offset + it)
            if writer and it % c["sample_every"] == 0:
                with torch.no_grad():
                    images = phase.sample(phase, sample_item)
                grid = (torch.cat([x[0].float() for x in images], dim=2).clamp(-1, 1) + 1) / 2
                writer.add_image(f"{phase.name}: label | generated | real", grid.cpu(), phase.offset + it)
            if is_main and it % c["checkpoint_every"] == 0 and it < phase.iterations:
                save(it, window)
                if writer:
                    writer.flush()
            if stop and it < phase.iterations:
                if is_main:
                    save(it, window)
                info("told to stop: saved iteration %d of phase %s", it, phase.name)
                raise Stopped(it)
    finally:
        bar.close()


def across_ranks(losses, stop, device):
    """The mean of every rank's losses, and whether any rank was told to stop: one all_reduce per iteration."""
    t = torch.tensor([*losses.values(), float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(losses, (t[:-1] / dist.get_world_size()).tolist())), bool(t[-1] > 0)


def interned(d):
    """A loaded dict with its strings interned: the very string objects of a fresh run, so that pickle's memo (and
    the checkpoint's bytes) match those of an uninterrupted run."""
    return {sys.intern(k): sys.intern(v) if isinstance(v, str) else v for k, v in d.items()}


def resume_step(ckpt, plan):
    """The TensorBoard step a run resumes at (what a killed run logged after it is forgotten)."""
    if ckpt is None:
        return 0
    names = [p for p, _ in plan]
    return sum(n for _, n in plan[:names.index(ckpt["phase"])]) + ckpt["meta"]["iteration"]


def resumable(latest, fp, plan):
    """The checkpoint in latest.pt if a run with this training config left it and this plan can continue it,
    else None (with the reason)."""
    if not latest.exists():
        return None
    try:
        ckpt = read_checkpoint(latest, ("phase", "nets", "opts", "done", "rng", "window"))
    except UserError as e:
        log.warning("ignoring %s and starting fresh: %s", latest, e)
        return None
    meta = ckpt["meta"]
    if meta.get("fingerprint") != fp:
        log.info("%s was made with a different train config or data: starting fresh", latest)
        return None
    names = [p for p, _ in plan]
    theirs = [tuple(p) for p in meta["plan"]]
    i = names.index(ckpt["phase"]) if ckpt["phase"] in names else None
    if i is None or theirs[:i] != plan[:i] or meta["iteration"] > plan[i][1]:
        log.info("%s is at iteration %d of phase %s, which the phases %s cannot continue: starting fresh", latest,
                 meta["iteration"], ckpt["phase"], plan)
        return None
    return ckpt


def n_params(m):
    return sum(p.numel() for p in m.parameters()) / 1e6


def tb_writer(logdir, start):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir), purge_step=start)  # forget what a killed run logged after `start`


