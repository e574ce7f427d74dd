"""choreo: BVH motion capture and/or poses.h5 of videos -> a new dance (poses.h5, a stick-figure mp4, metrics.json).

1. Every source becomes a BODY_25 sequence in body units (neck-to-midhip = 1, the 15 keypoints of `motion.JOINTS`,
   gaps interpolated) at `choreo.fps`: BVH files through forward kinematics and a front view (bvh.py), poses.h5
   files from their `body` and their own fps.
2. A choreography network (model.py: an acLSTM) is trained on their motion features, or the one at `choreo.model`
   is reused when it was trained with the same training settings on the same source files (a sha256 of both is
   stored with it).
3. It reads `seed_frames` real frames (a window of the training data chosen by the seed) and free-runs for
   `seconds`; the decoded dance is placed on a `height` x `width` canvas: the dancer about 0.7 of the frame tall
   (from the training data's median nose-to-ankle extent), centred horizontally on their mean root position, feet
   near the bottom; shrunk and shifted only if the dance would leave the canvas.
4. metrics.json judges it: motion energy per 2 s against the training range (and whether it froze), bone lengths
   against the training skeleton, NaNs, novelty (distance to the nearest training window) against the copy
   threshold, and the training loss.
"""

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..config import section
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..keypoints import B
from . import bvh, model as model_mod, motion
from .motion import JOINTS, ROOT

log = logging.getLogger(__name__)

OUTPUTS = ("output", "video", "metrics", "model")
TRAIN_KEYS = ("hidden", "layers", "window", "batch_size", "iterations", "lr", "auto_condition", "select_every",
              "select_seconds", "temperature")  # temperature: the model selection's free runs use it
DANCER_HEIGHT = 0.7       # fraction of the canvas height the dancer's nose-to-ankle extent takes
FEET_AT = 0.95            # fraction of the canvas height where the dancer's (median) lower ankle stands
MARGIN = 0.02             # keypoints stay this fraction of the canvas inside its border
ENERGY_WINDOW_S = 2.0
DRIFT_S = 4.0             # root motion slower than this is drift, taken out before placing the dance


# ---- sources ----------------------------------------------------------------------------------------

def _body_units(body25, fps_in, fps_out, name):
    """Poses [F, 25, 3] (any units, y down) -> [F', 25, 3] at fps_out, JOINTS only (gaps filled), neck-to-midhip = 1."""
    try:
        xy = motion.fill_missing(body25, JOINTS)
        scale = motion.body_scale(body25, JOINTS)
    except ValueError as e:
        raise UserError(f"{name}: no usable body: {e}") from None
    out = np.zeros((len(xy), 25, 3), np.float64)
    out[:, JOINTS, :2] = xy / scale
    out[:, JOINTS, 2] = 1.0
    out = bvh.resample(out, fps_in, fps_out)
    return out.astype(np.float32)


def load_bvh(path, fps):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"choreo: BVH file not found: {path}")
    m = bvh.read_bvh(path)
    if m.n_frames < 2:
        raise UserError(f"{path}: the BVH file has {m.n_frames} frames; a dance needs more")
    body = bvh.to_body25(bvh.forward_kinematics(m), m.names)
    return _body_units(body, m.fps, fps, str(path))


def load_poses(path, fps):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"choreo: poses file not found: {path}")
    data = h5.read_poses(path)
    if "body" not in data or "fps" not in data["attrs"]:
        raise UserError(f"{path}: not a poses.h5 of `dancenow pose` (no 'body' keypoints or no fps attribute)")
    body = np.asarray(data["body"], np.float64)
    if body.ndim != 3 or body.shape[1:] != (25, 3) or len(body) < 2:
        raise UserError(f"{path}: body keypoints must be BODY_25 [N >= 2, 25, 3], not {list(body.shape)}")
    return _body_units(body, float(data["attrs"]["fps"]), fps, str(path))


def load_sources(c):
    bvhs, poses = list(c["bvh"] or []), list(c["poses"] or [])
    if not bvhs and not poses:
        raise UserError("choreo: no training data: give BVH files (choreo.bvh=[a.bvh,...]) and/or poses.h5 files "
                        "(choreo.poses=[poses.h5,...])")
    fps = float(c["fps"])
    if not fps > 0:
        raise UserError(f"choreo.fps must be positive, not {c['fps']!r}")
    seqs = [("bvh", p, load_bvh(p, fps)) for p in bvhs] + [("poses", p, load_poses(p, fps)) for p in poses]
    for kind, p, s in seqs:
        log.info("%s %s: %d frames at %g fps", kind, p, len(s), fps)
    return seqs


# ---- the model --------------------------------------------------------------------------------------

def training_key(c, seed, sources):
    """sha256 of the training settings, the seed, the fps and the sources' contents (in order)."""
    key = {"train": {k: c[k] for k in TRAIN_KEYS}, "seed": int(seed), "fps": float(c["fps"]),
           "sources": [[kind, h5.sha256_file(p)] for kind, p, _ in sources]}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def load_cached(path, key):
    """(model, history) of the model file at `path` if it was trained under `key`, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("key") != key:
            log.info("model %s was trained with other settings or sources: training anew", path)
            return None
        cfg = saved["config"]
        net = model_mod.ChoreoNet(saved["dim"], cfg["hidden"], cfg["layers"], cfg["cell"])
        net.load_state_dict(saved["state_dict"])
    except Exception as e:  # an unreadable or foreign file is retrained over, not fatal
        log.warning("model %s is not a usable choreo model (%s): training anew", path, e)
        return None
    net.eval()
    return net, {"loss": list(saved["loss"]), "config": cfg, "iteration": saved["iteration"],
                 "checks": saved["checks"]}


def train_or_reuse(c, seed, sources, features):
    key = training_key(c, seed, sources)
    cached = load_cached(c["model"], key)
    if cached is not None:
        log.info("reusing the trained model %s (same training settings and sources)", c["model"])
        return cached[0], cached[1], True
    cfg = model_mod.ChoreoConfig(hidden=int(c["hidden"]), layers=int(c["layers"]), window=int(c["window"]),
                                 batch_size=int(c["batch_size"]), iterations=int(c["iterations"]),
                                 lr=float(c["lr"]), auto_condition=bool(c["auto_condition"]),
                                 select_every=int(c["select_every"]), select_seconds=float(c["select_seconds"]),
                                 select_temperature=float(c["temperature"]),
                                 seed=int(seed))
    if max(len(f) for f in features) < cfg.window + 1:
        raise UserError(f"choreo: no source has the {cfg.window + 1} frames of a training window at "
                        f"{c['fps']} fps (longest: {max(len(f) for f in features)}); lower choreo.window")
    log.info("training the choreography network: %d iterations, %d x %d %s", cfg.iterations, cfg.layers,
             cfg.hidden, cfg.cell)
    net, history = model_mod.train(features, float(c["fps"]), cfg)
    with atomic_path(c["model"]) as tmp:
        torch.save({"key": key, "config": dataclasses.asdict(cfg), "dim": net.dim, "state_dict": net.state_dict(),
                    "loss": [float(x) for x in history["loss"]], "iteration": history["iteration"],
                    "checks": history.get("checks", [])}, tmp)
    log.info("training loss %.4f -> %.4f; saved %s", history["loss"][0], history["loss"][-1], c["model"])
    return net, history, False


# ---- placing the dance on the canvas ----------------------------------------------------------------

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


# ---- metrics ----------------------------------------------------------------------------------------

def judge(dance, training, fps, unit, history):
    energy = model_mod.motion_energy(dance, fps, ENERGY_WINDOW_S, unit=unit)
    trange = model_mod.energy_range(training, fps, ENERGY_WINDOW_S, unit=unit)
    bone_error = model_mod.bone_length_error(dance, model_mod.bone_ranges(training))
    window = max(2, int(round(ENERGY_WINDOW_S * fps)))
    usable = [s for s in training if len(s) >= window]
    nov = model_mod.novelty(dance, usable, window, unit=unit) if usable and len(dance) >= window else np.zeros(0)
    thr = model_mod.copy_threshold(training, unit=unit)
    fin = lambda a: [float(x) for x in a]  # noqa: E731
    return {
        "frames": int(len(dance)), "fps": float(fps),
        "unit": "body heights (median nose-to-ankle extent of the training data)",
        "body_height_in_torso_lengths": float(unit),
        "motion_energy": {"window_s": ENERGY_WINDOW_S, "per_window": fin(energy),
                          "min": float(energy.min()), "max": float(energy.max()), "training_range": fin(trange)},
        "frozen": model_mod.frozen(energy, trange),
        "frozen_rule": "some 2 s window moves less than the calmest 2 s of the training data",
        "energy_in_range": model_mod.energy_in_range(energy, trange),
        "bone_length_error": bone_error,
        "bone_length_rule": "the largest relative excess of a bone's length beyond the range of its 2D lengths in the "
                            f"training data (0 = always within it); fallen apart above {model_mod.BONE_TOLERANCE}",
        "fell_apart": bool(bone_error > model_mod.BONE_TOLERANCE),
        "nan": model_mod.has_nan(dance),
        "novelty": {"window_frames": window, "per_window": fin(nov),
                    "min": float(nov.min()) if len(nov) else None,
                    "median": float(np.median(nov)) if len(nov) else None,
                    "copy_threshold": thr,
                    "copy_rule": "a window nearer than 2 x the training data's median frame-to-frame root-aligned "
                                 "joint motion to some training window is a copy",
                    "copied_windows": int((nov < thr).sum())},
        "novel": bool(len(nov) and (nov >= thr).all()),
        "training": {"loss_first": float(history["loss"][0]), "loss_last": float(history["loss"][-1]),
                     "iterations": len(history["loss"]), "kept_iteration": int(history["iteration"]),
                     "free_running_checks": history.get("checks", [])},
    }


# ---- the stage --------------------------------------------------------------------------------------

def _check(c):
    for k in ("seconds", "height", "width", "seed_frames", "window", "hidden", "layers", "batch_size",
              "iterations", "select_seconds"):
        if not isinstance(c[k], (int, float)) or isinstance(c[k], bool) or not c[k] > 0:
            raise UserError(f"choreo.{k} must be a positive number, not {c[k]!r}")
    if not (isinstance(c["select_every"], int) and c["select_every"] >= 0):
        raise UserError(f"choreo.select_every must be an integer >= 0, not {c['select_every']!r}")
    if not (isinstance(c["temperature"], (int, float)) and c["temperature"] >= 0):
        raise UserError(f"choreo.temperature must be >= 0, not {c['temperature']!r}")
    for k in ("bvh", "poses"):
        if c[k] is not None and not isinstance(c[k], list):
            raise UserError(f"choreo.{k} must be a list of files, e.g. choreo.{k}=[a,b], not {c[k]!r}")


def run(cfg):
    c = section(cfg, "choreo")
    _check(c)
    seed, fps = int(cfg.seed), float(c["fps"])
    height, width = int(c["height"]), int(c["width"])
    sources = load_sources(c)
    training = [s for _, _, s in sources]
    features = [motion.encode(s, scale=1.0)[0] for s in training]
    net, history, reused = train_or_reuse(c, seed, sources, features)

    n = int(round(float(c["seconds"]) * fps))
    rng = np.random.default_rng(seed)
    src = features[int(rng.integers(len(features)))]
    s = min(int(c["seed_frames"]), len(src))
    start = int(rng.integers(len(src) - s + 1))
    gen = model_mod.generate(net, src[start:start + s], n, float(c["temperature"]), seed=seed)
    dance = motion.decode(gen)
    if model_mod.has_nan(dance):
        raise UserError("choreo: the network generated NaN/inf poses (training diverged?); try a lower choreo.lr")

    unit = body_height(training)
    metrics = judge(dance, training, fps, unit, history)
    body, placement = place(steady(dance, fps), height, width, unit)
    metrics["placement"] = {"height": height, "width": width, **placement}
    metrics["training"].update(reused_model=reused, sources=[{"kind": k, "path": str(p), "frames": len(x)}
                                                             for k, p, x in sources])
    log.info("dance of %d frames: energy %.3f-%.3f (training %.3f-%.3f) body heights/s, frozen %s, novelty min %s "
             "(copy below %.3f)", n, metrics["motion_energy"]["min"], metrics["motion_energy"]["max"],
             *metrics["motion_energy"]["training_range"], metrics["frozen"], metrics["novelty"]["min"],
             metrics["novelty"]["copy_threshold"])

    poses = {"body": body, "face": np.zeros((n, 70, 3), np.float32),
             "left_hand": np.zeros((n, 21, 3), np.float32), "right_hand": np.zeros((n, 21, 3), np.float32),
             "detected": np.ones(n, bool), "filled": np.zeros(n, bool)}
    from ..io.video import VideoWriter, even_size
    from ..labels import draw_label

    vh, vw = even_size(height), even_size(width)
    with atomic_path(c["output"]) as tmp, atomic_path(c["video"]) as vtmp, atomic_path(c["metrics"]) as mtmp:
        with h5.create(tmp) as f:
            h5.write_poses(f, poses, {"fps": fps, "height": height, "width": width})
            h5.FrameGeometry(1.0, 0.0, 0.0).to_attrs(f.attrs)
            h5.set_provenance(f, "choreo", c, "", outputs=OUTPUTS, seed=seed,
                              source_sha256=json.dumps([h5.sha256_file(p) for _, p, _ in sources]))
        with VideoWriter(vtmp, vw, vh, fps) as writer:
            for i in range(n):
                frame = np.zeros((vh, vw, 3), np.uint8)
                frame[:height, :width] = draw_label(height, width, body[i])
                writer.write(frame)
        Path(mtmp).write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("wrote %s, %s and %s", c["output"], c["video"], c["metrics"])
