"""The static background ("plate") of a target video: EDN films with a static camera, so a per-pixel temporal median of
the training frames, with the person masked out by their poses, is the room without the person; and the check that
tells when the assumption fails (a moving camera, changing light): the plate's error on the background."""

import warnings

import cv2
import numpy as np

from .io.poses import POSE_PARTS
from .keypoints import MIN_CONFIDENCE

PLATE_FRAMES = 120   # frames the median is taken over, spread over the training frames
MASK_MARGIN = 0.2    # of the person's height around the box of their keypoints: masked out
MAX_ERROR = 10.0     # median over frames of mean |frame - plate| on the background (0..255): above it, no plate
ROWS = 32            # rows of the median at once (bounds its memory)


def person_masks(poses, indices, height, width):
    """bool [n,H,W]: where the person may be in frames `indices`, the box of their confident keypoints grown by
    MASK_MARGIN of its height (nothing in a frame without keypoints)."""
    masks = np.zeros((len(indices), height, width), bool)
    for j, t in enumerate(indices):
        kps = np.concatenate([np.asarray(poses[p][t]) for p in POSE_PARTS])
        xy = kps[kps[:, 2] >= MIN_CONFIDENCE, :2]
        if len(xy) < 2:
            continue
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        m = MASK_MARGIN * max(y1 - y0, x1 - x0, 1.0)
        ya, yb = int(max(0, np.floor(y0 - m))), int(min(height, np.ceil(y1 + m)))
        xa, xb = int(max(0, np.floor(x0 - m))), int(min(width, np.ceil(x1 + m)))
        masks[j, ya:yb, xa:xb] = True
    return masks


def estimate_plate(frames, poses, indices):
    """(plate uint8 [H,W,3], error, seen): the median of frames `indices` (at most PLATE_FRAMES of them) where the
    person is not; pixels the person covers in every one of them are filled in from around them (inpainting), `seen`
    is the fraction that were not; `error` is the median over those frames of the mean |frame - plate| on their
    background."""
    indices = np.asarray(indices)
    if len(indices) > PLATE_FRAMES:
        indices = indices[np.linspace(0, len(indices) - 1, PLATE_FRAMES).round().astype(int)]
    stack = np.stack([np.asarray(frames[int(t)]) for t in indices])
    n, height, width, _ = stack.shape
    masks = person_masks(poses, indices, height, width)
    plate = np.zeros((height, width, 3), np.float32)
    for r in range(0, height, ROWS):
        values = stack[:, r:r + ROWS].astype(np.float32)
        values[masks[:, r:r + ROWS]] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels (always covered): inpainted below
            plate[r:r + ROWS] = np.nanmedian(values, axis=0)
    unseen = np.isnan(plate).any(axis=2)
    plate = np.nan_to_num(plate).round().clip(0, 255).astype(np.uint8)
    if unseen.any():
        plate = cv2.inpaint(plate, unseen.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    background = ~masks
    diffs = np.abs(stack.astype(np.int16) - plate.astype(np.int16)).mean(axis=3)
    per_frame = [diffs[j][background[j]].mean() for j in range(n) if background[j].any()]
    error = float(np.median(per_frame)) if per_frame else float("inf")
    return plate, error, float(1 - unseen.mean())



def static_plate(frames, poses, indices):
    """(plate or None, a line for the log): the plate of frames `indices`, or None when the background is not static
    (its error above MAX_ERROR: a moving camera, changing light)."""
    plate, error, seen = estimate_plate(frames, poses, indices)
    if error > MAX_ERROR:
        return None, (f"the background is not static (it differs from its median by {error:.1f} on average, more "
                      f"than {MAX_ERROR:g}: a moving camera or changing light?): training without a background plate")
    return plate, f"background plate: {100 * seen:.0f} % of its pixels seen without the person, error {error:.1f}"
