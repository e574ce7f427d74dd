"""train: pix2pixHD on one target person's (label map, frame) pairs -> the generator that render uses.

The whole loop is in this file: seed, data, models, resume, the pix2pixHD step, logging, checkpoints.

- objective: LSGAN + lambda_feat * discriminator feature matching + lambda_vgg * VGG-19 perceptual loss (the latter
  only when train.vgg_weights names torchvision's vgg19 weights); Adam(lr, (beta1, 0.999)) for both networks.
- determinism: on CPU the same seed and config give the same checkpoint bytes, with or without a kill and resume
  in between (the data order is a function of (seed, epoch); every RNG state is checkpointed).
- {workdir}/latest.pt every checkpoint_every iterations (networks, optimizers, RNG states, loss history), written
  atomically; a rerun with the same training config resumes from it. {workdir}/tb holds TensorBoard logs.
- `output`: the generator's weights and the metadata rendering needs; read it back with `load_generator`.

- DDP: with several tasks (RANK/WORLD_SIZE, see dancenow.distributed) every rank trains G and D wrapped in
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
from .data import PoseFrameDataset, ShuffleSampler
from .distributed import STOP, Stopped, local_rank, process_group, rank_and_size
from .errors import UserError
from .io.atomic import atomic_path
from .models import GlobalGenerator, MultiscaleDiscriminator
from .models.losses import feature_matching_loss, lsgan_loss, perceptual_loss

log = logging.getLogger(__name__)

FORMAT = "dancenow.pix2pixhd"  # marks the checkpoints this module writes
# train config keys that do not change the trained weights: left out of the resume fingerprint
NOT_TRAINING = ("frames", "poses", "output", "workdir", "vgg_weights", "iterations", "checkpoint_every",
                "sample_every", "log_every", "num_workers")
LOSSES = ("G_GAN", "G_feat", "G_VGG", "D_real", "D_fake")


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


def fingerprint(c, seed, world_size, dataset):
    """Hash of everything that shapes the trained weights: the train config minus paths and bookkeeping, the seed,
    the number of ranks, whether VGG is on, and which data (the source video's hash, the frames' shape, the poses
    file's bytes)."""
    keep = {k: v for k, v in c.items() if k not in NOT_TRAINING}
    keep.update(seed=seed, world_size=world_size, vgg=c["vgg_weights"] is not None and bool(c["lambda_vgg"]),
                data=[dataset.video_sha256, dataset.n_frames, dataset.height, dataset.width,
                      dataset.poses_sha256])
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


# ---- checkpoints -----------------------------------------------------------------------------------------------

def save_atomic(obj, path):
    """torch.save to a temporary name, fsync, rename: the final name only ever holds a complete file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # to a file object: the archive's inner name does not depend on the temporary name
        f.flush()
        os.fsync(f.fileno())


def read_checkpoint(path):
    """torch.load(weights_only=True) of a file this module wrote; UserError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"generator checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path} is not a dancenow checkpoint (a .pt written by `dancenow train`): "
                        f"{(str(e).splitlines() or [type(e).__name__])[0]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "generator" not in ckpt or "meta" not in ckpt:
        raise UserError(f"{path} is not a dancenow checkpoint (a .pt written by `dancenow train`)")
    return ckpt


def build_generator(g):
    return GlobalGenerator(g["input_nc"], g["output_nc"], g["ngf"], g["n_downsample"], g["n_blocks"])


def load_generator(path, device="cpu"):
    """The generator of a `dancenow train` checkpoint in eval mode on `device`, and its metadata (height, width,
    iteration, generator sizes, the train config, the loss history)."""
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    try:
        g = build_generator(meta["generator"])
        g.load_state_dict(ckpt["generator"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise UserError(f"{path}: its generator weights do not match its metadata ({str(e).splitlines()[0]})") \
            from None
    return g.to(device).eval(), meta


# ---- the training step -----------------------------------------------------------------------------------------

def set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad_(flag)


def train_step(G, D, opt_g, opt_d, vgg, label, real, c):
    """One pix2pixHD iteration: the losses of G and D from the same discriminator, then G's step, then D's."""
    fake = G(label)
    set_requires_grad(D, False)  # G's losses need gradients through D, not for D's weights
    pred_fake = D(label, fake)
    set_requires_grad(D, True)
    pred_fake_d = D(label, fake.detach())
    pred_real = D(label, real)

    loss_g_gan = lsgan_loss(pred_fake, True)
    loss_g_feat = feature_matching_loss(pred_fake, pred_real, c["n_layers_d"]) * c["lambda_feat"]
    loss_g_vgg = vgg(fake, real) * c["lambda_vgg"] if vgg is not None else torch.zeros((), device=real.device)
    loss_d_real = lsgan_loss(pred_real, True)
    loss_d_fake = lsgan_loss(pred_fake_d, False)

    opt_g.zero_grad(set_to_none=True)
    (loss_g_gan + loss_g_feat + loss_g_vgg).backward()
    opt_g.step()
    opt_d.zero_grad(set_to_none=True)
    ((loss_d_real + loss_d_fake) * 0.5).backward()
    opt_d.step()
    return dict(zip(LOSSES, (x.item() for x in (loss_g_gan, loss_g_feat, loss_g_vgg, loss_d_real, loss_d_fake))))


def across_ranks(losses, stop, device):
    """The mean of every rank's losses, and whether any rank was told to stop: one all_reduce per iteration."""
    t = torch.tensor([*losses.values(), float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(losses, (t[:-1] / dist.get_world_size()).tolist())), bool(t[-1] > 0)


# ---- the stage -------------------------------------------------------------------------------------------------

def check_config(c):
    minimum = dict(iterations=0, batch_size=1, ngf=1, n_downsample=0, n_blocks=0, ndf=1, n_layers_d=1, num_d=1,
                   checkpoint_every=1, sample_every=1, log_every=1, num_workers=0)
    for k, low in minimum.items():
        if not isinstance(c[k], int) or isinstance(c[k], bool) or c[k] < low:
            raise UserError(f"train.{k} must be an integer >= {low}, not {c[k]!r}")
    for k in ("lr", "beta1", "lambda_feat", "lambda_vgg"):
        if not isinstance(c[k], (int, float)) or isinstance(c[k], bool) or c[k] < 0:
            raise UserError(f"train.{k} must be a non-negative number, not {c[k]!r}")


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

    dataset = PoseFrameDataset(c["frames"], c["poses"], label_cache=workdir / "labels.h5")
    H, W = dataset.height, dataset.width
    multiple = 2 ** c["n_downsample"]
    if H % multiple or W % multiple:
        raise UserError(f"{c['frames']} holds {W}x{H} frames; with train.n_downsample={c['n_downsample']} the "
                        f"height and width must be multiples of {multiple}")
    if dataset.n_without_person:
        info("%d of %d frames have no person and are left out", dataset.n_without_person, dataset.n_frames)
    fp = fingerprint(c, seed, world, dataset)
    gen_cfg = dict(input_nc=3, output_nc=3, ngf=c["ngf"], n_downsample=c["n_downsample"], n_blocks=c["n_blocks"],
                   height=H, width=W)
    workdir.mkdir(parents=True, exist_ok=True)

    if cuda:
        torch.cuda.set_device(device)
    with deterministic(device), logging_redirect_tqdm(), process_group("nccl" if cuda else "gloo"):
        seed_everything(seed)
        G = build_generator(gen_cfg).to(device)
        D = MultiscaleDiscriminator(6, c["ndf"], c["n_layers_d"], c["num_d"]).to(device)
        opt_g = torch.optim.Adam(G.parameters(), lr=c["lr"], betas=(c["beta1"], 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=c["lr"], betas=(c["beta1"], 0.999))
        vgg = perceptual_loss(c["vgg_weights"], c["lambda_vgg"])
        if vgg is not None:
            vgg.to(device)

        start, history, window = 0, [], dict.fromkeys(LOSSES, 0.0) | {"steps": 0}
        ckpt = resumable(latest, fp, c["iterations"])
        if ckpt is not None:
            G.load_state_dict(ckpt["generator"])
            D.load_state_dict(ckpt["discriminator"])
            opt_g.load_state_dict(ckpt["opt_g"])
            opt_d.load_state_dict(ckpt["opt_d"])
            set_rng_state(ckpt["rng"], device)
            # interned keys: the very string objects of a fresh run, so that pickle's memo (and the bytes) match
            start, window = ckpt["meta"]["iteration"], {sys.intern(k): v for k, v in ckpt["window"].items()}
            history = [{sys.intern(k): v for k, v in entry.items()} for entry in ckpt["meta"]["history"]]
            info("resuming from iteration %d (%s)", start, latest)
        info("%d frames of %dx%d, %d iterations, batch %d x %d ranks, G %.2fM params, D %.2fM params, on %s",
             len(dataset), W, H, c["iterations"], c["batch_size"], world, n_params(G), n_params(D), device)
        # DDP wraps the networks that train; state dicts and samples come from the plain modules
        G_train, D_train = (DistributedDataParallel(m, device_ids=[device] if cuda else None) for m in (G, D)) \
            if world > 1 else (G, D)

        def meta(iteration):
            return dict(format_version=1, dancenow_version=__version__, iteration=iteration, height=H, width=W,
                        generator=gen_cfg, train=c, seed=seed, fingerprint=fp, video_sha256=dataset.video_sha256,
                        label="openpose-body25-face70-hands21-rgb", history=history)

        def save_latest(iteration):
            save_atomic(dict(format=FORMAT, generator=G.state_dict(), discriminator=D.state_dict(),
                             opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(), rng=rng_state(device),
                             window=window, meta=meta(iteration)), latest)

        sample_label, sample_real = (t[None].to(device) for t in dataset[len(dataset) // 2])
        dataset.close()  # workers open their own handles
        loader = DataLoader(dataset, batch_size=c["batch_size"], drop_last=True, num_workers=c["num_workers"],
                            sampler=ShuffleSampler(len(dataset), seed, start * c["batch_size"], rank, world),
                            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
        batches = iter(loader)
        writer = tb_writer(workdir / "tb", start) if is_main else None
        G.train(), D.train()
        bar = tqdm(total=c["iterations"], initial=start, desc="train", unit="it", dynamic_ncols=True,
                   disable=not is_main, mininterval=0.5 if sys.stderr.isatty() else 30)  # batch logs: rarely
        t0, t0_it = time.perf_counter(), start
        try:
            for it in range(start + 1, c["iterations"] + 1):
                label, real = (t.to(device, non_blocking=True) for t in next(batches))
                losses = train_step(G_train, D_train, opt_g, opt_d, vgg, label, real, c)
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
                    history.append({"iteration": it, **entry})
                    window = dict.fromkeys(LOSSES, 0.0) | {"steps": 0}
                    sec = (time.perf_counter() - t0) / max(1, it - t0_it)
                    t0, t0_it = time.perf_counter(), it
                    info("it %d/%d  %s  %.3f s/it", it, c["iterations"],
                         "  ".join(f"{k} {v:.4f}" for k, v in entry.items()), sec)
                    bar.set_postfix(G=f"{entry['G_GAN'] + entry['G_feat'] + entry['G_VGG']:.3f}",
                                    D=f"{(entry['D_real'] + entry['D_fake']) / 2:.3f}", refresh=False)
                    if writer:
                        for k, v in entry.items():
                            writer.add_scalar(f"loss/{k}", v, it)
                        writer.add_scalar("time/sec_per_iteration", sec, it)
                if writer and it % c["sample_every"] == 0:
                    writer.add_image("label | generated | real", sample_grid(G, sample_label, sample_real), it)
                if is_main and it % c["checkpoint_every"] == 0 and it < c["iterations"]:
                    save_latest(it)
                    if writer:
                        writer.flush()
                if stop and it < c["iterations"]:
                    if is_main:
                        save_latest(it)
                    info("told to stop: saved iteration %d in %s", it, latest)
                    raise Stopped(it)
        finally:
            bar.close()
            if writer:
                writer.close()
        if is_main:
            save_latest(c["iterations"])
            save_atomic(dict(format=FORMAT, generator=G.state_dict(), meta=meta(c["iterations"])), output)
    info("wrote %s (iteration %d)", output, c["iterations"])


def resumable(latest, fp, iterations):
    """The checkpoint in latest.pt if a run with this training config left it, else None (with the reason)."""
    if not latest.exists():
        return None
    try:
        ckpt = read_checkpoint(latest)
    except UserError as e:
        log.warning("ignoring %s and starting fresh: %s", latest, e)
        return None
    if ckpt["meta"].get("fingerprint") != fp:
        log.info("%s was made with a different train config or data: starting fresh", latest)
        return None
    if ckpt["meta"]["iteration"] > iterations:
        log.info("%s is at iteration %d, past train.iterations=%d: starting fresh", latest,
                 ckpt["meta"]["iteration"], iterations)
        return None
    return ckpt


def n_params(m):
    return sum(p.numel() for p in m.parameters()) / 1e6


def tb_writer(logdir, start):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir), purge_step=start)  # forget what a killed run logged after `start`


@torch.no_grad()
def sample_grid(G, label, real):
    """label | generated | real side by side, CHW in [0,1]."""
    fake = G(label)
    return ((torch.cat([label[0], fake[0], real[0]], dim=2).clamp(-1, 1) + 1) / 2).cpu()
