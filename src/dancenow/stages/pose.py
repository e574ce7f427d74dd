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

from ..conf import section
from ..distributed import barrier, process_group
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.poses import write_poses
from ..pose.estimate import estimate, merge, postprocess, shard_bounds

log = logging.getLogger(__name__)


def save_part(path, raw):
    with atomic_path(path) as tmp, h5.create(tmp) as f:
        for key, value in raw.items():
            h5.dataset(f, key, value)


def load_part(path):
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in f}


def run(cfg):
    c = section(cfg, "pose")
    output = Path(c["output"])
    parts = output.with_name(f".{output.name}.parts")
    # ranks may finish their shards hours apart: the barrier must not time out before the job does
    with process_group("gloo", timeout=datetime.timedelta(days=7)) as (rank, size):
        shards = size if c["shards"] is None else c["shards"]
        with h5.open_input(c["input"], "frames") as f:
            frames = f["frames"]
            meta = h5.read_frames_meta(f)
            geometry = h5.FrameGeometry.from_attrs(f.attrs)
            bounds = shard_bounds(meta["n"], c["chunk_frames"], shards)
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
    keypoints = merge([raws[s] for s in range(shards)], c, meta["width"], meta["height"])
    poses = postprocess(keypoints, c["max_gap"])
    found = float(poses["detected"].mean())
    log.info("person found in %d of %d frames (%.1f %%), %d filled", poses["detected"].sum(), meta["n"],
             100 * found, poses["filled"].sum())
    if found < c["min_detected_fraction"]:
        raise UserError(f"nobody was found in {c['input']}: a person in {poses['detected'].sum()} of {meta['n']} "
                        f"frames (need {100 * c['min_detected_fraction']:.0f} %). Film the whole body, well lit.")
    with atomic_path(output) as tmp, h5.create(tmp) as out:
        write_poses(out, poses, meta)
        geometry.to_attrs(out.attrs)
        # how the frames were split does not change the keypoints: left out, so a sharded run makes the same bytes
        h5.set_provenance(out, "pose", {k: v for k, v in c.items() if k != "shards"}, meta["video_sha256"])
    log.info("wrote %s", output)
