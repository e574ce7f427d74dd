"""poses.h5: BODY_25 body, face-70 and hand-21 keypoints per frame, its writer and its one validating reader."""

import numpy as np

from ..errors import UserError
from . import h5

POSE_PARTS = {"body": 25, "face": 70, "left_hand": 21, "right_hand": 21}
ATTRS = ("fps", "height", "width")


def write_poses(f, poses, meta):
    """poses: dict part -> float32 [N,K,3] (x, y, confidence); plus bool [N] 'detected' and 'filled'."""
    for part, k in POSE_PARTS.items():
        arr = np.asarray(poses[part], dtype=np.float32)
        assert arr.ndim == 3 and arr.shape[1:] == (k, 3), (part, arr.shape)
        h5.dataset(f, part, arr)
    for flag in ("detected", "filled"):
        if flag in poses:
            h5.dataset(f, flag, np.asarray(poses[flag], dtype=bool))
    for k in ATTRS:
        f.attrs[k] = meta[k]


def read_poses(path, kind="poses"):
    """A poses.h5 in memory: dict of arrays plus 'attrs'. A file that lacks a keypoint set, has one of the wrong
    shape, no frames, or lacks the fps and frame size attributes is a UserError that names it."""
    with h5.open_input(path, kind) as f:
        out = {k: f[k][()] for k in f.keys()}
        out["attrs"] = dict(f.attrs)
    n = len(out["body"]) if "body" in out else 0
    for part, k in POSE_PARTS.items():
        if part not in out:
            raise UserError(f"{kind} file {path} has no '{part}' keypoints: is it a poses.h5 of `dancenow pose`?")
        if out[part].ndim != 3 or out[part].shape[1:] != (k, 3) or len(out[part]) != n:
            raise UserError(f"{kind} file {path}: '{part}' has shape {list(out[part].shape)}, expected [{n}, {k}, 3]")
    missing = [k for k in ATTRS if k not in out["attrs"]]
    if missing:
        raise UserError(f"{kind} file {path} lacks the attributes {', '.join(missing)} of a poses.h5")
    if n == 0:
        raise UserError(f"{kind} file {path} has no frames")
    reach = 10 * max(float(out["attrs"]["height"]), float(out["attrs"]["width"]))
    for part in POSE_PARTS:
        xy, conf = out[part][..., :2], out[part][..., 2]
        bad = ~np.isfinite(xy).all(axis=-1) | (np.abs(xy) > reach).any(axis=-1) | ~((conf >= 0) & (conf <= 1))
        if bad.any():
            frame, joint = np.argwhere(bad)[0]
            raise UserError(f"{kind} file {path} is damaged: '{part}' keypoint {joint} of frame {frame} is "
                            f"[{', '.join(f'{v:.4g}' for v in out[part][frame, joint])}] (x, y within {reach:g} px, confidence 0-1): "
                            "delete it; the workflow makes it again")
    return out
