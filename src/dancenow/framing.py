"""Framing a video for the stored frames: where a frame of the original goes (scale and offsets) for `pad` (all of
it, letterboxed), `crop` (the centre, filled) and `person` (the region the person moves in over the whole video,
with a margin, grown to the stored frames' aspect and fixed for the whole video: no per-frame zoom)."""

import cv2
import numpy as np

from .io.h5 import FrameGeometry

MARGIN = 0.1        # of the person's height, around the region they move in
HEAD_TOP = 0.08     # of the person's height above their highest keypoint (the eyes: no keypoint on the top of the head)
MIN_CONFIDENCE = 0.3  # a keypoint this confident counts for the region


def fit_geometry(src_w, src_h, out_w, out_h, fit):
    """Scale and offsets that put a src_w x src_h frame into out_w x out_h: 'pad' keeps it whole, 'crop' fills."""
    pick = min if fit == "pad" else max
    scale = pick(out_w / src_w, out_h / src_h)
    new_w, new_h = round(src_w * scale), round(src_h * scale)
    return FrameGeometry(scale, (out_w - new_w) // 2, (out_h - new_h) // 2)


def fit_frame(frame, geometry, out_w, out_h):
    """The stored frame: the original resized by the geometry's scale and placed at its offsets, whatever falls
    outside cut off, what it does not cover black."""
    # by the factor itself (OpenCV rounds the size but maps by fx, fy): stored = original * scale + offset exactly
    resized = cv2.resize(frame, None, fx=geometry.scale, fy=geometry.scale, interpolation=cv2.INTER_AREA)
    new_size = resized.shape[1], resized.shape[0]
    out = np.zeros((out_h, out_w, 3), np.uint8)
    ox, oy = int(geometry.offset_x), int(geometry.offset_y)
    sx, sy = max(0, -ox), max(0, -oy)
    dx, dy = max(0, ox), max(0, oy)
    w = min(new_size[0] - sx, out_w - dx)
    h = min(new_size[1] - sy, out_h - dy)
    if w > 0 and h > 0:
        out[dy:dy + h, dx:dx + w] = resized[sy:sy + h, sx:sx + w]
    return out


def place(out_w, out_h, scale, centre_x, centre_y):
    """The geometry that shows the original at `scale` with the original point (centre_x, centre_y) at the centre of
    the stored frame."""
    return FrameGeometry(scale, round(out_w / 2 - centre_x * scale), round(out_h / 2 - centre_y * scale))


def person_region(keypoint_sets, src_w, src_h):
    """(x0, y0, x1, y1) in original pixels: the box of every confident keypoint (body, face, hands) of every frame,
    with the margin and room for the top of the head; None without any."""
    xy = np.concatenate([k[k[..., 2] >= MIN_CONFIDENCE][:, :2] for k in keypoint_sets if len(k)] or [np.zeros((0, 2))])
    if len(xy) < 2:
        return None
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    tall = y1 - y0
    if tall <= 0:
        return None
    pad = MARGIN * tall
    return (max(0.0, x0 - pad), max(0.0, y0 - pad - HEAD_TOP * tall), min(float(src_w), x1 + pad),
            min(float(src_h), y1 + pad))


def person_geometry(region, src_w, src_h, out_w, out_h):
    """The geometry that fills the stored frames with `region` grown to their aspect: as large as the region allows
    (never smaller than the whole frame letterboxed), moved inside the original where it fits, so that as few
    stored pixels as can be lie outside the video."""
    x0, y0, x1, y1 = region
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    scale = max(min(out_w / w, out_h / h), min(out_w / src_w, out_h / src_h))
    view_w, view_h = out_w / scale, out_h / scale  # the original pixels the stored frame shows

    def centre(lo, hi, view, size):
        c = (lo + hi) / 2
        if view >= size:
            return size / 2
        return min(max(c, view / 2), size - view / 2)

    return place(out_w, out_h, scale, centre(x0, x1, view_w, src_w), centre(y0, y1, view_h, src_h))
