"""EDN's global pose normalization: the source's poses moved and scaled into the target's frame (Chan et al.
2019, section 3.2; after data_prep/graph_posenorm.py of the official code).

Every video gets, per frame, from its BODY_25 body (keypoints with confidence >= `min_confidence` only):

* ankle y: the y of the lower (larger y, nearer the camera) confident ankle;
* head y: the y of the highest confident face keypoint among Nose, REye, LEye, REar, LEar (eye level: OpenPose and
  mediapipe have no top-of-head keypoint; the neck is not used, it would make heights of frames with and without a
  visible face incomparable). Only those of the five that both videos have (confident in some frame) count, so that
  both heights end at the same point: a dance made up by `dancenow choreo` has a nose but no eyes or ears;
* body height: ankle y - head y, only in "full-body" frames (both ankles and at least one face keypoint confident,
  head above the ankles).

Over its full-body frames a video has a far ankle position (the `ankle_percentile`-th percentile of ankle y: far
from the camera, up in the image) and a close one (the (100 - `ankle_percentile`)-th), and a body height at each:
the `height_percentile`-th percentile of the heights of the frames whose ankle y is within `close_tolerance` x
(close - far) of that extreme (at least the 3 nearest frames). A high percentile, because people crouch, bend and
squat but never get taller than standing.

A source frame with ankle y gets t = (y - far_src) / (close_src - far_src), clipped to [0, 1], and

    scale  = s_far + t (s_close - s_far),       s_far = h_tgt_far / h_src_far, s_close = h_tgt_close / h_src_close
    ankle' = far_tgt + t (close_tgt - far_tgt) + scale (y - y_t)   with y_t = far_src + t (close_src - far_src)

so the source's floor band maps linearly onto the target's and an ankle beyond the band (a jump, a step past the
percentile) moves on with the body's scale instead of the ratio of the two bands. Then y' = scale y + ty with ty
chosen to put the ankle at ankle'. Horizontally x' = scale x + tx: with `align_x` the source's mean horizontal
center (the median over frames of the mean x of the confident body keypoints) lands on the target's; without it
the source frame's center lands on the target frame's center.

When either video barely moves in depth (close - far < `min_depth_range` x its body height) far and close are
noise: one scale (the target's height over the source's, each the `height_percentile`-th percentile of the heights
near its median ankle y, or of all its frames when it is the one that stays put) and one translation (median ankle
y onto median ankle y) serve every frame.

Frames whose ankles are not visible take the scale and translation of their neighbours in time (interpolated). The
per-frame scale and translation go to every keypoint set (body, face, hands); confidences are kept and missing
keypoints (confidence 0) stay missing at (0, 0). A confidence-weighted Gaussian over time (`smooth_sigma` frames)
then smooths the keypoints; missing ones neither take part nor get filled.
"""

import numpy as np

from .errors import UserError
from .io.poses import POSE_PARTS
from .keypoints import ANKLES, B, BODY_25

HEAD = (B["Nose"], B["REye"], B["LEye"], B["REar"], B["LEar"])
MIN_EXTREME_FRAMES = 3


# ---- per-frame measurements -------------------------------------------------------------------------

def clean(kp):
    """float64 copy of a [N, K, 3] keypoint array; non-finite or non-positive confidence -> missing (0, 0, 0)."""
    kp = np.array(kp, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise UserError(f"keypoints must have shape [N, K, 3], not {list(kp.shape)}")
    bad = ~np.isfinite(kp).all(axis=2) | ~(kp[..., 2] > 0)
    kp[bad] = 0.0
    return kp


def head_keypoints(bodies, min_confidence):
    """The HEAD keypoints confident (>= min_confidence) in some frame of every BODY_25 [N, 25, 3] of `bodies`."""
    have = [(clean(b)[..., 2] >= min_confidence).any(axis=0) for b in bodies]
    return tuple(k for k in HEAD if all(h[k] for h in have))


def frame_measures(body, min_confidence, head=HEAD):
    """Per frame of a BODY_25 [N, 25, 3]: ankle y (lower confident ankle), body height (to the highest confident
    keypoint of `head`) and full-body flag, mean x.

    Returns a dict of float64 [N] arrays (NaN where not measurable) and a bool [N] 'full'."""
    head = list(head)
    body = clean(body)
    if body.shape[1] != 25:
        raise UserError(f"body keypoints must be BODY_25 ([N, 25, 3]), not {list(body.shape)}")
    conf_ok = body[..., 2] >= min_confidence
    y = body[..., 1]
    ankle_ok = conf_ok[:, list(ANKLES)]
    ankle_y = np.where(ankle_ok, y[:, list(ANKLES)], -np.inf).max(axis=1)
    ankle_y[~ankle_ok.any(axis=1)] = np.nan
    head_ok = conf_ok[:, head]
    head_y = np.where(head_ok, y[:, head], np.inf).min(axis=1)
    head_y[~head_ok.any(axis=1)] = np.nan
    height = ankle_y - head_y
    full = ankle_ok.all(axis=1) & head_ok.any(axis=1)
    full &= np.nan_to_num(height, nan=0.0) > 0
    height[~full] = np.nan
    n_conf = conf_ok.sum(axis=1)
    center_x = np.where(conf_ok, body[..., 0], 0.0).sum(axis=1) / np.maximum(n_conf, 1)
    center_x[n_conf == 0] = np.nan
    return {"ankle_y": ankle_y, "height": height, "full": full, "center_x": center_x}


def _heights_near(ankle, heights, y0, band, height_percentile):
    """height_percentile of the heights of the frames whose ankle is within band of y0 (at least the 3 nearest)."""
    d = np.abs(ankle - y0)
    pick = d <= band
    if pick.sum() < MIN_EXTREME_FRAMES:
        pick = np.zeros_like(pick)
        pick[np.argsort(d, kind="stable")[:MIN_EXTREME_FRAMES]] = True
    return float(np.percentile(heights[pick], height_percentile))


def video_stats(body, name, *, min_confidence, ankle_percentile, close_tolerance, height_percentile,
                min_depth_range, head=HEAD):
    """Far/close/median ankle y and the body heights there of one video (a dict of floats), plus its measures."""
    m = frame_measures(body, min_confidence, head)
    full = m["full"]
    if not full.any():
        raise UserError(f"cannot normalize: the {name} has no frame that shows the whole body (both ankles and the "
                        f"face with confidence >= {min_confidence}); film head to feet")
    ankle, heights = m["ankle_y"][full], m["height"][full]
    far, close = (float(v) for v in np.percentile(ankle, [ankle_percentile, 100 - ankle_percentile]))
    median = float(np.median(ankle))
    rng = close - far
    height_all = float(np.percentile(heights, height_percentile))
    band = close_tolerance * rng
    centers = m["center_x"][np.isfinite(m["center_x"])]
    s = {
        "frames": int(len(body)), "full_body_frames": int(full.sum()),
        "far": far, "close": close, "median": median, "range": rng,
        "height": height_all,
        "height_far": _heights_near(ankle, heights, far, band, height_percentile),
        "height_close": _heights_near(ankle, heights, close, band, height_percentile),
        "height_median": _heights_near(ankle, heights, median, band, height_percentile),
        "center_x": float(np.median(centers)),
        "static": bool(rng < min_depth_range * height_all),
    }
    if s["static"]:  # stays at one depth: every frame is "at the median"
        s["height_median"] = height_all
    return s, m


# ---- the fit ------------------------------------------------------------------------------------------

def _fill_in_time(values, ok):
    """Linear interpolation over frame index of values[ok] into the frames where not ok (held at the ends)."""
    idx = np.arange(len(values))
    return np.interp(idx, idx[ok], values[ok])


def fit_normalization(src_body, tgt_body, *, min_confidence=0.3, ankle_percentile=5.0, close_tolerance=0.05,
                      height_percentile=90.0, min_depth_range=0.05, align_x=True, src_width=None, tgt_width=None,
                      names=("source", "target")):
    """Per-frame scale [N] and translation [N, 2] (x' = scale x + tx, y' = scale y + ty) that put the source's
    BODY_25 bodies [N, 25, 3] into the frame of the target's [M, 25, 3]; plus a JSON-able dict of statistics.

    src_width/tgt_width (frame widths in pixels) are needed only when align_x is false."""
    if not align_x and (src_width is None or tgt_width is None):
        raise ValueError("align_x=False needs src_width and tgt_width")
    head = head_keypoints((src_body, tgt_body), min_confidence)
    if not head:
        raise UserError(f"cannot normalize: the {names[0]} and the {names[1]} have no head keypoint (nose, eyes, "
                        f"ears with confidence >= {min_confidence}) in common to measure body heights to")
    kw = dict(min_confidence=min_confidence, ankle_percentile=ankle_percentile, close_tolerance=close_tolerance,
              height_percentile=height_percentile, min_depth_range=min_depth_range, head=head)
    src, m = video_stats(src_body, names[0], **kw)
    tgt, _ = video_stats(tgt_body, names[1], **kw)
    n = len(m["ankle_y"])
    ok = np.isfinite(m["ankle_y"])
    y = m["ankle_y"][ok]
    stats = {"source": src, "target": tgt, "head_keypoints": ",".join(BODY_25[k] for k in head)}
    if src["static"] or tgt["static"]:
        s = tgt["height_median"] / src["height_median"]
        scale_ok = np.full(len(y), s)
        ty_ok = np.full(len(y), tgt["median"] - s * src["median"])  # median ankle onto median ankle
        stats.update(mode="single", scale=s)
    else:
        s_far = tgt["height_far"] / src["height_far"]
        s_close = tgt["height_close"] / src["height_close"]
        t = np.clip((y - src["far"]) / src["range"], 0.0, 1.0)
        scale_ok = s_far + t * (s_close - s_far)
        y_band = src["far"] + t * src["range"]
        ankle_new = tgt["far"] + t * tgt["range"] + scale_ok * (y - y_band)
        ty_ok = ankle_new - scale_ok * y
        stats.update(mode="interpolated", scale_far=s_far, scale_close=s_close)
    scale = np.full(n, np.nan)
    ty = np.full(n, np.nan)
    scale[ok] = scale_ok
    ty[ok] = ty_ok
    scale, ty = _fill_in_time(scale, ok), _fill_in_time(ty, ok)
    if align_x:
        tx = tgt["center_x"] - scale * src["center_x"]
    else:
        tx = tgt_width / 2 - scale * (src_width / 2)
    if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(ty).all() and np.isfinite(tx).all()):
        raise UserError(f"cannot normalize: the fitted scale is not a finite positive number ({stats})")
    return scale, np.stack([tx, ty], axis=1), stats


def apply_normalization(keypoints, scale, translation):
    """x' = scale x + tx, y' = scale y + ty per frame of a [N, K, 3] array (float64); confidences kept, missing
    keypoints (confidence 0) stay (0, 0, 0)."""
    kp = clean(keypoints)
    scale = np.asarray(scale, np.float64)
    translation = np.asarray(translation, np.float64)
    if kp.shape[0] != len(scale) or translation.shape != (len(scale), 2):
        raise ValueError(f"{kp.shape[0]} frames but {len(scale)} scales and translations {translation.shape}")
    present = kp[..., 2] > 0
    out = kp.copy()
    out[..., :2] = kp[..., :2] * scale[:, None, None] + translation[:, None, :]
    out[~present] = 0.0
    return out


def smooth_keypoints(keypoints, sigma):
    """Gaussian over time (sigma in frames, 0 = off) of a [N, K, 3] array, each neighbour weighted by its
    confidence: missing keypoints (confidence 0) neither pull their neighbours nor get filled in."""
    kp = clean(keypoints)
    if sigma <= 0 or len(kp) < 2:
        return kp
    n = len(kp)
    radius = int(np.ceil(3 * sigma))
    w = kp[..., 2]
    wxy = kp[..., :2] * w[..., None]
    num = np.zeros_like(wxy)
    den = np.zeros_like(w)
    for d in range(-radius, radius + 1):
        g = np.exp(-0.5 * (d / sigma) ** 2)
        lo, hi = max(0, -d), min(n, n - d)  # out[i] takes frame i + d
        if lo >= hi:
            continue
        num[lo:hi] += g * wxy[lo + d:hi + d]
        den[lo:hi] += g * w[lo + d:hi + d]
    present = w > 0
    out = kp.copy()
    out[..., :2] = np.where(present[..., None], num / np.where(den > 0, den, 1.0)[..., None], 0.0)
    return out


def normalize_poses(poses, scale, translation, smooth_sigma):
    """All keypoint sets of a poses dict through apply_normalization and smooth_keypoints."""
    return {part: smooth_keypoints(apply_normalization(poses[part], scale, translation), smooth_sigma)
            for part in POSE_PARTS}


def plot_diagnostics(path, before, after, stats, scale):
    """PNG: the source's ankle y and body height per frame after normalization (left axes, target frame pixels)
    against the target's floor band and heights, and before it (right axes, grey, source frame pixels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tgt = stats["target"]
    frames = np.arange(len(scale))
    fig, axes = plt.subplots(3, 1, figsize=(13, 9), sharex=True, height_ratios=[3, 3, 1.3])

    def with_before(ax, key, label):
        right = ax.twinx()
        right.plot(frames, before[key], color="0.6", lw=1.0, label=f"source before ({label}, right axis)")
        right.set_ylabel("before: source frame px", color="0.45")
        right.tick_params(axis="y", colors="0.45")
        return right

    def legend_and_grid(ax, right):
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.08, 1.0))
        ax.grid(alpha=0.3)

    ax = axes[0]
    ax.axhspan(tgt["far"], tgt["close"], color="tab:red", alpha=0.15, lw=0)
    ax.axhline(tgt["far"], color="tab:red", ls="--", lw=1.2, label=f"target far ankle y {tgt['far']:.0f}")
    ax.axhline(tgt["close"], color="tab:red", ls="-", lw=1.2, label=f"target close ankle y {tgt['close']:.0f}")
    ax.axhline(tgt["median"], color="tab:red", ls=":", lw=1.2, label=f"target median ankle y {tgt['median']:.0f}")
    ax.plot(frames, after["ankle_y"], color="tab:blue", lw=1.8, label="source after (left axis)")
    right = with_before(ax, "ankle_y", "ankle y")
    for a in (ax, right):
        a.invert_yaxis()  # image rows: the floor is down, as in the video
    ax.set_ylabel("after: ankle y, target frame px\n(down = closer to the camera)")
    ax.set_title("floor line: the lower ankle of the source, after (blue) and before (grey) normalization")
    legend_and_grid(ax, right)

    ax = axes[1]
    if stats["mode"] == "single":
        ax.axhline(tgt["height_median"], color="tab:red", lw=1.2,
                   label=f"target height {tgt['height_median']:.0f} ({'all frames' if tgt['static'] else 'median'})")
    else:
        ax.axhline(tgt["height_far"], color="tab:red", ls="--", lw=1.2,
                   label=f"target height at far {tgt['height_far']:.0f}")
        ax.axhline(tgt["height_close"], color="tab:red", ls="-", lw=1.2,
                   label=f"target height at close {tgt['height_close']:.0f}")
    ax.plot(frames, after["height"], color="tab:blue", lw=1.8, label="source after (left axis)")
    right = with_before(ax, "height", "height")
    ax.set_ylabel(f"after: head-to-ankle height,\ntarget frame px\n(head: {stats['head_keypoints']})")
    ax.set_title("body height (full-body frames; dips are crouches and bends)")
    legend_and_grid(ax, right)

    ax = axes[2]
    ax.plot(frames, scale, color="tab:green", lw=1.5)
    ax.set_ylabel("scale")
    ax.set_xlabel("source frame")
    ax.grid(alpha=0.3)
    if stats["mode"] == "single":
        who = " and ".join(k for k in ("source", "target") if stats[k]["static"])
        mode = f"one scale {stats['scale']:.3f}, median ankle onto median ankle ({who} at one depth)"
    else:
        mode = f"scale {stats['scale_far']:.3f} at far -> {stats['scale_close']:.3f} at close"
    fig.suptitle(f"normalize: {mode}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)
