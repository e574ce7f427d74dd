"""The made-up dance judged: motion energy per 2 s against the training range (and whether it froze), bone lengths
against the training skeleton, NaNs, novelty (distance to the nearest training window) against the copy threshold,
and the training loss: metrics.json of `dancenow choreo`."""

import numpy as np

from . import model as model_mod

ENERGY_WINDOW_S = 2.0


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
