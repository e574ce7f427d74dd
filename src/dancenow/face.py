"""The face crop of EDN's face GAN: a fixed-size square around the face keypoints, cut out of label maps and images
and the face generator's residual added back at the same pixels."""

import numpy as np
import torch

from .keypoints import HEAD_KEYPOINTS, MIN_CONFIDENCE


def face_boxes(poses, size, height, width):
    """Top-left corners (y, x) [N,2] int64 of a size x size crop centred on each frame's face, and a bool [N] of
    the frames that have one. The centre is the mean of the confident face keypoints, or of the confident head
    keypoints of the body (nose, eyes, ears) when the face was not found; the box is shifted to lie inside the frame.
    """
    if size > min(height, width):
        raise ValueError(f"a face crop of {size} px does not fit in {width}x{height} frames")
    centres, valid = np.zeros((len(poses["body"]), 2)), np.zeros(len(poses["body"]), bool)
    for kps in (np.asarray(poses["body"])[:, HEAD_KEYPOINTS], np.asarray(poses["face"])):
        ok = kps[:, :, 2] >= MIN_CONFIDENCE
        n = ok.sum(axis=1)
        found = n > 0
        centres[found] = (kps[found, :, :2] * ok[found, :, None]).sum(axis=1) / n[found, None]  # x, y
        valid |= found  # the face (second) overrides the head where both are found
    top = np.clip(np.round(centres[:, 1] - size / 2), 0, height - size)
    left = np.clip(np.round(centres[:, 0] - size / 2), 0, width - size)
    return np.stack([top, left], axis=1).astype(np.int64), valid


def corners(boxes):
    """[(top, left)] of boxes [B,2] kept on the host (NumPy refuses a GPU tensor: reading one would make each
    crop wait for the GPU)."""
    return boxes.numpy().tolist()


def crop(images, boxes, size):
    """images [B,C,H,W], boxes [B,2] (top, left) on the host -> the crops [B,C,size,size]."""
    return torch.stack([img[:, y:y + size, x:x + size] for img, (y, x) in zip(images, corners(boxes))])


def add_at(images, residual, boxes):
    """images with residual [B,C,s,s] added at boxes [B,2] (top, left) on the host; the other pixels are unchanged."""
    size = residual.shape[-1]
    out = images.clone()
    for img, res, (y, x) in zip(out, residual, corners(boxes)):
        img[:, y:y + size, x:x + size] += res
    return out
