"""pose: frames.h5 -> poses.h5 (BODY_25 + face + hands, per-keypoint confidence, short gaps filled)."""

import logging

import numpy as np
from tqdm import tqdm

from ..config import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from .gaps import fill_gaps

log = logging.getLogger(__name__)

PARTS = tuple(h5.POSE_PARTS)


def make_estimator(c):
    if c["backend"] != "mediapipe":
        raise UserError(f"pose.backend {c['backend']!r} is not available; use 'mediapipe'")
    from .mediapipe_holistic import HolisticEstimator

    return HolisticEstimator(c["model_complexity"], c["min_detection_confidence"], c["min_tracking_confidence"])


def estimate(frames, c, start=0, stop=None):
    """Raw keypoints of frames[start:stop]. The tracker restarts every `chunk_frames` frames (counted from frame 0),
    so any split of the video on chunk boundaries gives exactly the keypoints of one pass over it."""
    stop = len(frames) if stop is None else stop
    chunk = int(c["chunk_frames"])
    est = make_estimator(c)
    out = {p: np.zeros((stop - start, h5.POSE_PARTS[p], 3), np.float32) for p in PARTS}
    try:
        for i in tqdm(range(start, stop), desc="pose", unit="frame", leave=False):
            if i > start and i % chunk == 0:
                est.reset()
            for part, kps in est(frames[i]).items():
                out[part][i - start] = kps
    finally:
        est.close()
    return out


def postprocess(raw, max_gap):
    """Mark frames with a person, fill short gaps of every keypoint set."""
    detected = raw["body"][:, :, 2].max(axis=1) > 0
    poses = {"detected": detected}
    filled_any = np.zeros_like(detected)
    for part in PARTS:
        present = raw[part][:, :, 2].max(axis=1) > 0
        poses[part], filled = fill_gaps(raw[part], present, max_gap)
        if part == "body":
            filled_any = filled
    poses["filled"] = filled_any
    return poses


def run(cfg):
    c = section(cfg, "pose")
    with h5.open_input(c["input"], "frames") as f:
        frames = f["frames"]
        meta = h5.read_frames_meta(f)
        geometry = h5.FrameGeometry.from_attrs(f.attrs)
        log.info("%s: %d frames %dx%d", c["input"], meta["n"], meta["width"], meta["height"])
        raw = estimate(frames, c)
    poses = postprocess(raw, int(c["max_gap"]))
    found = float(poses["detected"].mean())
    log.info("person found in %d of %d frames (%.1f %%), %d filled", poses["detected"].sum(), meta["n"],
             100 * found, poses["filled"].sum())
    if found < float(c["min_detected_fraction"]):
        raise UserError(f"nobody was found in {c['input']}: a person in {poses['detected'].sum()} of {meta['n']} "
                        f"frames (need {100 * c['min_detected_fraction']:.0f} %). Film the whole body, well lit.")
    with atomic_path(c["output"]) as tmp, h5.create(tmp) as out:
        h5.write_poses(out, poses, meta)
        geometry.to_attrs(out.attrs)
        h5.set_provenance(out, "pose", c, meta["video_sha256"])
    log.info("wrote %s", c["output"])
