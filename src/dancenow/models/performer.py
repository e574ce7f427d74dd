"""What render runs: EDN's generator with temporal smoothing and the face GAN's residual, built from checkpoint
metadata.

- temporal: the generator's input is the label map and its own previous output (zeros before the first frame),
  G(x_t, G(x_{t-1})); a sequence is rendered frame after frame, each output fed into the next.
- face: a residual generator sees the face crop of the label map and of the generated frame; its output is added to
  the frame at the crop's pixels.
"""

import torch
import torch.nn as nn

from ..face import add_at, crop
from .generator import GlobalGenerator, LocalEnhancer


def build_generator(g):
    """The main generator described by checkpoint metadata `g` (see dancenow.models.checkpoint.generator_config)."""
    input_nc = g["label_nc"] + (g["output_nc"] if g["temporal"] else 0)
    if g["n_local_enhancers"]:
        return LocalEnhancer(input_nc, g["output_nc"], g["ngf"], g["n_downsample"], g["n_blocks"],
                             g["n_local_enhancers"], g["n_blocks_local"])
    return GlobalGenerator(input_nc, g["output_nc"], g["ngf"], g["n_downsample"], g["n_blocks"])


def build_face_generator(f):
    """The face GAN's residual generator: (label crop, generated crop) -> residual crop."""
    return GlobalGenerator(6, 3, f["ngf"], f["n_downsample"], f["n_blocks"])


def generator_input(generator_cfg, label, prev):
    """The main generator's input: the label map, and with temporal smoothing the previous output (or zeros)."""
    if not generator_cfg["temporal"]:
        return label
    if prev is None:
        prev = torch.zeros_like(label[:, :generator_cfg["output_nc"]])
    return torch.cat([label, prev], dim=1)


class Performer(nn.Module):
    """generator + optional face residual generator, run one step (a batch of frames) at a time."""

    def __init__(self, generator, generator_cfg, face=None, face_cfg=None):
        super().__init__()
        self.generator, self.generator_cfg = generator, generator_cfg
        self.face, self.face_cfg = face, face_cfg

    @property
    def temporal(self):
        return bool(self.generator_cfg["temporal"])

    def forward(self, label, prev=None, face_boxes=None, has_face=None):
        """label [B,3,H,W] in [-1,1]; prev: the generator's previous output (temporal only; None = first frame);
        face_boxes [B,2] and has_face [B] bool (face only). Returns (frame with the face residual, the generator's
        own output): the latter is what the next frame's `prev` must be, as in training."""
        out = self.generator(generator_input(self.generator_cfg, label, prev))
        if self.face is None or face_boxes is None or not bool(has_face.any()):
            return out, out
        size = self.face_cfg["crop"]
        which = has_face.nonzero().flatten()
        boxes = face_boxes[which]
        residual = self.face(torch.cat([crop(label[which], boxes, size), crop(out[which], boxes, size)], dim=1))
        final = out.clone()
        final[which] = add_at(out[which], residual, boxes)
        return final, out
