"""Procedural performers: body proportions, clothes, and a routine as joint positions over time (pure numpy).

A performer is a 2D skeleton seen from the front. Its routine sets a handful of angles and offsets as functions of
time; forward kinematics (arms) and two-link IK (legs, feet on the floor) turn them into joint positions in pixels.
Body lengths are in body heights (sole to head top = 1); a person's left is on the image's right (+x).
"""

from dataclasses import dataclass

import numpy as np

BPM = 120.0  # the dancer's beat and the music's tempo


@dataclass(frozen=True)
class Body:
    height: float     # standing height as a fraction of the frame height (at depth scale 1)
    head: float       # chin to top of the skull
    neck: float
    torso: float      # hip line to the base of the neck
    shoulder: float   # half the distance between the shoulder joints
    hip: float        # half the distance between the hip joints
    waist: float      # half the waist width
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    ankle: float      # ankle height over the sole
    build: float      # limb thickness factor


@dataclass(frozen=True)
class Look:
    skin: tuple       # RGB
    hair: tuple
    hair_style: str   # short | long | bun
    shirt: tuple
    sleeves: str      # short | long
    legwear: str      # trousers | skirt
    pants: tuple      # the trousers or the skirt
    shoes: tuple
    eyes: tuple
    lips: tuple
    wall: tuple
    floor: tuple
    tights: tuple = (48, 44, 50)  # legs under a skirt


@dataclass(frozen=True)
class Performer:
    body: Body
    look: Look
    routine: str      # dance (on the beat) | range (covers many poses, moves toward/away from the camera)


PERFORMERS = {
    "dancer": Performer(
        Body(height=0.64, head=0.13, neck=0.045, torso=0.30, shoulder=0.115, hip=0.06, waist=0.085,
             upper_arm=0.175, forearm=0.15, hand=0.10, thigh=0.245, shin=0.235, ankle=0.04, build=1.0),
        Look(skin=(224, 172, 135), hair=(58, 36, 24), hair_style="short", shirt=(206, 52, 44), sleeves="short",
             legwear="trousers", pants=(42, 58, 104), shoes=(236, 236, 230), eyes=(70, 45, 30), lips=(170, 80, 80),
             wall=(176, 196, 214), floor=(150, 112, 78)),
        "dance"),
    # tall and slender: long legs, narrow shoulders; long blond hair, green top, skirt over dark tights
    "target_a": Performer(
        Body(height=0.67, head=0.125, neck=0.05, torso=0.28, shoulder=0.092, hip=0.058, waist=0.068,
             upper_arm=0.17, forearm=0.145, hand=0.09, thigh=0.265, shin=0.255, ankle=0.04, build=0.9),
        Look(skin=(240, 200, 170), hair=(214, 176, 96), hair_style="long", shirt=(48, 150, 96), sleeves="long",
             legwear="skirt", pants=(112, 36, 70), shoes=(120, 40, 40), eyes=(60, 110, 150), lips=(196, 96, 110),
             wall=(214, 206, 190), floor=(110, 110, 116)),
        "range"),
    # shorter and stocky: broad shoulders, short legs, big head; black hair in a bun, yellow sweater, khakis
    "target_b": Performer(
        Body(height=0.60, head=0.14, neck=0.035, torso=0.31, shoulder=0.145, hip=0.072, waist=0.11,
             upper_arm=0.165, forearm=0.14, hand=0.095, thigh=0.23, shin=0.22, ankle=0.04, build=1.2),
        Look(skin=(150, 100, 70), hair=(20, 18, 18), hair_style="bun", shirt=(236, 184, 40), sleeves="long",
             legwear="trousers", pants=(176, 150, 110), shoes=(30, 30, 34), eyes=(40, 26, 18), lips=(120, 60, 56),
             wall=(190, 212, 188), floor=(170, 150, 120)),
        "range"),
}

# Camera: horizon and the sole line at depth scale 1, as fractions of the frame height. A performer at depth
# scale s (bigger = closer) stands at horizon + s * (sole - horizon), drawn s times as large.
HORIZON, SOLE, WALL_BASE = 0.40, 0.90, 0.60
MARGIN = 0.02
DEPTH_RANGE = {"dance": (1.0, 1.0), "range": (0.9, 1.06)}
STANCE = 0.085  # half the distance between the feet at rest

# Joints a pose estimator reports, mediapipe Pose indices -> names here.
MEDIAPIPE = {0: "nose", 11: "l_shoulder", 12: "r_shoulder", 13: "l_elbow", 14: "r_elbow", 15: "l_wrist",
             16: "r_wrist", 23: "l_hip", 24: "r_hip", 25: "l_knee", 26: "r_knee", 27: "l_ankle", 28: "r_ankle"}


# ---------------------------------------------------------------- routines: angles and offsets over time

def _smooth_keys(phase, values):
    """Periodic keyframes at phase 0, 1, 2, ... (period len(values)), eased in and out (zero velocity at keys)."""
    values = np.asarray(values, float)
    k = np.floor(phase).astype(int)
    f = phase - k
    ease = 0.5 - 0.5 * np.cos(np.pi * f)
    a, b = values[k % len(values)], values[(k + 1) % len(values)]
    return a + (b - a) * ease


def _rest(n):
    z = np.zeros(n)
    return dict(feet_l=z + STANCE, feet_r=z - STANCE, lift_l=z.copy(), lift_r=z.copy(), squat=z.copy(),
                sway=z.copy(), tilt=z.copy(), lean=z.copy(), head=z.copy(), a_l=z + 0.25, b_l=z + 0.2,
                a_r=z + 0.25, b_r=z + 0.2, wrist=z.copy(), depth=z + 1.0)


def _bounce(ph, depth):
    """Knees dip on every beat."""
    return depth * (0.5 + 0.5 * np.cos(2 * np.pi * ph))


def _move_wave(ph, amp, side):
    p = _rest(len(ph))
    w = np.pi * ph * side
    p.update(a_l=1.55 + 0.32 * amp * np.sin(w), b_l=0.55 * amp * np.sin(w - 1.1),
             a_r=1.55 + 0.32 * amp * np.sin(w - 2.2), b_r=0.55 * amp * np.sin(w - 3.3),
             head=0.08 * np.sin(w - 1.6), lean=0.05 * np.sin(w - 1.6), squat=_bounce(ph, 0.05 * amp))
    return p


def _move_step(ph, amp, side):
    p = _rest(len(ph))
    a = 0.13 * amp * side
    p["feet_l"] = _smooth_keys(ph, [STANCE, STANCE + a, STANCE + a, STANCE + a]) if side > 0 else \
        _smooth_keys(ph, [STANCE, STANCE, STANCE + a, STANCE])
    p["feet_r"] = _smooth_keys(ph, [-STANCE, -STANCE, -STANCE + a, -STANCE]) if side > 0 else \
        _smooth_keys(ph, [-STANCE, -STANCE + a, -STANCE + a, -STANCE + a])
    for f, lift in (("feet_l", "lift_l"), ("feet_r", "lift_r")):
        p[lift] = 0.35 * np.abs(np.gradient(p[f], ph))
    swing = np.sin(np.pi * ph)
    p.update(a_l=0.5 + 0.3 * swing, b_l=0.8 + 0.4 * swing, a_r=0.5 - 0.3 * swing, b_r=0.8 - 0.4 * swing,
             sway=0.025 * side * np.sin(np.pi * ph / 2), squat=_bounce(ph, 0.06 * amp), head=0.06 * swing)
    return p


def _move_bend(ph, amp, side):
    p = _rest(len(ph))
    down = 0.5 + 0.5 * np.cos(np.pi * ph)
    p.update(feet_l=p["feet_l"] + 0.04, feet_r=p["feet_r"] - 0.04, squat=0.2 * amp * down,
             a_l=2.35 - 1.75 * down, a_r=2.35 - 1.75 * down, b_l=0.3 - 0.15 * down, b_r=0.3 - 0.15 * down,
             lean=0.04 * side * np.sin(np.pi * ph / 2))
    return p


def _move_overhead(ph, amp, side):
    p = _rest(len(ph))
    c, s = np.cos(np.pi * ph / 2 * side), np.sin(np.pi * ph / 2 * side)
    p.update(a_l=2.45 + 0.3 * amp * s, b_l=0.85 + 0.35 * c, a_r=2.45 - 0.3 * amp * s, b_r=0.85 - 0.35 * c,
             sway=0.04 * np.sin(np.pi * ph), tilt=0.1 * np.sin(np.pi * ph), lean=-0.05 * np.sin(np.pi * ph),
             squat=_bounce(ph, 0.04))
    return p


def _move_sway(ph, amp, side):
    p = _rest(len(ph))
    s = np.sin(np.pi * ph * side)
    p.update(sway=0.05 * amp * s, tilt=0.14 * amp * s, lean=-0.07 * amp * s, head=0.1 * s, a_l=0.65, b_l=-1.85,
             a_r=0.65, b_r=-1.85, squat=_bounce(ph, 0.05))
    return p


def _move_disco(ph, amp, side):
    p = _rest(len(ph))
    up = _smooth_keys(ph / 2 if side > 0 else ph / 2 + 1, [1.0, 0.0])
    p.update(a_l=0.4 + 2.3 * up, a_r=2.7 - 2.3 * up, b_l=0.15 + 0.5 * (1 - up), b_r=0.15 + 0.5 * up,
             sway=0.05 * (up - 0.5), tilt=0.12 * (0.5 - up), head=0.12 * (up - 0.5), squat=_bounce(ph, 0.06 * amp))
    return p


MOVES = [_move_wave, _move_step, _move_bend, _move_overhead, _move_sway, _move_disco]
MOVE_BEATS = 4


def dance_routine(t, rng):
    """A sequence of 4-beat moves picked by `rng`, cross-faded over half a beat, on the beat of BPM."""
    ph = t * BPM / 60.0
    n_moves = int(ph[-1] // MOVE_BEATS) + 2 if len(ph) else 1
    order = [int(rng.integers(len(MOVES)))]
    while len(order) < n_moves:
        order.append(int((order[-1] + rng.integers(1, len(MOVES))) % len(MOVES)))
    out = {k: np.zeros_like(t) for k in _rest(1)}
    for i, m in enumerate(order):
        start = i * MOVE_BEATS
        fade_in = np.clip((ph - start + 0.5) / 0.5, 0, 1) if i else np.ones_like(ph)
        fade_out = 1 - np.clip((ph - start - MOVE_BEATS + 0.5) / 0.5, 0, 1)
        w = fade_in * fade_out
        w = w * w * (3 - 2 * w)
        if not w.any():
            continue
        params = MOVES[m](ph - start, rng.uniform(0.8, 1.2), rng.choice([-1, 1]))
        for k in out:
            out[k] += w * params[k]
    return out


def _wiggle(t, rng, lo, hi, fmin=0.04, fmax=0.35, n=3):
    """A smooth random signal in [lo, hi]: a normalized sum of n sinusoids."""
    f = rng.uniform(fmin, fmax, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.5, 1.0, n)
    u = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + phase[:, None])).sum(0) / amp.sum()
    u = np.clip(u * 1.6, -1, 1)
    return lo + (hi - lo) * (0.5 + 0.5 * u)


def _steps(target, fps, threshold=0.05, duration=0.4):
    """Feet that step: stay planted until the desired position is `threshold` away, then step there."""
    n, k = len(target), max(2, int(round(duration * fps)))
    pos, lift = np.empty(n), np.zeros(n)
    cur, i = target[0], 0
    while i < n:
        if abs(target[i] - cur) > threshold and i + k <= n:
            goal = target[min(n - 1, i + k)]
            ease = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, k + 1) / k)
            pos[i:i + k] = cur + (goal - cur) * ease
            lift[i:i + k] = np.minimum(0.04, abs(goal - cur) * 0.4) * np.sin(np.pi * np.arange(1, k + 1) / k)
            cur, i = goal, i + k
        else:
            pos[i] = cur
            i += 1
    return pos, lift


def range_routine(t, rng, fps):
    """Slow, unrhythmic motion through a broad range of poses: arms at all angles, squats, steps, depth."""
    p = _rest(len(t))
    for side in ("l", "r"):
        a = _wiggle(t, rng, 0.1, 2.65, 0.05, 0.3)
        b = _wiggle(t, rng, -1.4, 1.6, 0.08, 0.4)  # elbows folded further hide the forearm behind the upper arm
        p[f"a_{side}"], p[f"b_{side}"] = a, np.clip(b, -1.2 - a, 4.0 - a)
    x = _wiggle(t, rng, -0.14, 0.14, 0.03, 0.12)
    width = _wiggle(t, rng, 0.06, 0.15, 0.05, 0.2)
    (p["feet_l"], p["lift_l"]), (p["feet_r"], p["lift_r"]) = _steps(x + width, fps), _steps(x - width, fps)
    p.update(squat=np.clip(_wiggle(t, rng, -0.1, 0.28, 0.05, 0.25), 0, None),
             sway=_wiggle(t, rng, -0.04, 0.04), tilt=_wiggle(t, rng, -0.1, 0.1), lean=_wiggle(t, rng, -0.1, 0.1),
             head=_wiggle(t, rng, -0.12, 0.12), wrist=_wiggle(t, rng, -0.4, 0.4),
             depth=_wiggle(t, rng, *DEPTH_RANGE["range"], 0.02, 0.08))
    return p


# ---------------------------------------------------------------- kinematics

def _rot(v, ang):
    """Rotate 2D vectors (..., 2) (y up) counter-clockwise by ang (...)."""
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)


def _vec(x, y):
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    return np.stack([x, y], -1)


def _knee(hip, ankle, thigh, shin, outward):
    """Two-link IK; the knee bends out to the side (a frontal view of knees going forward and out)."""
    d = ankle - hip
    dist = np.clip(np.linalg.norm(d, axis=-1), 1e-6, 0.999 * (thigh + shin))
    u = d / dist[:, None]
    along = (thigh ** 2 - shin ** 2 + dist ** 2) / (2 * dist)
    h = np.sqrt(np.clip(thigh ** 2 - along ** 2, 0, None)) * 0.35
    perp = np.stack([-u[:, 1], u[:, 0]], -1)
    perp *= np.sign(perp[:, :1] * outward + 1e-9)
    return hip + u * along[:, None] + perp * h[:, None]


def forward_kinematics(p, body):
    """Joint positions in body units (x right, y up, origin on the floor under the body's center)."""
    b = body
    ankle_l = _vec(p["feet_l"], b.ankle + p["lift_l"])
    ankle_r = _vec(p["feet_r"], b.ankle + p["lift_r"])
    px = 0.5 * (p["feet_l"] + p["feet_r"]) + p["sway"]
    hip_off = _rot(_vec(b.hip, 0 * px), p["tilt"])  # pelvis center -> left hip
    reach = (b.thigh + b.shin) * (1 - p["squat"]) * 0.995
    ys = []
    for ankle, off in ((ankle_l, hip_off), (ankle_r, -hip_off)):
        dx = np.minimum(np.abs(px + off[:, 0] - ankle[:, 0]), reach * 0.95)
        ys.append(ankle[:, 1] + np.sqrt(reach ** 2 - dx ** 2) - off[:, 1])
    pelvis = _vec(px, np.minimum(*ys))
    j = {"pelvis": pelvis, "l_hip": pelvis + hip_off, "r_hip": pelvis - hip_off, "l_ankle": ankle_l,
         "r_ankle": ankle_r}
    for s in "lr":
        j[f"{s}_knee"] = _knee(j[f"{s}_hip"], j[f"{s}_ankle"], b.thigh, b.shin, 1 if s == "l" else -1)
    up = _rot(_vec(0 * px, 1), -p["lean"])
    right = _rot(_vec(1, 0 * px), -p["lean"])
    neck = pelvis + up * b.torso
    j["neck"] = neck
    for s, sign in (("l", 1), ("r", -1)):
        sh = neck + right * (sign * b.shoulder) - up * 0.015
        a, bend = p[f"a_{s}"], p[f"b_{s}"]

        def along(ang):
            return right * (sign * np.sin(ang))[:, None] - up * np.cos(ang)[:, None]

        j[f"{s}_shoulder"] = sh
        j[f"{s}_elbow"] = sh + along(a) * b.upper_arm
        j[f"{s}_wrist"] = j[f"{s}_elbow"] + along(a + bend) * b.forearm
        j[f"{s}_hand"] = j[f"{s}_wrist"] + along(a + bend + p["wrist"]) * b.hand
    head_up = _rot(up, -p["head"])
    chin = neck + up * b.neck
    j["chin"] = chin
    j["head"] = chin + head_up * (b.head / 2)       # center of the skull ellipse
    j["head_top"] = chin + head_up * (b.head * 1.08)  # with hair
    j["head_up"] = head_up                          # a direction, not a point
    j["nose"] = j["head"] - head_up * (0.19 * b.head)
    return j


def skeleton(performer, seed, n_frames, fps, width, height):
    """Joint positions in pixels, each (n_frames, 2) (x right, y down; names as in MEDIAPIPE, plus pelvis, neck,
    chin, head (skull center), head_top, l/r_hand (fingertips)), `head_up` (unit vectors, image coordinates), and
    per frame `scale` (pixels per body height) and `sole` (the floor line's y). Deterministic in (performer, seed)."""
    perf = PERFORMERS[performer]
    b = perf.body
    rng = np.random.default_rng([seed, list(PERFORMERS).index(performer)])
    t = np.arange(n_frames) / fps
    p = dance_routine(t, rng) if perf.routine == "dance" else range_routine(t, rng, fps)
    j = forward_kinematics(p, b)
    # pixels per body height at depth 1: the tallest reach (arms straight up) and the widest span fit the frame
    d_hi = DEPTH_RANGE[perf.routine][1]
    sole_hi = HORIZON + d_hi * (SOLE - HORIZON)
    reach = b.ankle + b.shin + b.thigh + b.torso - 0.015 + b.upper_arm + b.forearm + b.hand + 0.02
    span = 0.2 + b.shoulder + b.upper_arm + b.forearm + b.hand
    unit = min(b.height * height, (sole_hi - MARGIN) * height / (reach * d_hi),
               (0.5 - MARGIN) * width / (span * d_hi))
    depth = p["depth"]
    scale = unit * depth
    sole = height * (HORIZON + depth * (SOLE - HORIZON))
    out = {}
    for k, v in j.items():
        if k == "head_up":
            out[k] = v * np.array([1.0, -1.0])
        else:
            out[k] = np.stack([width / 2 + v[:, 0] * scale, sole - v[:, 1] * scale], -1)
    # a safety net: shift a frame's figure sideways where a wide pose near the edge would leave the frame
    pts = np.stack([out[k] for k in out if k != "head_up"], 1)
    pad = 0.06 * scale
    lo = pts[..., 0].min(1) - pad
    hi = pts[..., 0].max(1) + pad
    shift = np.maximum(0, -lo) - np.maximum(0, hi - width)
    for k in out:
        if k != "head_up":
            out[k][:, 0] += shift
    out["scale"] = scale
    out["sole"] = sole
    return out


def body25(joints):
    """BODY_25 keypoints [N,25,3] (x, y, confidence) of a skeleton's joints: the joints mediapipe also has, Neck and
    MidHip; the eyes, ears and feet a procedural performer does not define have confidence 0."""
    from ..keypoints import B, BLAZEPOSE_TO_BODY25

    n = len(joints["nose"])
    out = np.zeros((n, 25, 3), np.float32)
    names = {b: MEDIAPIPE[k] for b, k in BLAZEPOSE_TO_BODY25.items() if k in MEDIAPIPE}
    names.update({B["Neck"]: "neck", B["MidHip"]: "pelvis"})
    for b, name in names.items():
        out[:, b, :2], out[:, b, 2] = joints[name], 1.0
    return out
