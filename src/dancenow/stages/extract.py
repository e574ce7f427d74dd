"""extract: a video -> frames.h5 (uint8 RGB, one frame per chunk) at the preset's size, plus its audio track."""

import logging

import cv2
import numpy as np
from tqdm import tqdm

from ..conf import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.video import VideoReader, extract_audio

log = logging.getLogger(__name__)


def fit_geometry(src_w, src_h, out_w, out_h, fit):
    """Scale and offsets that put a src_w x src_h frame into out_w x out_h: 'pad' keeps it whole, 'crop' fills."""
    pick = min if fit == "pad" else max
    scale = pick(out_w / src_w, out_h / src_h)
    new_w, new_h = round(src_w * scale), round(src_h * scale)
    return h5.FrameGeometry(scale, (out_w - new_w) // 2, (out_h - new_h) // 2), (new_w, new_h)


def fit_frame(frame, geometry, new_size, out_w, out_h):
    resized = cv2.resize(frame, new_size, interpolation=cv2.INTER_AREA)
    out = np.zeros((out_h, out_w, 3), np.uint8)
    ox, oy = int(geometry.offset_x), int(geometry.offset_y)
    # place the resized frame at (ox, oy), clipping whatever falls outside (crop) or leaving borders (pad)
    sx, sy = max(0, -ox), max(0, -oy)
    dx, dy = max(0, ox), max(0, oy)
    w = min(new_size[0] - sx, out_w - dx)
    h = min(new_size[1] - sy, out_h - dy)
    out[dy:dy + h, dx:dx + w] = resized[sy:sy + h, sx:sx + w]
    return out


def run(cfg):
    c = section(cfg, "extract")
    reader = VideoReader(c["input"])
    out_w, out_h = c["width"], c["height"]
    geometry, new_size = fit_geometry(reader.width, reader.height, out_w, out_h, c["fit"])
    video_sha = h5.sha256_file(c["input"])
    log.info("%s: %dx%d at %.3f fps -> %dx%d (%s)", c["input"], reader.width, reader.height, reader.fps,
             out_w, out_h, c["fit"])
    with atomic_path(c["audio"]) as audio_tmp, atomic_path(c["output"]) as frames_tmp:
        if not extract_audio(c["input"], audio_tmp):
            audio_tmp.write_bytes(b"")  # zero bytes: the video has no sound
        with h5.create(frames_tmp) as f:
            ds = h5.frames_dataset(f, 0, out_h, out_w)
            n = 0
            for frame in tqdm(reader, desc="extract", unit="frame", leave=False):
                if c["max_frames"] is not None and n >= c["max_frames"]:
                    break
                ds.resize(n + 1, axis=0)
                ds[n] = fit_frame(frame, geometry, new_size, out_w, out_h)
                n += 1
            if n == 0:
                raise UserError(f"{c['input']} has no frames")
            f.attrs["fps"] = reader.fps
            f.attrs["source_width"], f.attrs["source_height"] = reader.width, reader.height
            f.attrs["has_audio"] = audio_tmp.stat().st_size > 0
            geometry.to_attrs(f.attrs)
            h5.set_provenance(f, "extract", c, video_sha, outputs=("output", "audio"))
    log.info("wrote %d frames to %s", n, c["output"])
