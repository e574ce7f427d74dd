"""render: normalized source poses + a target's generator -> generated.h5 and an H.264 mp4 with the source's music."""

import logging

import numpy as np
import torch
from tqdm import tqdm

from .config import section
from .errors import UserError
from .io import h5
from .io.atomic import atomic_path
from .io.video import VideoWriter
from .labels import draw_labels
from .train import load_generator

log = logging.getLogger(__name__)


def label_batch(poses, indices, height, width):
    labels = np.stack([draw_labels(poses, i, height, width) for i in indices])
    return torch.from_numpy(labels).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(images):
    return images.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def write_video(frames_ds, path, fps, audio, crf):
    n, h, w, _ = frames_ds.shape
    with atomic_path(path) as tmp, VideoWriter(tmp, w, h, fps, audio=audio, crf=crf) as writer:
        for i in range(n):
            writer.write(frames_ds[i])


@torch.no_grad()
def run(cfg):
    c = section(cfg, "render")
    torch.manual_seed(cfg.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator, meta = load_generator(c["checkpoint"], device)
    poses = h5.read_poses(c["poses"])
    attrs = poses["attrs"]
    height, width = int(meta["height"]), int(meta["width"])
    if (int(attrs["height"]), int(attrs["width"])) != (height, width):
        raise UserError(f"{c['poses']} is {attrs['width']}x{attrs['height']} but the generator in "
                        f"{c['checkpoint']} was trained at {width}x{height}: normalize into this target's frames")
    n, fps = len(poses["body"]), float(attrs["fps"])
    log.info("rendering %d frames at %dx%d, %.3f fps on %s", n, width, height, fps, device)
    with atomic_path(c["output"]) as tmp, h5.create(tmp) as f:
        out = h5.frames_dataset(f, n, height, width)
        batch = int(c["batch_size"])
        for start in tqdm(range(0, n, batch), desc="render", unit="batch", leave=False):
            idx = range(start, min(n, start + batch))
            out[idx.start:idx.stop] = to_uint8(generator(label_batch(poses, idx, height, width).to(device)))
        f.attrs["fps"] = fps
        h5.set_provenance(f, "render", c, str(attrs["video_sha256"]), outputs=("output", "video"))
    with h5.open_input(c["output"], "generated frames") as f:
        write_video(f["frames"], c["video"], fps, c["audio"], int(c["crf"]))
    log.info("wrote %s and %s", c["output"], c["video"])
