"""grid: source dancer, extracted pose and every target in a grid of captioned tiles, with the music: two targets
make the blog's 2x2 (source, pose / target A, target B); other counts a layout near 16:9 (`grid.columns`, auto
by default; dancenow.layout).

Without source frames (`grid.source_frames=null`, e.g. a dance made up by `dancenow choreo`): pose, every target,
at the fps and canvas of the poses."""

import contextlib
import logging

from ..conf import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.poses import read_poses
from ..io.video import VideoWriter
from ..labels import draw_labels
from ..layout import Grid
from ..progress import Bar

log = logging.getLogger(__name__)


def run(cfg):
    c = section(cfg, "grid")
    if len(c["targets"]) != len(c["names"]):
        raise UserError("grid.targets and grid.names must have the same length")
    poses = read_poses(c["source_poses"], "source poses")
    with contextlib.ExitStack() as stack:
        if c["source_frames"] is None:  # no source video (a made-up dance): pose | targets
            frames = None
            attrs = poses["attrs"]
            n, fh, fw, fps = len(poses["body"]), int(attrs["height"]), int(attrs["width"]), float(attrs["fps"])
        else:
            src = stack.enter_context(h5.open_input(c["source_frames"], "source frames"))
            frames = src["frames"]
            n, fh, fw = frames.shape[:3]
            fps = float(src.attrs["fps"])
            if len(poses["body"]) != n:
                raise UserError(f"{c['source_poses']} has {len(poses['body'])} frames, {c['source_frames']} {n}")
        sources = [stack.enter_context(h5.open_input(p, "generated frames")) for p in c["targets"]]
        for name, g in zip(c["names"], sources):
            if g["frames"].shape[0] != n:
                raise UserError(f"target {name} has {g['frames'].shape[0]} rendered frames, the source {n}")

        sizes = ([] if frames is None else [(fh, fw)]) + [(fh, fw)] + [g["frames"].shape[1:3] for g in sources]
        captions = ([] if frames is None else ["source"]) + ["pose"] + list(c["names"])
        layout = Grid(sizes, captions, c["tile_height"], c["columns"])

        def tiles(i):
            return ([] if frames is None else [frames[i]]) + [draw_labels(poses, i, fh, fw)] + \
                [g["frames"][i] for g in sources]

        with atomic_path(c["output"]) as tmp, \
                VideoWriter(tmp, layout.width, layout.height, fps, c["audio"], c["crf"]) as w:
            for i in Bar(range(n), desc="grid", unit="frame", leave=False):
                w.write(layout.compose(tiles(i)))
    log.info("wrote %s (%d frames, %dx%d, %d x %d tiles)", c["output"], n, layout.width, layout.height,
             layout.rows, layout.cols)
