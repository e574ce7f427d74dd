"""Placing a generated dance on the canvas: the root's slow drift taken out, then the dancer about DANCER_HEIGHT of
the frame tall (from the training data's median nose-to-ankle extent), centred horizontally on their mean root
position, feet near the bottom; shrunk and shifted only if the dance would leave the canvas."""

import logging

import numpy as np

from ..keypoints import B
from .motion import JOINTS, ROOT

log = logging.getLogger(__name__)

DANCER_HEIGHT = 0.7       # fraction of the canvas height the dancer's nose-to-ankle extent takes
FEET_AT = 0.95            # fraction of the canvas height where the dancer's (median) lower ankle stands
MARGIN = 0.02             # keypoints stay this fraction of the canvas inside its border
DRIFT_S = 4.0             # root motion slower than this is drift, taken out before placing the dance


def body_height(sequences):
    """Median over the frames of the training sequences of the nose-to-lower-ankle extent (body units)."""
    allp = np.concatenate(sequences)
    ankles = allp[:, [B["RAnkle"], B["LAnkle"]], 1].max(axis=1)
    return float(np.median(ankles - allp[:, B["Nose"], 1]))


def steady(dance, fps, seconds=DRIFT_S):
    """The dance without the slow drift of its root: a centred moving average of the root over `seconds` is
    subtracted from every joint. Integrating generated root velocities for a minute makes the dancer wander off;
    the steps (faster than `seconds`) stay."""
    root = dance[:, ROOT, :2].astype(np.float64)
    k = max(1, min(len(root), int(round(seconds * fps))) | 1)  # odd, at most the dance's length
    padded = np.pad(root, ((k // 2, k // 2), (0, 0)), mode="edge")
    drift = np.stack([np.convolve(padded[:, i], np.ones(k) / k, mode="valid") for i in range(2)], axis=1)
    out = dance.copy()
    out[:, JOINTS, :2] -= (drift - drift[0])[:, None, :].astype(out.dtype)
    return out


def place(dance, height, width, extent):
    """Dance in body units [F, 25, 3] -> pixels on the canvas, and what was done (a dict)."""
    xy = dance[:, JOINTS, :2].astype(np.float64)
    lo, hi = xy.reshape(-1, 2).min(axis=0), xy.reshape(-1, 2).max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    wanted = DANCER_HEIGHT * height / extent
    fits = min((1 - 2 * MARGIN) * width / span[0], (1 - 2 * MARGIN) * height / span[1])
    factor = min(wanted, fits)
    feet = np.median(dance[:, [B["RAnkle"], B["LAnkle"]], 1].max(axis=1))
    ox = width / 2 - factor * dance[:, ROOT, 0].mean()
    oy = FEET_AT * height - factor * feet
    ox_c = float(np.clip(ox, MARGIN * width - factor * lo[0], (1 - MARGIN) * width - factor * hi[0]))
    oy_c = float(np.clip(oy, MARGIN * height - factor * lo[1], (1 - MARGIN) * height - factor * hi[1]))
    out = np.zeros_like(dance, dtype=np.float32)
    out[:, JOINTS, 0] = xy[..., 0] * factor + ox_c
    out[:, JOINTS, 1] = xy[..., 1] * factor + oy_c
    out[:, JOINTS, 2] = 1.0
    info = {"pixels_per_unit": float(factor), "wanted_pixels_per_unit": float(wanted),
            "shrunk_to_fit": bool(factor < wanted), "shifted_to_fit": bool(ox_c != ox or oy_c != oy)}
    if info["shrunk_to_fit"] or info["shifted_to_fit"]:
        log.info("the dance travels beyond the canvas at %.0f %% of its height: %s", 100 * DANCER_HEIGHT,
                 "shrunk" if info["shrunk_to_fit"] else "shifted")
    return out, info
