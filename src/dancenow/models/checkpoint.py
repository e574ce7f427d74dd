"""The checkpoint format of `dancenow train`: what a checkpoint holds, writing one, reading one back, and the
Performer (generator + face generator) rebuilt from its metadata.

A checkpoint is a `torch.save` of a plain dict: `format`, `meta` (sizes of the networks, the train config, the loss
history, the data it was trained on) and state dicts; it is read with weights_only=True. The output of a training
run holds `generator` and `face`; the resumable state (latest.pt) also holds the phase, its networks, optimizers and
RNG states.
"""

import zipfile
from pathlib import Path

import torch

from ..errors import UserError
from ..io import integrity
from ..io.atomic import save_torch
from ..io.weights import torch_load_error
from .performer import Performer, build_face_generator, build_generator

FORMAT = "dancenow.pix2pixhd"  # marks the checkpoints this module writes
FORMAT_VERSION = 2
LABEL = "openpose-body25-face70-hands21-rgb"  # the label maps the generator reads


def generator_config(c, height, width, plate=False):
    """The main generator's metadata (what build_generator rebuilds it from) of train config `c`; `plate`: whether
    it sees the target's static background (and with train.background=composite paints a mask over it)."""
    return dict(label_nc=3, output_nc=3, ngf=c["ngf"], n_downsample=c["n_downsample"], n_blocks=c["n_blocks"],
                n_local_enhancers=c["n_local_enhancers"], n_blocks_local=c["n_blocks_local"],
                temporal=c["temporal"], upsample=c["upsample"], plate=plate,
                composite=plate and c["background"] == "composite", limb_width=c["limb_width"],
                height=height, width=width)


def coarse_config(g):
    """The global generator of a local-enhancer config `g`, alone, at its coarse size (the `global` phase)."""
    n = g["n_local_enhancers"]
    return dict(g, ngf=g["ngf"] * 2 ** n, n_local_enhancers=0, height=g["height"] // 2 ** n,
                width=g["width"] // 2 ** n)


def face_config(c):
    """The face generator's metadata of train config `c`, or None without the face GAN."""
    f = c["face"]
    if not f["enabled"]:
        return None
    return dict({k: f[k] for k in ("crop", "ngf", "n_downsample", "n_blocks", "ndf", "n_layers_d", "num_d",
                                   "lambda_feat")}, upsample=c["upsample"])


def write_checkpoint(path, **content):
    """A checkpoint of this format at `path`, atomically."""
    save_torch(dict(format=FORMAT, **content), path)


def read_checkpoint(path, keys=("generator",)):
    """torch.load(weights_only=True) of a file this module wrote, with `keys` (the output's "generator"; the
    resumable state's "phase", "nets", ...); UserError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"generator checkpoint not found: {path}")
    why = integrity.problem(path) if zipfile.is_zipfile(path) else None
    if why:
        raise UserError(f"{path} is damaged ({why}): delete it; the workflow makes it again")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path} is not a dancenow checkpoint (a .pt written by `dancenow train`): "
                        f"{torch_load_error(e)}") from None
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
