"""export: poses for the tools people use next -> OpenPose JSON (one file per frame, dancenow.io.openpose_json) and
a pose video: the skeletons as OpenPose draws them, on black, at the poses' canvas and frame rate (with the music
when given), the input pose-guided animators take."""

import logging

from ..conf import section
from ..io.atomic import atomic_dir, atomic_path
from ..io.openpose_json import file_name, write_frames
from ..io.poses import read_poses
from ..io.video import VideoWriter
from ..labels import draw_labels
from ..progress import Bar

log = logging.getLogger(__name__)


def run(cfg):
    c = section(cfg, "export")
    poses = read_poses(c["poses"])
    attrs = poses["attrs"]
    n, height, width, fps = len(poses["body"]), int(attrs["height"]), int(attrs["width"]), float(attrs["fps"])
    with atomic_dir(c["output"]) as tmp:
        write_frames(tmp, c["name"], poses)
    with atomic_path(c["video"]) as tmp, VideoWriter(tmp, width, height, fps, c["audio"], c["crf"]) as w:
        for i in Bar(range(n), desc="export", unit="frame", leave=False):
            w.write(draw_labels(poses, i, height, width))
    log.info("wrote %d OpenPose JSON files (%s ... %s, pixels of the %dx%d canvas) to %s, and %s", n,
             file_name(c["name"], 0), file_name(c["name"], n - 1), width, height, c["output"], c["video"])
