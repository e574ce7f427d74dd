"""pix2pixHD's GlobalGenerator: label map [B,3,H,W] in [-1,1] -> image [B,3,H,W] in [-1,1].

reflection pad + 7x7 conv, `n_downsample` stride-2 3x3 convs (channels double each time), `n_blocks` residual
blocks at the bottleneck, as many transposed convs back up, reflection pad + 7x7 conv + tanh. InstanceNorm without
affine parameters and ReLU everywhere, no dropout: the same layers as pix2pixHD's networks.py.
"""

import torch.nn as nn


def norm_layer(channels):
    return nn.InstanceNorm2d(channels, affine=False)


def init_weights(module):
    """pix2pixHD's initialization: every (transposed) convolution's weights ~ N(0, 0.02), biases as PyTorch's."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim))

    def forward(self, x):
        return x + self.block(x)


class GlobalGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_downsample=4, n_blocks=9):
        super().__init__()
        self.n_downsample = n_downsample
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(ngf), nn.ReLU(True)]
        for i in range(n_downsample):
            ch = ngf * 2 ** i
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), norm_layer(ch * 2), nn.ReLU(True)]
        ch = ngf * 2 ** n_downsample
        layers += [ResnetBlock(ch) for _ in range(n_blocks)]
        for i in range(n_downsample):
            ch = ngf * 2 ** (n_downsample - i)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                       norm_layer(ch // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    @property
    def size_multiple(self):
        """Height and width must be multiples of this for the output to match the input's size."""
        return 2 ** self.n_downsample

    def forward(self, label):
        return self.model(label)
