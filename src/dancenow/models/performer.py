"""What render runs: EDN's generator with temporal smoothing and the face GAN's residual, built from checkpoint
metadata.

- temporal: the generator's input is the label map and its own previous output (zeros before the first frame),
  G(x_t, G(x_{t-1})); a sequence is rendered frame after frame, each output fed into the next.
- face: a residual generator sees the face crop of the label map and of the generated frame; its output is added to
  the frame at the crop's pixels.
- plate: the generator also sees the target's static background (dancenow.plate) as three more input channels,
  kept in its state dict, so it need only paint the person; with `composite` it also paints a mask, and the frame
  is the painted person over the plate where the mask says so.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..face import add_at, crop
from .generator import GlobalGenerator, LocalEnhancer


class WithPlate(nn.Module):
    """A generator that also sees the static background: its input gets the plate's three channels appended (the
    plate resized to the input's size). The plate is a buffer: it travels in the state dict.

    composite: `net` paints a fourth channel, a mask m in [0, 1] ((tanh + 1) / 2), and the output is
    m * painted + (1 - m) * plate."""

    def __init__(self, net, height, width, composite=False):
        super().__init__()
        self.net, self.composite = net, composite
        self.register_buffer("plate", torch.zeros(1, 3, height, width))

    def set_plate(self, image):
        """image: uint8 [H,W,3] (any size: area-resized to this generator's)."""
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        self.plate.copy_(F.interpolate(x, size=self.plate.shape[2:], mode="area"))

    @property
    def global_trunk(self):
        return self.net.global_trunk

    def load_global(self, coarse):
        self.net.load_global(coarse.net)

    def forward(self, x):
        plate = self.plate if self.plate.shape[2:] == x.shape[2:] else F.interpolate(self.plate, size=x.shape[2:],
                                                                                    mode="area")
        plate = plate.expand(len(x), -1, -1, -1).to(x.dtype)
        out = self.net(torch.cat([x, plate], dim=1))
        if not self.composite:
            return out
        mask = (out[:, 3:] + 1) / 2
        return mask * out[:, :3] + (1 - mask) * plate


def build_generator(g):
    """The main generator described by checkpoint metadata `g` (see dancenow.models.checkpoint.generator_config)."""
    plate = bool(g.get("plate", False))  # checkpoints from before the plate had none
    composite = plate and bool(g.get("composite", False))
    input_nc = g["label_nc"] + (g["output_nc"] if g["temporal"] else 0) + (3 if plate else 0)
    output_nc = g["output_nc"] + (1 if composite else 0)
    upsample = g.get("upsample", "transpose")  # checkpoints from before the choice had pix2pixHD's
    if g["n_local_enhancers"]:
        net = LocalEnhancer(input_nc, output_nc, g["ngf"], g["n_downsample"], g["n_blocks"],
                            g["n_local_enhancers"], g["n_blocks_local"], upsample)
    else:
        net = GlobalGenerator(input_nc, output_nc, g["ngf"], g["n_downsample"], g["n_blocks"], upsample)
    return WithPlate(net, g["height"], g["width"], composite) if plate else net


def build_face_generator(f):
    """The face GAN's residual generator: (label crop, generated crop) -> residual crop."""
    return GlobalGenerator(6, 3, f["ngf"], f["n_downsample"], f["n_blocks"], f.get("upsample", "transpose"))


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
