"""LPIPS (Zhang et al. 2018, "lin" version 0.1, VGG-16 backbone), from two local weight files.

Used by the evaluate stage only when both files are configured:
  evaluate.lpips_backbone: torchvision's vgg16 state dict (vgg16-397923af.pth);
  evaluate.lpips_weights: the linear layers of richzhang/PerceptualSimilarity (lpips/weights/v0.1/vgg.pth).
"""

import logging

import numpy as np
import torch
import torch.nn as nn

from .images import to_device
from .io.weights import load_state_dict, vgg_features

log = logging.getLogger(__name__)

BACKBONE_KEY = "evaluate.lpips_backbone"
BACKBONE_FILE = "vgg16-397923af.pth"
BACKBONE_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
LIN_KEY = "evaluate.lpips_weights"
LIN_FILE = "vgg.pth"
LIN_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
# torchvision's vgg16 `features`: output channels of each 3x3 conv, "M" a 2x2 max pool
VGG16_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# LPIPS's slices of `features`, ending at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, and their channels
LPIPS_SLICES = [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)]
LPIPS_CHANNELS = [64, 128, 256, 512, 512]
# LPIPS's ScalingLayer: inputs in [-1,1] become (x - shift) / scale
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def vgg16_features():
    """torchvision's vgg16().features up to relu5_3 (index 29), same module indices, so its state dict loads."""
    return vgg_features(VGG16_LAYOUT, LPIPS_SLICES[-1][1])


def lin_shapes():
    """The keys and shapes of the official v0.1 linear layers file: lin{k}.model.1.weight, [1,C,1,1]."""
    return {f"lin{k}.model.1.weight": torch.Size([1, c, 1, 1]) for k, c in enumerate(LPIPS_CHANNELS)}


def backbone_shapes():
    """The keys and shapes that LPIPS reads from torchvision's vgg16 state dict: features.N.weight/bias."""
    return {f"features.{k}": v.shape for k, v in vgg16_features().state_dict().items()}


def _unit_normalize(x):
    """x divided by its Euclidean norm along the channels (dim 1), as LPIPS's normalize_tensor."""
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + EPS)


class LPIPS(nn.Module):
    """The learned perceptual distance LPIPS v0.1 (VGG-16, "lin"): 0 for identical images, larger is less similar.

    forward(a, b): float tensors [N,3,H,W] in [-1,1] (see images_to_tensor) -> a tensor [N], one distance per pair.
    Per layer relu1_2 .. relu5_3: unit-normalize the features along channels, square their difference, weight the
    channels with the layer's 1x1 "lin" convolution, average over pixels; the five layers are summed.
    Frozen and always in eval mode.
    """

    def __init__(self, lin_path, backbone_path):
        super().__init__()
        features = vgg16_features()
        backbone = load_state_dict(backbone_path, BACKBONE_KEY,
                                    f"torchvision's vgg16 state dict ({BACKBONE_FILE}, from {BACKBONE_URL})",
                                    backbone_shapes())
        features.load_state_dict({k[len("features."):]: v for k, v in backbone.items()})
        lins = load_state_dict(lin_path, LIN_KEY, f"the LPIPS v0.1 VGG linear layers ({LIN_FILE}, from {LIN_URL})",
                                lin_shapes())
        self.slices = nn.ModuleList(features[a:b] for a, b in LPIPS_SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in LPIPS_CHANNELS)
        for k, lin in enumerate(self.lins):
            lin.weight.data.copy_(lins[f"lin{k}.model.1.weight"])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode=True):
        return super().train(False)  # frozen: always in eval mode

    def forward(self, a, b):
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(f"expected two image batches [N,3,H,W] of the same shape, got {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")
        x, y = (a - self.shift) / self.scale, (b - self.shift) / self.scale
        total = 0.0
        for s, lin in zip(self.slices, self.lins):
            x, y = s(x), s(y)
            d = (_unit_normalize(x) - _unit_normalize(y)) ** 2
            total = total + lin(d).mean(dim=(1, 2, 3))
        return total


def images_to_tensor(images, device=None):
    """uint8 images [N,H,W,3] (or one [H,W,3]) as the float tensor [N,3,H,W] in [-1,1] that LPIPS takes."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    batch = {"x": torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)}
    return to_device(batch, torch.device(device or "cpu"))["x"]


def load_lpips(lin_path, backbone_path):
    """The LPIPS module for `evaluate.lpips_weights` and `evaluate.lpips_backbone`, or None if either is null.

    None comes with one warning that says which two files to download and which keys to set.
    """
    if lin_path is None or backbone_path is None:
        unset = " and ".join(k for k, p in ((LIN_KEY, lin_path), (BACKBONE_KEY, backbone_path)) if p is None)
        log.warning("LPIPS is OFF: %s %s null. To enable it, download %s (%s) and %s (%s), and set %s=/path/to/%s "
                    "and %s=/path/to/%s", unset, "is" if " and " not in unset else "are", LIN_FILE, LIN_URL,
                    BACKBONE_FILE, BACKBONE_URL, LIN_KEY, LIN_FILE, BACKBONE_KEY, BACKBONE_FILE)
        return None
    return LPIPS(lin_path, backbone_path)
