"""render: normalized source poses + a target's generator -> generated.h5 and an H.264 mp4 with the source's music.

A generator trained with temporal smoothing renders frame after frame, each output fed into the next; a frame
without a person restarts the sequence (as the first frame does). With a face GAN its residual is added at the face.
"""

import contextlib
import logging

import numpy as np
import torch
from tqdm import tqdm

from .config import section
from .data import to_device
from .errors import UserError
from .face import face_boxes
from .io import h5
from .io.atomic import atomic_path
from .io.video import VideoWriter
from .labels import MIN_CONFIDENCE, draw_labels
from .train import amp_context, load_performer

log = logging.getLogger(__name__)


def label_batch(poses, indices, height, width, device="cpu"):
    """Label maps of frames `indices` as the generator's input: float [N,3,H,W] in [-1,1] on `device`."""
    labels = np.stack([draw_labels(poses, i, height, width) for i in indices])
    return to_device({"label": torch.from_numpy(labels).permute(0, 3, 1, 2)}, torch.device(device))["label"]


@torch.no_grad()
def generate(performer, poses, indices, height, width, device, batch_size=1, autocast=None):
    """Yield uint8 HWC frames generated from the poses of frames `indices` (consecutive for temporal smoothing):
    in batches frame by frame, or one frame after the other with temporal smoothing."""
    boxes = has_face = None
    if performer.face is not None:
        boxes, has_face = (torch.from_numpy(x) for x in face_boxes(poses, performer.face_cfg["crop"], height, width))
    person = (np.asarray(poses["body"])[:, :, 2] >= MIN_CONFIDENCE).any(axis=1)
    step = 1 if performer.temporal else batch_size
    prev = None
    indices = list(indices)
    for start in range(0, len(indices), step):
        idx = indices[start:start + step]
        if performer.temporal and not person[idx[0]]:
            prev = None
        with autocast or contextlib.nullcontext():
            final, prev = performer(label_batch(poses, idx, height, width, device), prev,
                                    None if boxes is None else boxes[idx], None if boxes is None else has_face[idx])
        yield from to_uint8(final.float())


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
    performer, meta = load_performer(c["checkpoint"], device)
    autocast, amp = amp_context(c["amp"], torch.device(device), "render.amp")
    poses = h5.read_poses(c["poses"])
    attrs = poses["attrs"]
    height, width = int(meta["height"]), int(meta["width"])
    if (int(attrs["height"]), int(attrs["width"])) != (height, width):
        raise UserError(f"{c['poses']} is {attrs['width']}x{attrs['height']} but the generator in "
                        f"{c['checkpoint']} was trained at {width}x{height}: normalize into this target's frames")
    n, fps = len(poses["body"]), float(attrs["fps"])
    log.info("rendering %d frames at %dx%d, %.3f fps on %s%s%s%s", n, width, height, fps, device,
             ", temporal smoothing" if performer.temporal else "", ", face GAN" if performer.face else "",
             ", bfloat16" if amp else "")
    with atomic_path(c["output"]) as tmp, h5.create(tmp) as f:
        out = h5.frames_dataset(f, n, height, width)
        frames = generate(performer, poses, range(n), height, width, device, int(c["batch_size"]), autocast)
        for i, frame in enumerate(tqdm(frames, total=n, desc="render", unit="frame", leave=False)):
            out[i] = frame
        f.attrs["fps"] = fps
        h5.set_provenance(f, "render", c, str(attrs["video_sha256"]), outputs=("output", "video"))
    with h5.open_input(c["output"], "generated frames") as f:
        write_video(f["frames"], c["video"], fps, c["audio"], int(c["crf"]))
    log.info("wrote %s and %s", c["output"], c["video"])
