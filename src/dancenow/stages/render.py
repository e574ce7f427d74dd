"""render: normalized source poses + a target's generator -> generated.h5 and an H.264 mp4 with the source's music
(see dancenow.generation for how frames are generated)."""

import logging
import os

import torch

from ..conf import section
from ..device import amp_context, task_device
from ..errors import UserError
from ..generation import generate
from ..io import h5
from ..io.atomic import atomic_path
from ..io.poses import read_poses
from ..io.video import VideoWriter
from ..models.checkpoint import load_performer
from ..progress import Bar

log = logging.getLogger(__name__)


def write_video(frames_ds, path, fps, audio, crf):
    n, h, w, _ = frames_ds.shape
    with atomic_path(path) as tmp, VideoWriter(tmp, w, h, fps, audio=audio, crf=crf) as writer:
        for i in range(n):
            writer.write(frames_ds[i])


@torch.no_grad()
def run(cfg):
    c = section(cfg, "render")
    torch.manual_seed(cfg.seed)
    device = task_device()
    performer, meta = load_performer(c["checkpoint"], device)
    autocast, amp = amp_context(c["amp"], device, "render.amp")
    poses = read_poses(c["poses"])
    attrs = poses["attrs"]
    height, width = int(meta["height"]), int(meta["width"])
    if (int(attrs["height"]), int(attrs["width"])) != (height, width):
        raise UserError(f"{c['poses']} is {attrs['width']}x{attrs['height']} but the generator in "
                        f"{c['checkpoint']} was trained at {width}x{height}: normalize into this target's frames")
    n, fps = len(poses["body"]), float(attrs["fps"])
    if not any(n_it for phase, n_it in meta.get("plan", []) if phase != "face"):
        log.warning("%s was trained for 0 iterations: its frames are noise", c["checkpoint"])
    if not c["audio"] or not os.path.isfile(c["audio"]) or not os.path.getsize(c["audio"]):
        log.warning("the source video has no audio track: %s is silent", c["video"])
    log.info("rendering %d frames at %dx%d, %.3f fps on %s%s%s%s", n, width, height, fps, device,
             ", temporal smoothing" if performer.temporal else "", ", face GAN" if performer.face else "",
             ", bfloat16" if amp else "")
    with atomic_path(c["output"]) as tmp, h5.create(tmp) as f:
        out = h5.frames_dataset(f, n, height, width, compression=c["compression"])
        frames = generate(performer, poses, range(n), height, width, device, c["batch_size"], autocast)
        for i, frame in enumerate(Bar(frames, total=n, desc="render", unit="frame", leave=False)):
            out[i] = frame
        f.attrs["fps"] = fps
        h5.set_provenance(f, "render", c, str(attrs["video_sha256"]), outputs=("output", "video"))
    with h5.open_input(c["output"], "generated frames") as f:
        write_video(f["frames"], c["video"], fps, c["audio"], c["crf"])
    log.info("wrote %s and %s", c["output"], c["video"])
