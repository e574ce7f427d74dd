"""pix2pixHD's multi-scale PatchGAN discriminator, conditioned on the label map: input = concat(label, image).

Each of the `num_d` discriminators sees the pair at half the resolution of the previous one (3x3 average pooling,
stride 2). Every discriminator returns the outputs of all its stages: the last one is the patch map of real/fake
scores, the others are the intermediate features that the feature-matching loss compares.
"""

import math

import torch
import torch.nn as nn

from .generator import NarrowConv2d, init_weights, norm_layer


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=6, ndf=64, n_layers=3):
        super().__init__()
        kw, padw = 4, math.ceil((4 - 1) / 2)
        stages = [[nn.Conv2d(input_nc, ndf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]]
        nf = ndf
        for _ in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            stages.append([nn.Conv2d(prev, nf, kw, stride=2, padding=padw), norm_layer(nf), nn.LeakyReLU(0.2, True)])
        prev, nf = nf, min(nf * 2, 512)
        stages.append([nn.Conv2d(prev, nf, kw, stride=1, padding=padw), norm_layer(nf), nn.LeakyReLU(0.2, True)])
        stages.append([NarrowConv2d(nf, 1, kw, stride=1, padding=padw)])  # LSGAN: no sigmoid
        self.stages = nn.ModuleList(nn.Sequential(*s) for s in stages)
        init_weights(self)

    def forward(self, x):
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc=6, ndf=64, n_layers=3, num_d=2):
        super().__init__()
        self.nets = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers) for _ in range(num_d))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, label, image):
        """Returns num_d lists (full resolution first) of n_layers + 2 feature maps, the last one the scores."""
        x = torch.cat([label, image], dim=1)
        out = []
        for i, net in enumerate(self.nets):
            if i:
                x = self.downsample(x)
            out.append(net(x))
        return out
