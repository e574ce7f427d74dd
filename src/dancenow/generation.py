"""Generating frames from poses with a trained Performer: label maps in, uint8 frames out, frame after frame for a
temporally smoothed generator (each output fed into the next; a frame without a person restarts the sequence, as
the first frame does), in batches otherwise; with a face GAN its residual is added at the face.

A sequence's first frame is generated twice: from no previous frame (zeros), then from that first output as its
previous frame. The generator meets a zero previous frame only as the first of a training pair, and what it paints
from it can be degenerate (a black block, a striped band); every later frame has a painted previous frame."""

import contextlib

import numpy as np
import torch

from .face import face_boxes
from .images import to_device, to_uint8
from .keypoints import has_person
from .labels import draw_labels


def label_batch(poses, indices, height, width, device="cpu", limb_width=0.0):
    """Label maps of frames `indices` as the generator's input: float [N,3,H,W] in [-1,1] on `device`."""
    labels = np.stack([draw_labels(poses, i, height, width, limb_width) for i in indices])
    return to_device({"label": torch.from_numpy(labels).permute(0, 3, 1, 2)}, torch.device(device))["label"]


@torch.no_grad()
def generate(performer, poses, indices, height, width, device, batch_size=1, autocast=None):
    """Yield uint8 HWC frames generated from the poses of frames `indices` (consecutive for temporal smoothing):
    in batches frame by frame, or one frame after the other with temporal smoothing."""
    boxes = has_face = None
    if performer.face is not None:
        boxes, has_face = (torch.from_numpy(x) for x in face_boxes(poses, performer.face_cfg["crop"], height, width))
    person = has_person(poses["body"])
    limb_width = performer.generator_cfg.get("limb_width", 0.0)  # checkpoints from before the choice: OpenPose's
    step = 1 if performer.temporal else batch_size
    prev = None
    indices = list(indices)
    for start in range(0, len(indices), step):
        idx = indices[start:start + step]
        if performer.temporal and not person[idx[0]]:
            prev = None
        labels = label_batch(poses, idx, height, width, device, limb_width)
        with autocast or contextlib.nullcontext():
            if performer.temporal and prev is None:  # a sequence starts: its own output as the previous frame
                _, prev = performer(labels, None)
            final, prev = performer(labels, prev, None if boxes is None else boxes[idx],
                                    None if boxes is None else has_face[idx])
        yield from to_uint8(final.float())
