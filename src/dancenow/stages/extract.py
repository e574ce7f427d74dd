"""extract: a video -> frames.h5 (uint8 RGB, one frame per chunk) at the preset's size, plus its audio track.

With `extract.fit=person` (the default) a first pass finds the person in a few frames of the whole video (mediapipe,
every 1/FRAMING_FPS s) and the stored frames show the region they move in (see dancenow.framing); a video in
which nobody is found is letterboxed whole instead, with one log line.
"""

import logging

import cv2
import numpy as np

from ..conf import section, settings
from ..errors import UserError
from ..framing import MIN_CONFIDENCE, fit_frame, fit_geometry, person_geometry, person_region
from ..io import h5
from ..io.atomic import atomic_path
from ..io.video import MIN_FRAMES, VideoReader, extract_audio
from ..pose.estimate import estimate_video
from ..progress import Bar

log = logging.getLogger(__name__)

FRAMING_FPS = 2.0         # frames per second of video looked at to find the person
FRAMING_MAX_FRAMES = 240  # at most this many, spread over the whole video
FRAMING_SIZE = 512        # their longer side, in pixels, for the pose estimator
FRAMING_MIN_FOUND = 0.5   # the person must be in at least this fraction of them
FRAMING_MIN_KEYPOINTS = 4 # confident body keypoints that make a person in a looked-at frame


def framing_samples(path, max_frames):
    """Frames of the video (up to `max_frames` of it), every 1/FRAMING_FPS s (at most FRAMING_MAX_FRAMES, evenly
    spread), at most FRAMING_SIZE px on their longer side; and that downscaling factor."""
    reader = VideoReader(path)
    n = reader.frame_count or 1
    if max_frames is not None:
        n = min(n, max_frames)
    step = max(1, round(reader.fps / FRAMING_FPS), -(-n // FRAMING_MAX_FRAMES))
    factor = min(1.0, FRAMING_SIZE / max(reader.width, reader.height))
    size = (round(reader.width * factor), round(reader.height * factor))
    samples = []
    for i, frame in enumerate(reader):
        if max_frames is not None and i >= max_frames:
            break
        if i % step == 0:
            samples.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    return np.stack(samples), factor


def confident(keypoints):
    """Per frame, the number of confident body keypoints."""
    return (keypoints["body"][:, :, 2] >= MIN_CONFIDENCE).sum(axis=1)


def detect(samples, pose_cfg):
    """The person's keypoints in every sample (in its pixels). mediapipe looks for a person in the whole frame
    shrunk to a square of 256 px: a person a third of a 16:9 frame tall is too small for it there. Where the whole
    frame finds nobody in most samples, squares of the frame (its short side, then 0.6 of it, overlapping by half)
    are searched too, and each sample keeps the window with the most confident keypoints."""
    n, height, width = samples.shape[:3]
    best = estimate_video(samples, pose_cfg, width, height)
    if (confident(best) >= FRAMING_MIN_KEYPOINTS).mean() >= FRAMING_MIN_FOUND:
        return best
    for side in (min(width, height), int(0.6 * min(width, height))):
        for y in range(0, height - side + 1, max(1, side // 2)):
            for x in range(0, width - side + 1, max(1, side // 2)):
                found = estimate_video(np.ascontiguousarray(samples[:, y:y + side, x:x + side]), pose_cfg, side,
                                       side)
                better = confident(found) > confident(best)
                for part, kps in found.items():
                    kps[..., 0] += x
                    kps[..., 1] += y
                    best[part][better] = kps[better]
    return best


def find_person(c, pose_cfg, width, height):
    """The region of the original frames the person moves in (see framing.person_region), or None when they are
    in too few of the looked-at frames."""
    samples, factor = framing_samples(c["input"], c["max_frames"])
    keypoints = detect(samples, dict(pose_cfg, backend="mediapipe"))
    found = confident(keypoints) >= FRAMING_MIN_KEYPOINTS
    if found.mean() < FRAMING_MIN_FOUND:
        log.info("framing: a person in %d of %d looked-at frames: letterboxing the whole frame instead "
                 "(extract.fit=pad)", found.sum(), len(found))
        return None
    sets = [np.concatenate([keypoints[p][found][..., :2] / factor, keypoints[p][found][..., 2:]], axis=-1)
            for p in ("body", "face", "left_hand", "right_hand")]
    return person_region(sets, width, height)


def too_short(reader, n):
    return UserError(f"{reader.path} has {n} frame{'s' * (n != 1)} ({n / reader.fps:.2f} s at {reader.fps:g} fps): "
                     f"extract needs a video of at least {MIN_FRAMES} frames")


def run(cfg):
    c = section(cfg, "extract")
    reader = VideoReader(c["input"])
    if reader.frame_count is not None and reader.frame_count < MIN_FRAMES:
        raise too_short(reader, reader.frame_count)
    out_w, out_h = c["width"], c["height"]
    region = None
    if c["fit"] == "person":
        region = find_person(c, settings(cfg, "pose"), reader.width, reader.height)
    if region is not None:
        geometry = person_geometry(region, reader.width, reader.height, out_w, out_h)
        x0, y0, x1, y1 = region
        log.info("framing: the person moves in x %.0f-%.0f, y %.0f-%.0f of the %dx%d frames", x0, x1, y0, y1,
                 reader.width, reader.height)
    else:
        geometry = fit_geometry(reader.width, reader.height, out_w, out_h,
                                          "crop" if c["fit"] == "crop" else "pad")
    video_sha = h5.sha256_file(c["input"])
    log.info("%s: %dx%d%s at %.3f fps%s -> %dx%d (%s: scale %.3f, offset %+d, %+d)", c["input"], reader.width,
             reader.height, f" (rotated {reader.rotation} degrees)" if reader.rotation else "", reader.fps,
             "" if reader.audio else ", no audio", out_w, out_h, c["fit"], geometry.scale, geometry.offset_x,
             geometry.offset_y)
    with atomic_path(c["audio"]) as audio_tmp, atomic_path(c["output"]) as frames_tmp:
        if not extract_audio(c["input"], audio_tmp):
            audio_tmp.write_bytes(b"")  # zero bytes: the video has no sound
        with h5.create(frames_tmp) as f:
            ds = h5.frames_dataset(f, 0, out_h, out_w, compression=c["compression"])
            n = 0
            total = min(filter(None, (reader.frame_count, c["max_frames"])), default=None)
            for frame in Bar(reader, total=total, desc="extract", unit="frame", leave=False):
                if c["max_frames"] is not None and n >= c["max_frames"]:
                    break
                ds.resize(n + 1, axis=0)
                ds[n] = fit_frame(frame, geometry, out_w, out_h)
                n += 1
            if n < MIN_FRAMES and (c["max_frames"] is None or n < c["max_frames"]):
                raise too_short(reader, n)
            if reader.variable:
                log.info("%s has a variable frame rate: its frames are placed by their timestamps at a constant "
                         "%g fps (%.2f s)", c["input"], reader.fps, reader.duration)
            f.attrs["fps"] = reader.fps
            f.attrs["variable_frame_rate"] = reader.variable
            f.attrs["rotation"] = reader.rotation
            f.attrs["source_width"], f.attrs["source_height"] = reader.width, reader.height
            f.attrs["has_audio"] = audio_tmp.stat().st_size > 0
            if region is not None:
                f.attrs["person_region"] = np.asarray(region, np.float64)
            geometry.to_attrs(f.attrs)
            h5.set_provenance(f, "extract", c, video_sha, outputs=("output", "audio"))
    log.info("wrote %d frames to %s", n, c["output"])
