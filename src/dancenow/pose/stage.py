"""pose: frames.h5 -> poses.h5 (BODY_25 + face + hands, per-keypoint confidence, short gaps filled).

The frames are split into `pose.shards` shards (default: one per task of the job) on tracker restarts, so the
result does not depend on the split. With several tasks each estimates its shards and writes them as parts next to
the output; rank 0 joins them, fills gaps across the whole video and writes poses.h5.
"""

import datetime
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from ..config import section
from ..distributed import barrier, process_group
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from .gaps import fill_gaps

log = logging.getLogger(__name__)

PARTS = tuple(h5.POSE_PARTS)


def make_estimator(c):
    from .mediapipe_holistic import HolisticEstimator

    return HolisticEstimator(c["model_complexity"], c["min_detection_confidence"], c["min_tracking_confidence"])


def estimate(frames, c, start=0, stop=None):
    """Raw keypoints of frames[start:stop]: mediapipe's keypoint sets of its person, or with the openpose backend
    {"people": every person per frame}. mediapipe's tracker restarts every `chunk_frames` frames (counted from
    frame 0), so any split of the video on chunk boundaries gives exactly the keypoints of one pass over it."""
    if c["backend"] == "openpose":
        from .openpose.estimator import detect_people

        return {"people": detect_people(frames, c, start, stop)}
    if c["backend"] != "mediapipe":
        raise UserError(f"pose.backend must be mediapipe or openpose, not {c['backend']!r}")
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


def shard_bounds(n_frames, chunk, shards):
    """[start, stop) of every shard: whole chunks of `chunk` frames, dealt out as evenly as they go."""
    chunks = -(-n_frames // chunk)
    cuts = [min(n_frames, s * chunks // shards * chunk) for s in range(shards + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def save_part(path, raw):
    with atomic_path(path) as tmp, h5.create(tmp) as f:
        for key, value in raw.items():
            h5.dataset(f, key, value)


def load_part(path):
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in f}


def merge(raws, width, height):
    """The shards' raw results, in order, as one video's keypoint sets (openpose: the main dancer tracked over the
    whole video)."""
    if "people" in raws[0]:
        from .openpose.estimator import main_dancer, stack_people

        return main_dancer(stack_people([r["people"] for r in raws]), width, height)
    return {p: np.concatenate([r[p] for r in raws]) for p in PARTS}


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
    output = Path(c["output"])
    parts = output.with_name(f".{output.name}.parts")
    # ranks may finish their shards hours apart: the barrier must not time out before the job does
    with process_group("gloo", timeout=datetime.timedelta(days=7)) as (rank, size):
        shards = size if c["shards"] is None else c["shards"]
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise UserError(f"pose.shards must be a positive integer or null, not {c['shards']!r}")
        with h5.open_input(c["input"], "frames") as f:
            frames = f["frames"]
            meta = h5.read_frames_meta(f)
            geometry = h5.FrameGeometry.from_attrs(f.attrs)
            bounds = shard_bounds(meta["n"], int(c["chunk_frames"]), shards)
            mine = range(rank, shards, size)
            log.info("%s: %d frames %dx%d; %s", c["input"], meta["n"], meta["width"], meta["height"],
                     ", ".join(f"shard {s + 1}/{shards}: frames {bounds[s][0]}-{bounds[s][1] - 1}" for s in mine))
            raws = {s: estimate(frames, c, *bounds[s]) for s in mine}
        if size > 1:
            for s, raw in raws.items():
                save_part(parts / f"{s}-of-{shards}.h5", raw)
            barrier()
            if rank != 0:
                return
            raws = {s: load_part(parts / f"{s}-of-{shards}.h5") for s in range(shards)}
            shutil.rmtree(parts)
    raw = merge([raws[s] for s in range(shards)], meta["width"], meta["height"])
    poses = postprocess(raw, int(c["max_gap"]))
    found = float(poses["detected"].mean())
    log.info("person found in %d of %d frames (%.1f %%), %d filled", poses["detected"].sum(), meta["n"],
             100 * found, poses["filled"].sum())
    if found < float(c["min_detected_fraction"]):
        raise UserError(f"nobody was found in {c['input']}: a person in {poses['detected'].sum()} of {meta['n']} "
                        f"frames (need {100 * c['min_detected_fraction']:.0f} %). Film the whole body, well lit.")
    with atomic_path(output) as tmp, h5.create(tmp) as out:
        h5.write_poses(out, poses, meta)
        geometry.to_attrs(out.attrs)
        # how the frames were split does not change the keypoints: left out, so a sharded run makes the same bytes
        h5.set_provenance(out, "pose", {k: v for k, v in c.items() if k != "shards"}, meta["video_sha256"])
    log.info("wrote %s", output)
