"""Backend-neutral pose estimation: the table of backends (mediapipe, openpose), estimating a range of frames,
joining the ranges of a video into its keypoint sets, and the post-processing every backend shares.

A backend module has `estimate(frames, c, start, stop)`: its raw result (a dict of arrays that a shard can save)
for frames[start:stop], and `merge(raws, width, height)`: the raw results of consecutive ranges, in order, as the
video's keypoint sets (POSE_PARTS: float32 [N,K,3]). Any split of a video on `pose.chunk_frames` boundaries gives
exactly the keypoints of one pass over it.
"""

import importlib

from ..io.poses import POSE_PARTS
from ..keypoints import has_person
from .gaps import fill_gaps

BACKENDS = {"mediapipe": "dancenow.pose.mediapipe_holistic", "openpose": "dancenow.pose.openpose.estimator"}


def backend(c):
    """The backend module of pose config `c` (imported when first used: mediapipe and torch load slowly)."""
    return importlib.import_module(BACKENDS[c["backend"]])


def estimate(frames, c, start=0, stop=None):
    """The backend's raw result for frames[start:stop]."""
    return backend(c).estimate(frames, c, start, len(frames) if stop is None else stop)


def merge(raws, c, width, height):
    """The raw results of consecutive ranges as one video's keypoint sets."""
    return backend(c).merge(raws, width, height)


def estimate_video(frames, c, width, height):
    """Keypoint sets of every frame of `frames` (uint8 [N,H,W,3]) in one pass."""
    return merge([estimate(frames, c)], c, width, height)


def shard_bounds(n_frames, chunk, shards):
    """[start, stop) of every shard: whole chunks of `chunk` frames, dealt out as evenly as they go."""
    chunks = -(-n_frames // chunk)
    cuts = [min(n_frames, s * chunks // shards * chunk) for s in range(shards + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def postprocess(keypoints, max_gap):
    """Mark the frames with a person (`detected`), fill short gaps of every keypoint set (`filled`: frames whose
    body was interpolated)."""
    poses = {"detected": has_person(keypoints["body"])}
    for part in POSE_PARTS:
        present = keypoints[part][:, :, 2].max(axis=1) > 0
        poses[part], filled = fill_gaps(keypoints[part], present, max_gap)
        if part == "body":
            poses["filled"] = filled
    return poses

