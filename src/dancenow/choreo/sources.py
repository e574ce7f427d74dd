"""The choreography network's training data: BVH motion capture and/or poses.h5 of videos, each as a BODY_25
sequence in body units (neck-to-midhip = 1, the 15 keypoints of `motion.JOINTS`, gaps interpolated) at one fps."""

import logging
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io.poses import read_poses
from . import bvh, motion
from .motion import JOINTS

log = logging.getLogger(__name__)


def _body_units(body25, fps_in, fps_out, name):
    """Poses [F, 25, 3] (any units, y down) -> [F', 25, 3] at fps_out, JOINTS only (gaps filled), neck-to-midhip = 1."""
    try:
        xy = motion.fill_missing(body25, JOINTS)
        scale = motion.body_scale(body25, JOINTS)
    except ValueError as e:
        raise UserError(f"{name}: no usable body: {e}") from None
    out = np.zeros((len(xy), 25, 3), np.float64)
    out[:, JOINTS, :2] = xy / scale
    out[:, JOINTS, 2] = 1.0
    out = bvh.resample(out, fps_in, fps_out)
    return out.astype(np.float32)


def load_bvh(path, fps):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"choreo: BVH file not found: {path}")
    m = bvh.read_bvh(path)
    if m.n_frames < 2:
        raise UserError(f"{path}: the BVH file has {m.n_frames} frames; a dance needs more")
    body = bvh.to_body25(bvh.forward_kinematics(m), m.names)
    return _body_units(body, m.fps, fps, str(path))


def read_body(path):
    """The BODY_25 body [F, 25, 3] of a poses.h5 and its frame rate."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"choreo: poses file not found: {path}")
    data = read_poses(path, "choreo poses")
    body = np.asarray(data["body"], np.float64)
    if len(body) < 2:
        raise UserError(f"{path}: a dance needs at least 2 frames of poses, not {len(body)}")
    return body, float(data["attrs"]["fps"])


def load_poses(path, fps):
    return _body_units(*read_body(path), fps, str(path))


def load_sources(c):
    """[(kind, path, sequence at choreo.fps)] and the first poses file's own frame rate (None with BVH only)."""
    bvhs, poses = list(c["bvh"] or []), list(c["poses"] or [])
    if not bvhs and not poses:
        raise UserError("choreo: no training data: give BVH files (choreo.bvh=[a.bvh,...]) and/or poses.h5 files "
                        "(choreo.poses=[poses.h5,...])")
    fps = c["fps"]
    bodies = [read_body(p) for p in poses]
    seqs = [("bvh", p, load_bvh(p, fps)) for p in bvhs] + [
        ("poses", p, _body_units(body, own, fps, str(p))) for p, (body, own) in zip(poses, bodies)]
    for kind, p, s in seqs:
        log.info("%s %s: %d frames at %g fps", kind, p, len(s), fps)
    return seqs, (bodies[0][1] if bodies else None)
