"""pix2pixHD's GlobalGenerator: label map [B,3,H,W] in [-1,1] -> image [B,3,H,W] in [-1,1].

reflection pad + 7x7 conv, `n_downsample` stride-2 3x3 convs (channels double each time), `n_blocks` residual
blocks at the bottleneck, as many upsamplings back up, reflection pad + 7x7 conv + tanh. InstanceNorm without
affine parameters and ReLU everywhere, no dropout: the same layers as pix2pixHD's networks.py.

Upsampling (`upsample`): "transpose", pix2pixHD's stride-2 transposed 3x3 convolutions, whose uneven overlap paints a
checkerboard; or "resize", nearest-neighbour x2 then a 3x3 convolution (Odena et al. 2016, "Deconvolution and
Checkerboard Artifacts"), which has none.
"""

import torch.nn as nn


def norm_layer(channels):
    return nn.InstanceNorm2d(channels, affine=False)


def init_weights(module):
    """pix2pixHD's initialization: every (transposed) convolution's weights ~ N(0, 0.02), biases as PyTorch's."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)


UPSAMPLING = ("transpose", "resize")


def upsampling(ch_in, ch_out, mode):
    """The layers that double the size and map ch_in to ch_out channels (before the norm and ReLU)."""
    if mode == "transpose":
        return [nn.ConvTranspose2d(ch_in, ch_out, 3, stride=2, padding=1, output_padding=1)]
    if mode == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(ch_in, ch_out, 3)]
    raise ValueError(f"upsampling must be one of {UPSAMPLING}, not {mode!r}")


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim))

    def forward(self, x):
        return x + self.block(x)


class GlobalGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_downsample=4, n_blocks=9, upsample="transpose"):
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
            layers += [*upsampling(ch, ch // 2, upsample), norm_layer(ch // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    @property
    def size_multiple(self):
        """Height and width must be multiples of this for the output to match the input's size."""
        return 2 ** self.n_downsample

    def forward(self, label):
        return self.model(label)


class LocalEnhancer(nn.Module):
    """pix2pixHD's coarse-to-fine generator: a global generator (ngf * 2**n_local_enhancers filters) sees the label
    map at 1/2**n_local_enhancers resolution; each local enhancer adds detail at twice the previous resolution.

    The global part is a GlobalGenerator minus its output head (its last 3 layers), under `global_trunk`: load the
    weights of a GlobalGenerator trained at the coarse resolution with `load_global` (coarse-to-fine training).
    """

    def __init__(self, input_nc=3, output_nc=3, ngf=32, n_downsample_global=4, n_blocks_global=9,
                 n_local_enhancers=1, n_blocks_local=3, upsample="transpose"):
        super().__init__()
        self.n_downsample, self.n_local_enhancers = n_downsample_global, n_local_enhancers
        coarse = GlobalGenerator(input_nc, output_nc, ngf * 2 ** n_local_enhancers, n_downsample_global,
                                 n_blocks_global, upsample)
        self.global_trunk = nn.Sequential(*list(coarse.model)[:-3])
        self.locals = nn.ModuleList()
        for n in range(1, n_local_enhancers + 1):
            ch = ngf * 2 ** (n_local_enhancers - n)
            down = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ch, 7), norm_layer(ch), nn.ReLU(True),
                    nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), norm_layer(ch * 2), nn.ReLU(True)]
            up = [ResnetBlock(ch * 2) for _ in range(n_blocks_local)]
            up += [*upsampling(ch * 2, ch, upsample), norm_layer(ch), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            self.locals.append(nn.ModuleDict({"down": nn.Sequential(*down), "up": nn.Sequential(*up)}))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        init_weights(self)

    @property
    def size_multiple(self):
        return 2 ** (self.n_downsample + self.n_local_enhancers)

    def load_global(self, coarse):
        """Take the weights of a GlobalGenerator (trained at the coarse resolution) into the global trunk."""
        trunk = {k[len("model."):]: v for k, v in coarse.state_dict().items()
                 if int(k.split(".")[1]) < len(self.global_trunk)}
        self.global_trunk.load_state_dict(trunk)

    def forward(self, label):
        pyramid = [label]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.global_trunk(pyramid[-1])
        for n, local in enumerate(self.locals, start=1):
            out = local["up"](local["down"](pyramid[self.n_local_enhancers - n]) + out)
        return out
