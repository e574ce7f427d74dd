"""pix2pixHD's GlobalGenerator: label map [B,3,H,W] in [-1,1] -> image [B,3,H,W] in [-1,1].

reflection pad + 7x7 conv, `n_downsample` stride-2 3x3 convs (channels double each time), `n_blocks` residual
blocks at the bottleneck, as many upsamplings back up, reflection pad + 7x7 conv + tanh. InstanceNorm without
affine parameters and ReLU everywhere, no dropout: the same layers as pix2pixHD's networks.py.

Upsampling (`upsample`): "transpose", pix2pixHD's stride-2 transposed 3x3 convolutions, whose uneven overlap paints a
checkerboard; or "resize", nearest-neighbour x2 then a 3x3 convolution (Odena et al. 2016, "Deconvolution and
Checkerboard Artifacts"), which has none (computed at the input's size: ResizeConv2d).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        # the two placeholders stand where nn.Upsample and nn.ReflectionPad2d stood, so that the state dicts of
        # checkpoints made before ResizeConv2d keep their layer indices
        return [nn.Identity(), nn.Identity(), ResizeConv2d(ch_in, ch_out)]
    raise ValueError(f"upsampling must be one of {UPSAMPLING}, not {mode!r}")


def replicate_pad1(x):
    """x [B,C,H,W] with its first and last rows and columns repeated once. Made of concatenations, whose backward
    is deterministic on GPUs (replication_pad2d's is not) and compiles (torch 2.14's inductor fails on
    replication_pad2d's backward)."""
    x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
    return torch.cat([x[..., :1], x, x[..., -1:]], dim=3)


class ResizeConv2d(nn.Conv2d):
    """conv3x3(reflection_pad1(nearest_upsample_x2(x))), its weights those of that 3x3 convolution, computed without
    making the upsampled image: each of the four output pixels of an input pixel reads a 2x2 neighbourhood of the
    input, with the 3x3 taps that fall on the same input pixel summed. One convolution with four times the output
    channels and 2x2 kernels (4/9 of the multiply-adds) on the input padded by replication (which is what reflecting
    the upsampled image by one pixel gives), then the four phases interleaved. Equal to the upsample-pad-conv
    within float rounding, values and gradients."""

    PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) of an output pixel within its 2x2 block

    def __init__(self, ch_in, ch_out):
        super().__init__(ch_in, ch_out, 3)

    def phase_weights(self):
        """[4 * out, in, 2, 2]: phase (a, b)'s kernel on the padded input's rows a+i, a+i+1 and columns b+j, b+j+1."""
        w = self.weight
        rows = (torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),  # a = 0: input rows i-1, i
                torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2))  # a = 1: input rows i, i+1
        return torch.cat([torch.stack([r[..., 0], r[..., 1] + r[..., 2]], 3) if b == 0 else
                          torch.stack([r[..., 0] + r[..., 1], r[..., 2]], 3) for r in rows for b in (0, 1)])

    def forward(self, x):
        y = F.conv2d(replicate_pad1(x), self.phase_weights(), self.bias.repeat(4))
        return Interleave.apply(y, self.out_channels)


class Interleave(torch.autograd.Function):
    """ResizeConv2d's phases [N, 4C, H+1, W+1] -> the image [N, C, 2H, 2W] (phase (a, b)'s block, rows a..a+H-1 and
    columns b..b+W-1, at the output's pixels (2i+a, 2j+b)), in the input's memory format. Its backward writes each
    phase's gradient once into one tensor (autograd's own, through four slices, fills and sums four tensors of the
    phases' size: on this project's 2-core CPU the layer's forward and backward take 11-26 % less time so)."""

    @staticmethod
    def forward(ctx, y, c):
        n, _, h1, w1 = y.shape
        layout = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous() \
            else torch.contiguous_format
        out = torch.empty((n, c, 2 * (h1 - 1), 2 * (w1 - 1)), dtype=y.dtype, device=y.device, memory_format=layout)
        for p, (a, b) in enumerate(ResizeConv2d.PHASES):
            out[:, :, a::2, b::2] = y[:, p * c:(p + 1) * c, a:a + h1 - 1, b:b + w1 - 1]
        ctx.c, ctx.shape = c, y.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        c, (_, _, h1, w1) = ctx.c, ctx.shape
        grad_y = grad.new_zeros(ctx.shape)
        for p, (a, b) in enumerate(ResizeConv2d.PHASES):
            grad_y[:, p * c:(p + 1) * c, a:a + h1 - 1, b:b + w1 - 1] = grad[:, :, a::2, b::2]
        return grad_y, None


class NarrowConv2d(nn.Conv2d):
    """A convolution with few output channels (an image's 3, a patch map's 1), computed on a CPU in the channels-last
    layout: in the default layout oneDNN pads the output channels to its vector block (8 or 16) and reorders the
    input and output, which made the generator's 7x7 output layer 2-3x slower. Same values within float rounding;
    other devices and channels-last inputs run the plain convolution."""

    def forward(self, x):
        if x.device.type != "cpu" or x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x)
        last = torch.channels_last
        return F.conv2d(x.contiguous(memory_format=last), self.weight.contiguous(memory_format=last), self.bias,
                        self.stride, self.padding, self.dilation, self.groups).contiguous()


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
        layers += [nn.ReflectionPad2d(3), NarrowConv2d(ngf, output_nc, 7), nn.Tanh()]
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
                up += [nn.ReflectionPad2d(3), NarrowConv2d(ngf, output_nc, 7), nn.Tanh()]
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
