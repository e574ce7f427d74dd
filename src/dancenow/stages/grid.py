"""grid: source dancer | extracted pose | every target, side by side, with the music.

Without source frames (`grid.source_frames=null`, e.g. a dance made up by `dancenow choreo`): pose | every target,
at the fps and canvas of the poses."""

import contextlib
import logging

import cv2
import numpy as np
from tqdm import tqdm

from ..conf import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.poses import read_poses
from ..io.video import VideoWriter, even_size
from ..labels import draw_labels

log = logging.getLogger(__name__)

CAPTION_HEIGHT = 24


def tile(image, tile_height, caption):
    h, w = image.shape[:2]
    tile_width = even_size(round(w * tile_height / h))
    body = cv2.resize(image, (tile_width, tile_height), interpolation=cv2.INTER_AREA)
    bar = np.full((CAPTION_HEIGHT, tile_width, 3), 24, np.uint8)
    cv2.putText(bar, caption, (6, CAPTION_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, body])


def run(cfg):
    c = section(cfg, "grid")
    if len(c["targets"]) != len(c["names"]):
        raise UserError("grid.targets and grid.names must have the same length")
    tile_h = c["tile_height"]
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

        def row(i):
            tiles = [] if frames is None else [tile(frames[i], tile_h, "source")]
            tiles.append(tile(draw_labels(poses, i, fh, fw), tile_h, "pose"))
            return np.hstack(tiles + [tile(g["frames"][i], tile_h, nm) for nm, g in zip(c["names"], sources)])

        height, width = row(0).shape[:2]
        with atomic_path(c["output"]) as tmp, VideoWriter(tmp, width, height, fps, c["audio"], c["crf"]) as w:
            for i in tqdm(range(n), desc="grid", unit="frame", leave=False):
                w.write(row(i))
    log.info("wrote %s (%d frames, %dx%d)", c["output"], n, width, height)
