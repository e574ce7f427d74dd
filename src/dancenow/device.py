"""Where tensors run: the device of this task (its GPU when there is one) and the bfloat16 autocast policy."""

import contextlib

import torch

from .distributed import local_rank
from .errors import UserError


def task_device():
    """This task's GPU (LOCAL_RANK of the job's tasks on its node) when CUDA is available, else the CPU."""
    return torch.device("cuda", local_rank()) if torch.cuda.is_available() else torch.device("cpu")


def layout(channels_last, device):
    """The memory format of the networks and batches: channels-last where `channels_last` says so (None: on GPUs)."""
    on = device.type == "cuda" if channels_last is None else channels_last
    return torch.channels_last if on else torch.contiguous_format


def amp_context(setting, device, key):
    """(context, on): bfloat16 autocast on a GPU that supports it (setting auto | bf16), exact float32 elsewhere.
    `key` names the setting in messages (train.amp, render.amp, ...)."""
    if setting == "off" or device.type != "cuda":
        return contextlib.nullcontext(), False
    if not torch.cuda.is_bf16_supported():
        if setting == "bf16":
            raise UserError(f"{key}=bf16: this GPU has no bfloat16 support; use {key}=auto or off")
        return contextlib.nullcontext(), False
    return torch.autocast("cuda", dtype=torch.bfloat16), True
