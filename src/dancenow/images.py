"""Images between NumPy and the networks: uint8 HWC frames, uint8 CHW items, float [-1,1] batches on a device."""

import numpy as np
import torch


def to_tensor(img):
    """uint8 HWC RGB -> uint8 CHW tensor. Items stay uint8 until `to_device`: a quarter of the bytes to read, collate
    and copy to a GPU, and no float work in DataLoader workers."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def to_device(batch, device):
    """A batch of items with its images (uint8) on `device` as float32 in [-1,1]; other entries (the face boxes,
    positions the host slices the crops at) stay where they are. On the CPU in NumPy: a small torch op would wake
    torch's thread pool, which costs a scheduler time slice per op on a busy machine (3 ms each, measured)."""
    out = {}
    for k, v in batch.items():
        if v.dtype != torch.uint8:
            out[k] = v
        elif device.type == "cpu":
            out[k] = torch.from_numpy(v.numpy().astype(np.float32) / np.float32(127.5) - np.float32(1))
        else:
            out[k] = v.to(device, non_blocking=True).float().div_(127.5).sub_(1)
    return out


def to_uint8(images):
    """float [B,3,H,W] in [-1,1] -> uint8 [B,H,W,3] NumPy frames."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
