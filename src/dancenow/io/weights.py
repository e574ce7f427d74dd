"""Reading pretrained weights that users download themselves, from the paths they configure."""

import re
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import UserError


def vgg_features(layout, end):
    """torchvision's VGG `features` for a layout (output channels of each 3x3 conv, "M" a 2x2 max pool), cut at
    module index `end`; same module indices as torchvision's, so its state dict loads."""
    layers, in_ch = [], 3
    for v in layout:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    return nn.Sequential(*layers[:end])


def torch_load_error(e):
    """What torch.load(weights_only=True) found wrong, in one line. Torch's own message for a file holding Python
    objects advises loading it with weights_only=False, which runs whatever code the file holds: never say that."""
    text = str(e)
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return f"it holds Python objects, not only tensors{what}; refused, since loading them could run code"
    return (text.splitlines() or [type(e).__name__])[0]


def load_state_dict(path, config_key, expected, shapes):
    """The tensors `shapes` names, read from the state dict in `path`, as float32.

    UserError naming the config key, the path and `expected` for a missing file, a file that torch cannot read as
    a state dict, or a missing or misshapen key.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{config_key}: file not found: {path} (expected {expected})")
    try:
        try:  # memory-mapped: only the tensors needed are read (the backbone file holds a 400 MB classifier)
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (pre-zip) serialization cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, a pickled model rather than a state dict, truncated ...
        raise UserError(f"{config_key}: {path} could not be read as {expected}: {torch_load_error(e)}") from None
    if not isinstance(state, dict):
        raise UserError(f"{config_key}: {path} holds a {type(state).__name__}, expected {expected}")
    missing = [k for k in shapes if k not in state]
    wrong = [f"{k} {tuple(state[k].shape) if torch.is_tensor(state[k]) else type(state[k]).__name__} "
             f"instead of {tuple(s)}" for k, s in shapes.items()
             if k in state and (not torch.is_tensor(state[k]) or state[k].shape != s)]
    if missing or wrong:
        detail = (f"missing keys {missing[:4]}{' ...' if len(missing) > 4 else ''}" if missing
                  else f"wrong shapes: {wrong[:3]}")
        raise UserError(f"{config_key}: {path} is not {expected}: {detail}")
    return {k: state[k].float() for k in shapes}
