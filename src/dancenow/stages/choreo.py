"""choreo: BVH motion capture and/or poses.h5 of videos -> a new dance (poses.h5, a stick-figure mp4, metrics.json).

1. Every source becomes a BODY_25 sequence in body units (neck-to-midhip = 1, the 15 keypoints of `motion.JOINTS`,
   gaps interpolated) at `choreo.fps`: BVH files through forward kinematics and a front view (bvh.py), poses.h5
   files from their `body` and their own fps.
2. A choreography network (model.py: an acLSTM) is trained on their motion features, or the one at `choreo.model`
   is reused when it was trained with the same training settings on the same source files (a sha256 of both is
   stored with it).
3. It reads `seed_frames` real frames (a window of the training data chosen by the seed) and free-runs for
   `seconds`; the decoded dance is placed on a `height` x `width` canvas: the dancer about 0.7 of the frame tall
   (from the training data's median nose-to-ankle extent), centred horizontally on their mean root position, feet
   near the bottom; shrunk and shifted only if the dance would leave the canvas. It is written at `output_fps`: by
   default the source video's rate, so that the targets render it at the cost of the source's dance (a 15 fps
   source danced at 30 fps would cost every target twice the frames).
4. metrics.json judges it: motion energy per 2 s against the training range (and whether it froze), bone lengths
   against the training skeleton, NaNs, novelty (distance to the nearest training window) against the copy
   threshold, and the training loss.
"""

import json
import logging

import numpy as np

from ..choreo import model as model_mod
from ..choreo import motion
from ..choreo.bvh import resample
from ..choreo.judge import judge
from ..choreo.placement import body_height, place, steady
from ..choreo.sources import load_sources
from ..choreo.training import train_or_reuse
from ..conf import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.jsonfile import write_json
from ..io.poses import write_poses
from ..io.video import VideoWriter, even_size
from ..labels import draw_label

log = logging.getLogger(__name__)

OUTPUTS = ("output", "video", "metrics", "model")


def run(cfg):
    c = section(cfg, "choreo")
    seed, fps = cfg.seed, c["fps"]
    height, width = c["height"], c["width"]
    sources, source_fps = load_sources(c)
    out_fps = c["output_fps"] or source_fps or fps
    training = [s for _, _, s in sources]
    features = [motion.encode(s, scale=1.0)[0] for s in training]
    source_sha256 = [h5.sha256_file(p) for _, p, _ in sources]
    net, history, reused = train_or_reuse(c, seed, sources, source_sha256, features)
    learnt = sum(len(s) for s in training) / fps
    if c["seconds"] > learnt:
        log.warning("choreo: the dance (%g s) is longer than all its training data together (%.1f s): it tends to "
                    "repeat what it learnt; give more sources (choreo.bvh, choreo.poses) or a shorter choreo.seconds",
                    c["seconds"], learnt)

    n = int(round(c["seconds"] * fps))
    rng = np.random.default_rng(seed)
    src = features[int(rng.integers(len(features)))]
    s = min(c["seed_frames"], len(src))
    start = int(rng.integers(len(src) - s + 1))
    gen = model_mod.generate(net, src[start:start + s], n, c["temperature"], seed=seed)
    dance = motion.decode(gen)
    if model_mod.has_nan(dance):
        raise UserError("choreo: the network generated NaN/inf poses (training diverged?); try a lower choreo.lr")

    unit = body_height(training)
    metrics = judge(dance, training, fps, unit, history)
    body, placement = place(steady(dance, fps), height, width, unit)
    if out_fps != fps:
        xy = resample(body[..., :2], fps, out_fps)
        conf = np.broadcast_to(body[:1, :, 2:], (len(xy), body.shape[1], 1))  # 1 or 0 per joint, as it was
        body = np.concatenate([xy, conf], axis=-1).astype(np.float32)
    m = len(body)
    copied = metrics["novelty"]["copied_windows"]
    if copied:
        log.warning("choreo: %d of %d windows of %d frames of the dance copy a window of the training data (%s)",
                    copied, len(metrics["novelty"]["per_window"]), metrics["novelty"]["window_frames"],
                    metrics["novelty"]["copy_rule"])
    metrics["placement"] = {"height": height, "width": width, **placement}
    metrics["written"] = {"fps": float(out_fps), "frames": m}
    metrics["training"].update(reused_model=reused, sources=[{"kind": k, "path": str(p), "frames": len(x)}
                                                             for k, p, x in sources])
    log.info("dance of %d frames at %g fps (written at %g fps: %d frames): energy %.3f-%.3f (training %.3f-%.3f) "
             "body heights/s, frozen %s, novelty min %s (copy below %.3f)", n, fps, out_fps, m,
             metrics["motion_energy"]["min"], metrics["motion_energy"]["max"], *metrics["motion_energy"]["training_range"],
             metrics["frozen"], metrics["novelty"]["min"], metrics["novelty"]["copy_threshold"])

    poses = {"body": body, "face": np.zeros((m, 70, 3), np.float32),
             "left_hand": np.zeros((m, 21, 3), np.float32), "right_hand": np.zeros((m, 21, 3), np.float32),
             "detected": np.ones(m, bool), "filled": np.zeros(m, bool)}
    vh, vw = even_size(height), even_size(width)
    with atomic_path(c["output"]) as tmp, atomic_path(c["video"]) as vtmp:
        with h5.create(tmp) as f:
            write_poses(f, poses, {"fps": out_fps, "height": height, "width": width})
            h5.FrameGeometry(1.0, 0.0, 0.0).to_attrs(f.attrs)
            h5.set_provenance(f, "choreo", c, "", outputs=OUTPUTS, seed=seed,
                              source_sha256=json.dumps(source_sha256))
        with VideoWriter(vtmp, vw, vh, out_fps) as writer:
            for i in range(m):
                frame = np.zeros((vh, vw, 3), np.uint8)
                frame[:height, :width] = draw_label(height, width, body[i])
                writer.write(frame)
        write_json(c["metrics"], metrics)
    log.info("wrote %s, %s and %s", c["output"], c["video"], c["metrics"])
