"""The motion representation of the choreography network: BODY_25 pose sequences <-> per-frame feature vectors.

A sequence of poses [F, 25, 3] (x, y, confidence; y down) becomes features [F, D] from the keypoints `joints`
(default `JOINTS`, the 15 body keypoints that both OpenPose videos and BVH motion capture have: no face, feet or
hands):

* columns 0, 1: the root's (MidHip's) velocity, (dx, dy) from the previous frame (frame 0: (0, 0));
* then, for every other joint in `joints` order, its (x, y) relative to the root in the same frame;

everything divided by the sequence's body-size `scale`, the median neck-to-midhip length over its frames. So the
features do not depend on where the dancer stands (only velocities and root-relative offsets) nor on how big they
are in the image; D = 2 + 2 (len(joints) - 1) = 30 for `JOINTS`.

`decode` inverts it: the root is the cumulative sum of its velocities from `start`, the other joints are offsets
from it. Keypoints a frame misses (confidence 0) are linearly interpolated in time by `encode` first.

The network works on features normalised per column (`fit_normalization`, `normalize`, `denormalize`); the mean and
standard deviation are stored with the model (buffers of `model.ChoreoNet`).
"""

import numpy as np

from ..keypoints import B

JOINTS = (B["Nose"], B["Neck"], B["RShoulder"], B["RElbow"], B["RWrist"], B["LShoulder"], B["LElbow"], B["LWrist"],
          B["MidHip"], B["RHip"], B["RKnee"], B["RAnkle"], B["LHip"], B["LKnee"], B["LAnkle"])
ROOT = B["MidHip"]


def _check_joints(joints):
    joints = tuple(int(j) for j in joints)
    if ROOT not in joints or B["Neck"] not in joints:
        raise ValueError("joints must include MidHip (the root) and Neck (the body-size scale)")
    if len(set(joints)) != len(joints):
        raise ValueError(f"repeated keypoints in joints {joints}")
    return joints


def feature_dim(joints=JOINTS):
    """D, the number of features per frame for `joints`."""
    return 2 * len(_check_joints(joints))


def fill_missing(body25, joints=JOINTS):
    """The (x, y) of `joints` [F, J, 2] (float64), each keypoint's frames with confidence 0 filled by linear
    interpolation between its confident frames (held constant before the first and after the last). A keypoint
    never confident in the sequence is a ValueError."""
    body25 = np.asarray(body25, dtype=np.float64)
    if body25.ndim != 3 or body25.shape[1:] != (25, 3):
        raise ValueError(f"expected poses [F, 25, 3], got {body25.shape}")
    xy = body25[:, joints, :2].copy()
    seen = body25[:, joints, 2] > 0
    frames = np.arange(len(body25))
    for j in range(len(joints)):
        ok = seen[:, j]
        if not ok.any():
            raise ValueError(f"keypoint {joints[j]} is missing in every frame")
        if not ok.all():
            for c in range(2):
                xy[:, j, c] = np.interp(frames, frames[ok], xy[ok, j, c])
    return xy


def body_scale(body25, joints=JOINTS):
    """The median neck-to-midhip length of a pose sequence [F, 25, 3]: the unit of the features."""
    joints = _check_joints(joints)
    xy = fill_missing(body25, joints)
    torso = np.linalg.norm(xy[:, joints.index(B["Neck"])] - xy[:, joints.index(ROOT)], axis=-1)
    scale = float(np.median(torso))
    if not scale > 0:
        raise ValueError("the neck-to-midhip length is 0: no body size to scale by")
    return scale


def encode(body25, joints=JOINTS, scale=None):
    """Poses [F, 25, 3] -> (features [F, D] float32, scale): root velocity and root-relative joints over `scale`
    (default: `body_scale` of this sequence). See the module docstring for the layout."""
    joints = _check_joints(joints)
    xy = fill_missing(body25, joints)
    if scale is None:
        scale = body_scale(body25, joints)
    r = joints.index(ROOT)
    root = xy[:, r]
    vel = np.zeros_like(root)
    vel[1:] = root[1:] - root[:-1]
    rel = np.delete(xy, r, axis=1) - root[:, None]
    feats = np.concatenate([vel, rel.reshape(len(xy), -1)], axis=1) / scale
    return feats.astype(np.float32), float(scale)


def decode(features, scale=1.0, start=(0.0, 0.0), joints=JOINTS):
    """Features [F, D] -> poses [F, 25, 3] (float32): the root starts at `start` (frame 0; the first velocity is
    ignored) and integrates the velocities; the joints are offsets from it; everything times `scale`. Confidence is 1
    for `joints`, 0 (at (0, 0)) for the other keypoints. With scale=1 and start=(0, 0) the poses are in feature
    units (neck-to-midhip lengths)."""
    joints = _check_joints(joints)
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 2 * len(joints):
        raise ValueError(f"expected features [F, {2 * len(joints)}], got {f.shape}")
    vel = f[:, :2].copy()
    vel[:1] = 0.0
    root = np.cumsum(vel, axis=0) * scale + np.asarray(start, dtype=np.float64)
    rel = f[:, 2:].reshape(len(f), len(joints) - 1, 2) * scale
    r = joints.index(ROOT)
    xy = np.insert(rel, r, 0.0, axis=1) + root[:, None]
    out = np.zeros((len(f), 25, 3), dtype=np.float32)
    out[:, joints, :2] = xy
    out[:, joints, 2] = 1.0
    return out


def windows(features, length, stride=1):
    """Every `length`-frame window of features [F, D] starting at 0, stride, 2 stride, ...: [N, length, D] (a copy);
    N = 0 when the sequence is shorter than `length`."""
    f = np.asarray(features)
    if length < 1 or stride < 1:
        raise ValueError("length and stride must be >= 1")
    if len(f) < length:
        return np.zeros((0, length) + f.shape[1:], dtype=f.dtype)
    view = np.lib.stride_tricks.sliding_window_view(f, length, axis=0)[::stride]  # [N, D, length]
    return np.ascontiguousarray(np.moveaxis(view, -1, 1))


def fit_normalization(sequences, min_std=1e-3):
    """Per-feature (mean [D], std [D]) over all frames of the feature sequences; a std below `min_std` (a column
    that barely moves) is raised to it so that normalising does not blow up noise."""
    allf = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences], axis=0)
    mean = allf.mean(axis=0)
    std = np.maximum(allf.std(axis=0), min_std)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(features, mean, std):
    """(features - mean) / std."""
    return ((np.asarray(features) - mean) / std).astype(np.float32)


def denormalize(features, mean, std):
    """features * std + mean: the inverse of `normalize`."""
    return (np.asarray(features) * std + mean).astype(np.float32)
