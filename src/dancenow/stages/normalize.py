"""normalize: source poses.h5 + target poses.h5 -> the source's poses in the target's frame and a diagnostic plot
(the method: dancenow.normalization)."""

import json
import logging

import numpy as np

from ..conf import section
from ..io import h5
from ..io.atomic import atomic_path
from ..io.jsonfile import json_safe
from ..io.poses import read_poses, write_poses
from ..keypoints import has_person
from ..normalization import fit_normalization, frame_measures, head_keypoints, normalize_poses, plot_diagnostics

log = logging.getLogger(__name__)


def run(cfg):
    c = section(cfg, "normalize")
    c["min_confidence"] = max(c["min_confidence"], 1e-6)  # confidence 0 means missing
    src = read_poses(c["source"], "source poses")
    tgt = read_poses(c["target"], "target poses")
    sa, ta = src["attrs"], tgt["attrs"]
    log.info("source %s: %d frames %dx%d; target %s: %d frames %dx%d", c["source"], len(src["body"]),
             sa["width"], sa["height"], c["target"], len(tgt["body"]), ta["width"], ta["height"])
    scale, translation, stats = fit_normalization(
        src["body"], tgt["body"], min_confidence=c["min_confidence"], ankle_percentile=c["ankle_percentile"],
        close_tolerance=c["close_tolerance"], height_percentile=c["height_percentile"],
        min_depth_range=c["min_depth_range"], align_x=bool(c["align_x"]), src_width=float(sa["width"]),
        tgt_width=float(ta["width"]), names=(f"source ({c['source']})", f"target ({c['target']})"))
    stats = json_safe(stats)
    out = normalize_poses(src, scale, translation, c["smooth_sigma"])
    n = len(scale)
    out["detected"] = src.get("detected", has_person(out["body"]))
    out["filled"] = src.get("filled", np.zeros(n, bool))
    head = head_keypoints((src["body"], tgt["body"]), c["min_confidence"])
    before = frame_measures(src["body"], c["min_confidence"], head)
    after = frame_measures(out["body"], c["min_confidence"], head)
    log.info("%s: %s", stats["mode"], json.dumps({k: v for k, v in stats.items() if k.startswith("scale")}))
    with atomic_path(c["output"]) as tmp, atomic_path(c["plot"]) as plot_tmp:
        with h5.create(tmp) as f:
            write_poses(f, out, {"fps": sa["fps"], "height": ta["height"], "width": ta["width"]})
            h5.dataset(f, "scale", scale.astype(np.float32))
            h5.dataset(f, "translation", translation.astype(np.float32))
            for key in ("scale", "offset_x", "offset_y"):  # coordinates are now in the target's stored frames
                if key in ta:
                    f.attrs[key] = ta[key]
            h5.set_provenance(f, "normalize", c, str(sa.get("video_sha256", "")), outputs=("output", "plot"),
                              target_video_sha256=str(ta.get("video_sha256", "")),
                              normalization=json.dumps(stats, sort_keys=True))
        plot_diagnostics(plot_tmp, before, after, stats, scale)
    log.info("wrote %s and %s", c["output"], c["plot"])
