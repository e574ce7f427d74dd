"""check: before training, what a target's video holds and how much of the source's dance it covers ->
coverage.json and a plot of the source's timeline (the method: dancenow.coverage).

It warns when the covered fraction is below check.min_coverage; with check.strict it fails instead (the workflow
stops before training)."""

import logging

import numpy as np

from ..conf import load, section, settings
from ..coverage import MIN_CONFIDENCE, coverage
from ..errors import UserError
from ..io import h5
from ..io.atomic import atomic_path
from ..io.jsonfile import write_json
from ..io.poses import read_poses
from ..keypoints import has_person
from ..training.budget import STEP_TIMES, plan_seconds
from ..training.phases import phase_plan, training_frames

log = logging.getLogger(__name__)

def video_facts(frames_path, poses):
    """What the target's video is: its size, frame rate (and whether it varied), rotation, audio, and the frames
    with a person, a face and hands."""
    with h5.open_input(frames_path, "frames") as f:
        a = f.attrs
        facts = {"frames": int(f["frames"].shape[0]), "width": int(a.get("source_width", 0)),
                 "height": int(a.get("source_height", 0)), "fps": float(a["fps"]),
                 "variable_frame_rate": bool(a["variable_frame_rate"]) if "variable_frame_rate" in a else None,
                 "rotation": int(a.get("rotation", 0)), "audio": bool(a.get("has_audio", False))}
    confident = {part: (poses[part][..., 2] >= MIN_CONFIDENCE).mean(axis=-1) >= 0.5
                 for part in ("face", "left_hand", "right_hand")}
    facts.update(frames_with_a_person=int(has_person(poses["body"]).sum()),
                 frames_with_a_face=int(confident["face"].sum()),
                 frames_with_hands=int((confident["left_hand"] | confident["right_hand"]).sum()))
    return facts


def training_time(n_frames_trained):
    """Per preset: the iterations of its phases and the hours they take at the measured step times."""
    out = {}
    for preset, (device, _, where) in STEP_TIMES.items():
        plan = phase_plan(settings(load([f"preset={preset}"]), "train"))
        seconds = plan_seconds(plan, preset)
        out[preset] = {"phases": dict(plan), "device": device, "hours": round(seconds / 3600, 2), "from": where,
                       "epochs": round(sum(n for p, n in plan if p != "face") / max(1, n_frames_trained), 1)}
    return out


def plot(path, report, fps):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = np.array([np.nan if v is None else v for v in report["distance"]], float)
    t = np.arange(len(d)) / fps
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    ax.plot(t, d, lw=1, color="tab:blue", label="distance to the nearest target pose")
    ax.axhline(report["threshold"], color="tab:red", lw=1, ls="--", label=f"threshold {report['threshold']:g}")
    for m in report["moments"]:
        ax.axvspan(m["first_frame"] / fps, (m["last_frame"] + 1) / fps, color="tab:red", alpha=0.15)
    ax.set_xlabel("source time (s)")
    ax.set_ylabel("torso lengths")
    ax.set_title(f"pose coverage: {100 * report['covered_fraction']:.0f} % of the source's frames within the "
                 f"threshold; {len(report['moments'])} uncovered moment(s)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def run(cfg):
    c = section(cfg, "check")
    source = read_poses(c["source"], "normalized source poses")
    target = read_poses(c["poses"], "target poses")
    facts = video_facts(c["frames"], target)
    trained = training_frames(len(target["body"]), c["holdout"])
    bodies = target["body"][trained]
    bodies = bodies[has_person(bodies)]
    if len(bodies) == 0:
        raise UserError(f"{c['poses']}: no training frame of the target has a person")
    fps = float(source["attrs"]["fps"])
    report = coverage(source["body"], bodies, fps, c["threshold"])
    report.update(video=facts, training_time=training_time(len(bodies)), min_coverage=c["min_coverage"],
                  source_fps=fps)
    log.info("target video: %s", ", ".join(f"{k} {v}" for k, v in facts.items()))
    covered = report["covered_fraction"]
    lines = [m["text"] for m in report["moments"]]
    log.info("coverage: %.0f %% of the source's %d frames with a pose are within %g torso lengths of a target "
             "training pose; %d uncovered moment(s)", 100 * covered, report["frames_with_a_pose"], c["threshold"],
             len(lines))
    for line in lines:
        log.info("uncovered: %s", line)
    if covered < c["min_coverage"]:
        message = (f"the target's video ({c['frames']}) covers {100 * covered:.0f} % of the source's poses, below "
                   f"check.min_coverage={c['min_coverage']:g}: the generator has not seen "
                   + "; ".join(lines[:3]) + (" ..." if len(lines) > 3 else "")
                   + " (film the target doing these, or accept guesses)")
        if c["strict"]:
            raise UserError(message + "; check.strict=false to train anyway")
        log.warning(message)
    with atomic_path(c["output"]) as tmp, atomic_path(c["plot"]) as plot_tmp:
        write_json(tmp, report)
        plot(plot_tmp, report, fps)
    log.info("wrote %s and %s", c["output"], c["plot"])
