"""Resuming a training run: seeds and RNG states, deterministic kernels, the fingerprint of what shapes the weights,
and whether a latest.pt can be continued.

On CPU the same seed and config give the same checkpoint bytes, with or without a kill and resume in between: each
phase's data order is a function of (seed, phase, epoch) and every RNG state is checkpointed.
"""

import contextlib
import hashlib
import json
import logging
import os
import random
import sys

import numpy as np
import torch

from ..errors import UserError
from ..models.checkpoint import read_checkpoint

log = logging.getLogger(__name__)

# train config keys that do not change the trained weights: left out of the resume fingerprint (the iterations of
# each phase are checked against the checkpoint's plan instead)
NOT_TRAINING = ("frames", "poses", "output", "workdir", "vgg_weights", "iterations", "global_iterations",
                "checkpoint_every", "sample_every", "log_every", "num_workers", "amp", "deterministic",
                "channels_last", "data_on_device", "compile")


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # CUDA generators too


@contextlib.contextmanager
def kernels(device, exact):
    """The kernels for the duration of training: deterministic ones on a CPU always and on a GPU when `exact`,
    else cuDNN's autotuned fastest; the previous global settings are restored after."""
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda" and not exact:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    elif device.type == "cuda":
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


def resume_step(ckpt, plan):
    """The TensorBoard step a run resumes at (what a killed run logged after it is forgotten)."""
    if ckpt is None:
        return 0
    names = [p for p, _ in plan]
    return sum(n for _, n in plan[:names.index(ckpt["phase"])]) + ckpt["meta"]["iteration"]


def interned(d):
    """A loaded dict with its strings interned: the very string objects of a fresh run, so that pickle's memo (and
    the checkpoint's bytes) match those of an uninterrupted run."""
    return {sys.intern(k): sys.intern(v) if isinstance(v, str) else v for k, v in d.items()}


def restore(phase, ckpt, device):
    """Load a phase's networks, optimizers and RNG states from the checkpoint; the iteration to go on from."""
    for k, m in phase.nets.items():
        m.load_state_dict(ckpt["nets"][k])
    for k, o in phase.opts.items():
        kernel = [{key: g[key] for key in ("foreach", "fused")} for g in o.param_groups]
        o.load_state_dict(ckpt["opts"][k])
        for g, own in zip(o.param_groups, kernel):  # the kernel of this device, not of the one that saved it
            g.update(own)
    set_rng_state(ckpt["rng"], device)
    return ckpt["meta"]["iteration"]
