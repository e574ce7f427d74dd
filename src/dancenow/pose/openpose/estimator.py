"""The OpenPose backend of the pose stage: batches of frames through the body network on the GPU (or CPU), decoding
on the same device, then the main dancer tracked across the whole video and mapped to BODY_25. Face and hands are
not estimated (zeros).

Detection is per frame, so shards detect independently and the tracking runs once over the merged video: any split
gives exactly the keypoints of one pass.
"""

import numpy as np
import torch

from ...device import amp_context, task_device
from ...io.poses import POSE_PARTS
from ...progress import Bar
from .decode import decode
from .network import load_network, run_network
from .track import coco18_to_body25, track_main_dancer


def estimate(frames, c, start, stop):
    """The raw result of frames[start:stop]: {"people": every person per frame}."""
    return {"people": detect_people(frames, c, start, stop)}


def merge(raws, width, height):
    """The main dancer tracked over the whole video of consecutive ranges' people."""
    return main_dancer(stack_people([r["people"] for r in raws]), width, height)


def detect_people(frames, c, start=0, stop=None):
    """Every person in frames[start:stop]: float32 [n, P, 18, 3] (COCO-18, frame pixels; P the most people in one
    frame, absent people all zeros)."""
    stop = len(frames) if stop is None else stop
    device = task_device()
    autocast, _ = amp_context(c["amp"], device, "pose.amp")
    net = load_network(c["openpose_weights"], device)
    batch = int(c["batch_size"])
    people = []
    with torch.inference_mode(), Bar(total=stop - start, desc="pose", unit="frame", leave=False) as bar:
        for a in range(start, stop, batch):
            images = np.asarray(frames[a:min(stop, a + batch)])
            heatmaps, pafs = run_network(net, images, scales=tuple(c["scales"]), batch_size=batch, device=device,
                                         autocast=autocast, box_size=int(c["box_size"]))
            people += decode(heatmaps, pafs)
            bar.update(len(images))
    return stack_people(people)


def stack_people(people):
    """A list of [P_i, 18, 3] (or of [n_i, P_i, 18, 3] blocks) -> one zero-padded [n, P, 18, 3] array."""
    blocks = [p[None] if p.ndim == 3 else p for p in people]
    most = max([b.shape[1] for b in blocks], default=0)
    return np.concatenate([np.pad(b, ((0, 0), (0, most - b.shape[1]), (0, 0), (0, 0))) for b in blocks]) \
        if blocks else np.zeros((0, 0, 18, 3), np.float32)


def main_dancer(people, width, height):
    """The pose stage's keypoint sets of the tracked main dancer: body BODY_25 [N,25,3], face and hands zeros."""
    found = [p[p[:, :, 2].max(axis=1) > 0] if p.size else p for p in people]
    main, _ = track_main_dancer(found, image_size=(width, height))
    out = {part: np.zeros((len(people), n, 3), np.float32) for part, n in POSE_PARTS.items()}
    out["body"] = coco18_to_body25(main).astype(np.float32)
    return out
