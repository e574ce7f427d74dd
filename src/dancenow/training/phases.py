"""The phases of EDN training, each a loop of its own iterations: `global` (pix2pixHD's coarse generator alone, with
local enhancers), `main` (the full-size generator against the multi-scale PatchGAN, with EDN's temporal
discriminator) and `face` (EDN's face GAN on the frozen main generator); what each trains and how its step runs.
"""

import math

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..distributed import rank_and_size
from ..errors import UserError
from ..models import MultiscaleDiscriminator
from ..models.checkpoint import coarse_config, face_config
from ..models.performer import Performer, build_face_generator, build_generator, generator_input
from .steps import FACE_LOSSES, MAIN_LOSSES, TEMPORAL_LOSSES, face_step, generate_pair, main_step, set_requires_grad


# torch.compile's backend for train.compile; the tests use aot_eager (the same captured graphs and autograd, without
# minutes of code generation on a CPU)
COMPILE_BACKEND = "inductor"


class Phase:
    """One training loop: the networks it trains (`nets`, checkpointed) and those its step runs frozen (`frozen`),
    the callables the step runs (`train_nets`: DDP over several ranks, compiled with train.compile), their
    optimizers, the dataset, the step and the losses it logs."""

    def __init__(self, name, iterations, nets, opts, dataset, step, losses, sample, frozen=None):
        self.name, self.iterations, self.nets, self.opts = name, iterations, nets, opts
        self.dataset, self.step, self.losses, self.sample = dataset, step, losses, sample
        self.frozen = frozen or {}
        self.train_nets = {**nets, **self.frozen}
        self.memory_format = torch.contiguous_format

    def to_layout(self, memory_format):
        """Networks (and, in the loop, batches) in `memory_format`; before wrap, whose DDP keeps the parameters."""
        self.memory_format = memory_format
        for m in (*self.nets.values(), *self.frozen.values()):
            m.to(memory_format=memory_format)

    def batch(self, batch):
        return {k: v.contiguous(memory_format=self.memory_format) if v.dim() == 4 else v for k, v in batch.items()}


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


def discriminators(c, temporal, device):
    D = {"D": MultiscaleDiscriminator(6, c["ndf"], c["n_layers_d"], c["num_d"]).to(device)}
    if temporal:
        D["Dt"] = MultiscaleDiscriminator(12, c["ndf"], c["n_layers_d"], c["num_d"]).to(device)
    return D


def learning_rate(c, world):
    """Adam's learning rate for steps of batch_size samples on each of `world` ranks (train.lr_scaling)."""
    return c["lr"] * math.sqrt(c["batch_size"] * world) if c["lr_scaling"] == "sqrt" else c["lr"]


def decay_factor(it, iterations, fraction):
    """The learning rate's multiplier at iteration `it` (1-based) of a phase of `iterations` under train.lr_decay:
    1 until its last `fraction` of iterations, then falling by equal steps to 1/n at the last of those n."""
    n = round(fraction * iterations)
    return min(1.0, (iterations - it + 1) / n) if n else 1.0


def set_learning_rate(phase, c, it, world):
    lr = learning_rate(c, world) * decay_factor(it, phase.iterations, c["lr_decay"])
    for opt in phase.opts.values():
        for group in opt.param_groups:
            group["lr"] = lr


def adam(c, *modules):
    """Adam over the modules' parameters; on a GPU its fused kernel (one launch a step for all of them), on a CPU
    the default one (the exact updates of the checkpoints before)."""
    params = [p for m in modules for p in m.parameters()]
    return torch.optim.Adam(params, lr=learning_rate(c, rank_and_size()[1]), betas=(c["beta1"], 0.999),
                            fused=params[0].is_cuda or None)


def generator_phase(name, iterations, c, gen_cfg, dataset, vgg, device, autocast, coarse_weights=None, plate=None):
    """`global` (the coarse generator) or `main` (the full-size one, started from the coarse one's weights); `plate`:
    the background image (uint8 HWC) a generator with gen_cfg["plate"] sees."""
    G = build_generator(gen_cfg).to(device)
    if plate is not None:
        G.set_plate(plate)
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
        return face_step(phase.train_nets, phase.opts, vgg, batch, c, gen_cfg, face_cfg, autocast)

    def sample(phase, item):
        performer = Performer(G, gen_cfg, phase.nets["F"], face_cfg)
        prev = G(generator_input(gen_cfg, item["label_prev"], None)) if gen_cfg["temporal"] else None
        final, _ = performer(item["label"], prev, item["face_box"], torch.ones(1, dtype=torch.bool))
        return [item["label"], final, item["real"]]

    return Phase("face", iterations, nets, opts, dataset, step, losses=FACE_LOSSES, sample=sample,
                 frozen={"G_frozen": G})


def global_frozen(phase, c, it):
    """In the main phase with local enhancers: whether iteration `it` trains the local enhancers alone."""
    return phase.name == "main" and c["n_local_enhancers"] > 0 and it <= c["fix_global_iterations"]


def wrap(phase, c, it, world, device):
    """Freeze or unfreeze the global trunk for iteration `it`, and (re)wrap the trained networks in DDP (which
    registers the parameters that require gradients when it is built), then every network of the step in
    torch.compile with train.compile (after DDP, whose buckets the compiled graphs then follow)."""
    if phase.name == "main" and c["n_local_enhancers"] > 0:
        set_requires_grad(phase.nets["G"].global_trunk, not global_frozen(phase, c, it))
    nets = dict(phase.nets)
    if world > 1:
        nets = {k: DistributedDataParallel(m, device_ids=[device] if device.type == "cuda" else None)
                for k, m in nets.items()}
    nets.update(phase.frozen)
    if c["compile"]:
        # the step's two backward passes share the discriminators' graphs (retain_graph): no donated buffers
        torch._functorch.config.donated_buffer = False
        nets = {k: torch.compile(m, backend=COMPILE_BACKEND) for k, m in nets.items()}
    phase.train_nets = nets


def n_params(m):
    return sum(p.numel() for p in m.parameters()) / 1e6
