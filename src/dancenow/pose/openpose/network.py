"""The CMU body-pose network (Cao et al. 2017, "Realtime Multi-Person Pose Estimation") in PyTorch, its weights
file, its input preprocessing and batched multi-scale inference on the device.

The network's state dict keys are the original Caffe layer names plus `.weight` / `.bias`, without any module prefix
(`conv1_1.weight` ... `Mconv7_stage6_L2.bias`, 184 tensors, 52,311,446 parameters), so the converted PyTorch weights
file that users already have (`body_pose_model.pth`) loads as it is, strictly.

Coordinates. All pixel coordinates here follow the half-pixel convention of cv2.resize and of F.interpolate with
align_corners=False: pixel (x, y) is the centre of column x, row y. With `meta` the `ScaleMeta` of `preprocess`:

    resized pixel  x_r = (x_o + 0.5) * meta.factor_x - 0.5        (y likewise with factor_y)
    original pixel x_o = (x_r + 0.5) / meta.factor_x - 0.5
    output cell j (column j of a [.., h, w] map at stride s = meta.stride) sits at resized pixel
                   x_r = (j + 0.5) * s - 0.5  (= 8 j + 3.5: the centre of the 8 input pixels it pools),
                   hence x_o = (j + 0.5) * s / meta.factor_x - 0.5;      row i likewise with y and factor_y.

Upsampling a map x s with bicubic interpolation (as the original code does) puts cell j exactly at that resized
pixel; `x_r / factor` is the same mapping to within half a pixel. `run_network` already returns the maps resized to
the original frames, so there pixel (x, y) of a map is pixel (x, y) of the frame.
"""

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import UserError
from ...io.weights import load_state_dict

WEIGHTS_KEY = "pose.openpose_weights"
WEIGHTS_FILE = "body_pose_model.pth"
N_PAF = 38  # 19 limbs x (x, y): branch L1
N_HEATMAP = 19  # 18 COCO keypoints + background: branch L2
BOX_SIZE = 368
STRIDE = 8
PAD_VALUE = 128
N_STAGES = 6

# the VGG-19 front: (name, out channels) of each 3x3 conv, "pool" a 2x2 stride-2 max pool
_FRONT = [("conv1_1", 64), ("conv1_2", 64), "pool", ("conv2_1", 128), ("conv2_2", 128), "pool",
          ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("conv3_4", 256), "pool",
          ("conv4_1", 512), ("conv4_2", 512), ("conv4_3_CPM", 256), ("conv4_4_CPM", 128)]
_FEATURES = 128
_BRANCH_OUT = {"L1": N_PAF, "L2": N_HEATMAP}


def _stage_convs(stage, branch):
    """(name, in channels, out channels, kernel) of one branch of one stage, in order; the last has no ReLU."""
    out = _BRANCH_OUT[branch]
    if stage == 1:
        return [(f"conv5_1_CPM_{branch}", _FEATURES, 128, 3), (f"conv5_2_CPM_{branch}", 128, 128, 3),
                (f"conv5_3_CPM_{branch}", 128, 128, 3), (f"conv5_4_CPM_{branch}", 128, 512, 1),
                (f"conv5_5_CPM_{branch}", 512, out, 1)]
    cat = N_PAF + N_HEATMAP + _FEATURES  # [L1 out, L2 out, front features] = 185
    return ([(f"Mconv1_stage{stage}_{branch}", cat, 128, 7)]
            + [(f"Mconv{k}_stage{stage}_{branch}", 128, 128, 7) for k in range(2, 6)]
            + [(f"Mconv6_stage{stage}_{branch}", 128, 128, 1), (f"Mconv7_stage{stage}_{branch}", 128, out, 1)])


class BodyPoseNetwork(nn.Module):
    """The 6-stage, 2-branch CMU body-pose network. forward(x) -> (pafs [N,38,h,w], heatmaps [N,19,h,w]) for an
    input [N,3,H,W] (preprocessed as `preprocess` does), h = H/8 and w = W/8 rounded down.

    Every conv is registered on the module itself under its Caffe layer name, so the state dict keys are exactly
    the weights file's keys. Every conv is followed by ReLU except the last of each branch of each stage.
    """

    def __init__(self):
        super().__init__()
        self._front = []  # conv names, "pool"
        in_ch = 3
        for item in _FRONT:
            if item == "pool":
                self._front.append("pool")
                continue
            name, out_ch = item
            self.add_module(name, nn.Conv2d(in_ch, out_ch, 3, padding=1))
            self._front.append(name)
            in_ch = out_ch
        self._stages = []  # per stage: (L1 conv names, L2 conv names)
        for stage in range(1, N_STAGES + 1):
            branches = []
            for branch in ("L1", "L2"):
                names = []
                for name, cin, cout, k in _stage_convs(stage, branch):
                    self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))
                    names.append(name)
                branches.append(names)
            self._stages.append(tuple(branches))

    def _branch(self, names, x):
        for name in names[:-1]:
            x = F.relu(getattr(self, name)(x), inplace=True)
        return getattr(self, names[-1])(x)  # the branch output: no ReLU

    def forward(self, x):
        for name in self._front:
            x = F.max_pool2d(x, 2, 2) if name == "pool" else F.relu(getattr(self, name)(x), inplace=True)
        features = x
        pafs = heatmaps = None
        for l1, l2 in self._stages:
            inp = features if pafs is None else torch.cat([pafs, heatmaps, features], 1)
            pafs, heatmaps = self._branch(l1, inp), self._branch(l2, inp)
        return pafs, heatmaps

    def expected_shapes(self):
        """{state dict key: torch.Size} of this module: what a weights file must hold."""
        return {k: v.shape for k, v in self.state_dict().items()}


def expected_shapes():
    """{key: torch.Size} of the network's state dict (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        return BodyPoseNetwork().expected_shapes()


def _expected_text(shapes):
    keys = list(shapes)
    return (f"the CMU body-pose network's converted PyTorch weights ({WEIGHTS_FILE}: {len(keys)} tensors, "
            f"keys {keys[0]} ... {keys[-1]})")


def load_network(path, device="cpu"):
    """The network with the weights of the state dict file `path`, on `device`, in eval mode and frozen.

    UserError naming `pose.openpose_weights`, the path and what was expected for no path, a missing or unreadable
    file, or a missing or misshapen key.
    """
    if path is None:
        raise UserError(f"pose.backend=openpose needs {WEIGHTS_KEY}=/path/to/{WEIGHTS_FILE}: the CMU body-pose "
                        f"network's weights converted to PyTorch (a state dict of 184 tensors, about 200 MB, e.g. "
                        f"the {WEIGHTS_FILE} of the pytorch-openpose port); it is not downloaded automatically")
    with torch.device("meta"):
        net = BodyPoseNetwork()
    shapes = net.expected_shapes()
    state = load_state_dict(path, WEIGHTS_KEY, _expected_text(shapes), shapes)
    # copy: the loader's tensors may be memory-mapped from the user's file
    state = {k: v.to(device=device, dtype=torch.float32, copy=True).contiguous() for k, v in state.items()}
    net.load_state_dict(state, strict=True, assign=True)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@dataclass(frozen=True)
class ScaleMeta:
    """How a batch was brought to the network (see the module docstring for the coordinate mapping).

    factor_x, factor_y: resized / original size along x and y (cv2.resize's scale on each axis: equal up to the
        rounding of the resized width); factor: the nominal one, resized height / original height (= factor_y).
    resized: (h, w) of the resized image, unpadded; padded: (h, w) of the network input (multiples of stride);
    original: (h, w) of the input frames; stride: the network's output stride; scale: the scale searched
    (resized height = round(box_size * scale)).
    """
    factor_x: float
    factor_y: float
    resized: tuple
    padded: tuple
    original: tuple
    stride: int
    scale: float = 1.0

    @property
    def factor(self):
        return self.factor_y

    @property
    def output(self):
        """(h, w) of the network's output maps."""
        return self.padded[0] // self.stride, self.padded[1] // self.stride

    def original_to_resized(self, x, y):
        return (x + 0.5) * self.factor_x - 0.5, (y + 0.5) * self.factor_y - 0.5

    def resized_to_original(self, x, y):
        return (x + 0.5) / self.factor_x - 0.5, (y + 0.5) / self.factor_y - 0.5

    def cell_to_resized(self, x, y):
        """Column x, row y (may be fractional) of an output map -> resized-image pixel."""
        return (x + 0.5) * self.stride - 0.5, (y + 0.5) * self.stride - 0.5

    def cell_to_original(self, x, y):
        """Column x, row y (may be fractional) of an output map -> original-frame pixel."""
        return self.resized_to_original(*self.cell_to_resized(x, y))


def _as_frames(frames):
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 RGB [N,H,W,3], got {frames.dtype} {frames.shape}")
    return frames


def preprocess(frames, scale=1.0, box_size=BOX_SIZE, stride=STRIDE, pad_value=PAD_VALUE, device="cpu"):
    """uint8 RGB frames [N,H,W,3] (one size) -> (float32 [N,3,Hp,Wp] on `device`, ScaleMeta).

    Each frame is resized with bicubic interpolation (cv2.INTER_CUBIC, as the original code) to height
    round(box_size * scale), width in proportion, turned to BGR, padded right and bottom with `pad_value` to
    multiples of `stride`, and mapped x -> x / 256 - 0.5.
    """
    frames = _as_frames(frames)
    n, h, w = frames.shape[:3]
    rh = max(1, round(box_size * scale))
    rw = max(1, round(w * rh / h))
    ph, pw = -(-rh // stride) * stride, -(-rw // stride) * stride
    batch = np.full((n, ph, pw, 3), pad_value, np.uint8)
    for i, frame in enumerate(frames):
        resized = frame if (rh, rw) == (h, w) else cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_CUBIC)
        batch[i, :rh, :rw] = resized[:, :, ::-1]  # RGB -> BGR
    x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().div_(256).sub_(0.5).contiguous()
    meta = ScaleMeta(factor_x=rw / w, factor_y=rh / h, resized=(rh, rw), padded=(ph, pw), original=(h, w),
                     stride=stride, scale=scale)
    return x, meta


def to_frame(maps, meta):
    """Network outputs [N,C,h,w] at meta.stride -> [N,C,H,W] at the original frame size, as the original code: x
    stride bicubic upsampling, the padding cropped, bicubic resize to the frame size (float32)."""
    maps = maps.float()
    maps = F.interpolate(maps, scale_factor=meta.stride, mode="bicubic", align_corners=False)
    maps = maps[:, :, :meta.resized[0], :meta.resized[1]]
    if tuple(meta.resized) != tuple(meta.original):
        maps = F.interpolate(maps, size=tuple(meta.original), mode="bicubic", align_corners=False)
    return maps


def run_network(net, frames, scales=(1.0,), batch_size=8, device=None, autocast=None, box_size=BOX_SIZE,
                stride=STRIDE, pad_value=PAD_VALUE):
    """(heatmaps [N,19,H,W], pafs [N,38,H,W]) of uint8 RGB frames [N,H,W,3], at the frames' size, float32 on the
    device: each scale's outputs brought to the frame size (`to_frame`), then averaged over the scales.

    Frames go through the network `batch_size` at a time, one forward pass per scale. `device`: where the net is
    (default: the device of its parameters). `autocast`: a context manager the forward runs under (e.g.
    torch.autocast("cuda", dtype=torch.bfloat16)); None runs it in float32.
    """
    frames = _as_frames(frames)
    if device is None:
        device = next(net.parameters()).device
    ctx = contextlib.nullcontext() if autocast is None else autocast
    n, h, w = frames.shape[:3]
    heatmaps = torch.zeros((n, N_HEATMAP, h, w), dtype=torch.float32, device=device)
    pafs = torch.zeros((n, N_PAF, h, w), dtype=torch.float32, device=device)
    for start in range(0, n, batch_size):
        chunk = slice(start, min(n, start + batch_size))
        for scale in scales:
            x, meta = preprocess(frames[chunk], scale, box_size, stride, pad_value, device)
            with torch.no_grad(), ctx:
                paf, heat = net(x)
            maps = to_frame(torch.cat([heat.float(), paf.float()], 1), meta)  # one interpolation for both
            heatmaps[chunk] += maps[:, :N_HEATMAP]
            pafs[chunk] += maps[:, N_HEATMAP:]
    if len(scales) > 1:
        heatmaps /= len(scales)
        pafs /= len(scales)
    return heatmaps, pafs
