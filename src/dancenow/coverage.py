"""Pose coverage: how near each source pose comes to some pose of the target's training frames, and the source's
moments the target never shows (a generator cannot paint a pose it has not seen).

Poses are compared as the choreography network reads them: the 15 body keypoints of `choreo.motion.JOINTS`
relative to MidHip, over the sequence's median neck-to-midhip length (the torso length, the unit of distances
here), so that where and how large the person is in the frame does not count. The distance of two poses is the
largest distance of a keypoint confident in both (the arm that is up, not the average of a still body)."""

import re

import numpy as np

from .choreo.motion import JOINTS, ROOT, body_scale
from .keypoints import B, BODY_25

MIN_CONFIDENCE = 0.3
MIN_JOINTS = 6          # fewer common confident keypoints: the poses are not compared (no person, a partial view)
MAX_TARGET_POSES = 3000  # the target's training frames are subsampled evenly to at most this many


def relative(body, scale):
    """[F, 25, 3] -> ([F, J, 2] keypoints of JOINTS relative to MidHip in torso lengths, [F, J] confident)."""
    xy = body[:, JOINTS, :2].astype(np.float64)
    conf = body[:, JOINTS, 2] >= MIN_CONFIDENCE
    root = body[:, ROOT, :2].astype(np.float64)
    ok = conf & (body[:, ROOT, 2] >= MIN_CONFIDENCE)[:, None]
    return (xy - root[:, None]) / scale, ok


def nearest(source, target, chunk=64):
    """For each source frame, (distance to its nearest target pose in torso lengths, inf where no target pose has
    MIN_JOINTS keypoints in common; the keypoint (index into JOINTS) that is farthest there). `source` and
    `target` are `relative` pairs."""
    s_xy, s_ok = source
    t_xy, t_ok = target
    n = len(s_xy)
    dist, worst = np.full(n, np.inf), np.zeros(n, int)
    for a in range(0, n, chunk):
        d = np.linalg.norm(s_xy[a:a + chunk, None] - t_xy[None], axis=-1)       # [c, T, J]
        both = s_ok[a:a + chunk, None] & t_ok[None]
        d = np.where(both, d, -np.inf)
        per_pair = d.max(axis=-1)
        per_pair[both.sum(axis=-1) < MIN_JOINTS] = np.inf
        best = per_pair.argmin(axis=1)
        rows = np.arange(len(best))
        dist[a:a + chunk] = per_pair[rows, best]
        worst[a:a + chunk] = d[rows, best].argmax(axis=-1)
    return dist, worst


def describe(body):
    """'both arms above the head' (or one) when the wrists are above the nose in most of these frames [F, 25, 3],
    else None."""
    nose = body[:, B["Nose"], 1]
    sides = []
    for side in ("right", "left"):
        wrist = body[:, B[f"{side[0].upper()}Wrist"]]
        if ((wrist[:, 2] >= MIN_CONFIDENCE) & (wrist[:, 1] < nose)).mean() > 0.5:
            sides.append(side)
    if len(sides) == 2:
        return "both arms above the head"
    if sides:
        return f"the {sides[0]} arm above the head"
    return None


def spoken(name):
    """'RWrist' -> 'right wrist', 'MidHip' -> 'mid hip'."""
    side = {"R": "right ", "L": "left "}.get(name[0], "") if name[1:2].isupper() else ""
    rest = name[1:] if side else name
    return side + " ".join(w.lower() for w in re.findall(r"[A-Z][a-z]*", rest))


def moments(uncovered, fps, min_s=0.2, gap_s=0.25):
    """[(first frame, last frame)] of the runs of `uncovered` frames at least min_s long, runs less than gap_s
    apart merged."""
    runs, start = [], None
    for i, u in enumerate(np.append(uncovered, False)):
        if u and start is None:
            start = i
        elif not u and start is not None:
            runs.append([start, i - 1])
            start = None
    merged = []
    for r in runs:
        if merged and (r[0] - merged[-1][1] - 1) / fps < gap_s:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(a, b) for a, b in merged if (b - a + 1) / fps >= min_s]


def clock(seconds):
    m, s = divmod(float(seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"


def coverage(source_body, target_body, fps, threshold):
    """The coverage report of a source pose sequence [F, 25, 3] by target poses [T, 25, 3] (its training frames):
    per frame distances, the covered fraction, and the uncovered moments with what the source does in them."""
    s_scale, t_scale = body_scale(source_body), body_scale(target_body)
    target = target_body
    if len(target) > MAX_TARGET_POSES:
        target = target[np.linspace(0, len(target) - 1, MAX_TARGET_POSES).round().astype(int)]
    dist, worst = nearest(relative(source_body, s_scale), relative(target, t_scale))
    seen = np.isfinite(dist)
    uncovered = seen & (dist > threshold)
    found = []
    for a, b in moments(uncovered, fps):
        what = describe(source_body[a:b + 1])
        joint = np.bincount(worst[a:b + 1], minlength=len(JOINTS)).argmax()
        what = what or f"the {spoken(BODY_25[JOINTS[joint]])} where no target frame has it"
        found.append({"first_frame": int(a), "last_frame": int(b), "start": clock(a / fps),
                      "end": clock((b + 1) / fps), "what": what,
                      "nearest_distance": float(np.median(dist[a:b + 1])),
                      "text": f"{what} at {clock(a / fps)}-{clock((b + 1) / fps)}: no target frame within "
                              f"{threshold:g} torso lengths (the nearest {np.median(dist[a:b + 1]):.2f})"})
    return {"frames": int(len(dist)), "frames_with_a_pose": int(seen.sum()), "threshold": float(threshold),
            "unit": "torso lengths (median neck-to-midhip of each video), the largest keypoint distance",
            "covered_fraction": float((seen & ~uncovered).sum() / max(1, seen.sum())),
            "uncovered_frames": [int(i) for i in np.flatnonzero(uncovered)],
            "distance": [float(d) if np.isfinite(d) else None for d in dist],
            "moments": found}
