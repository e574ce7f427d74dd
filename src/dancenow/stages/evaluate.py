"""evaluate: how well a target's generator reproduces the frames it never saw, measured as EDN does.

The generator was trained with train.holdout > 0: the last frames of the target video were left out. Those frames are
rendered from their own poses and compared with the real ones:
- SSIM and PSNR per frame (and LPIPS when evaluate.lpips_weights and evaluate.lpips_backbone are set);
- pose distance: the pose estimator (the pose stage's) runs on the generated frames; the mean distance of its body
  keypoints to the input poses, in pixels and as a fraction of body height, and the frames where it finds nobody;
- temporal flicker: the frame-to-frame change of the generated video that the real video does not have.

Outputs: metrics.json, a PNG (per-frame metrics and the training loss curves), an mp4 of real | generated.
"""

import logging

import numpy as np
import torch

from .. import metrics
from ..conf import section, settings
from ..device import amp_context, task_device
from ..errors import UserError
from ..generation import generate
from ..io import h5
from ..io.atomic import atomic_path
from ..io.jsonfile import write_json
from ..io.poses import read_poses
from ..io.video import VideoWriter
from ..keypoints import has_person
from ..lpips import images_to_tensor, load_lpips
from ..models.checkpoint import load_performer
from ..pose.estimate import estimate_video
from ..progress import Bar

log = logging.getLogger(__name__)


def held_out(meta, n_frames, checkpoint):
    if int(meta["n_frames"]) != n_frames:
        raise UserError(f"{checkpoint} was trained on a video of {meta['n_frames']} frames, not these {n_frames}")
    first = int(meta["train_frames"])
    if first >= n_frames:
        raise UserError(f"{checkpoint} was trained on every frame (train.holdout=0): nothing is held out to "
                        f"evaluate on; train with train.holdout=0.2")
    return np.arange(first, n_frames)


def lpips_values(model, generated, real, device, batch=8):
    out = []
    with torch.no_grad():
        for s in range(0, len(real), batch):
            a, b = (images_to_tensor(x[s:s + batch], device) for x in (generated, real))
            out.append(model(a, b).float().cpu().numpy())
    return np.concatenate(out)


def generated_over_real(generated, real, frames):
    """The mean of per-frame values of the generated and of the real frames over the bool mask `frames`, and their
    ratio (nan without frames)."""
    g, r = (v[frames].mean() if frames.any() else float("nan") for v in (generated, real))
    return dict(generated=g, real=r, ratio=g / r if r > 0 else float("nan"))


def compute(generated, real, reference_body, estimated_body, lpips=None, device="cpu"):
    """Every metric of the held-out frames that have a person in their input poses, each with the number of frames
    it was computed over."""
    person = has_person(reference_body)
    ssim, psnr = metrics.ssim(generated, real), metrics.psnr(generated, real)
    poses = metrics.pose_distance(reference_body, estimated_body)
    with_person = poses["frames_with_person"]
    high = generated_over_real(metrics.high_frequency_energy(generated), metrics.high_frequency_energy(real), person)
    region_ssim, *region_high = metrics.person_region(generated, real, reference_body)
    boxed = np.isfinite(region_ssim)
    result = dict(
        frames=int(len(real)), frames_with_person=int(person.sum()),
        redetection_rate=(with_person - poses["missed"]) / with_person if with_person else float("nan"),
        ssim=metrics.summary(ssim[person]), psnr=metrics.summary(psnr[person]),
        pose_distance_px=poses["mean_px"], pose_distance_rel=poses["mean_rel"],
        pose_distance_frames=poses["frames_compared"],
        missed_detections=poses["missed"], missed_fraction=poses["missed"] / max(1, with_person),
        flicker=metrics.flicker(generated, real), flicker_frames=max(0, len(real) - 1),
        generated_change=metrics.frame_change(generated), real_change=metrics.frame_change(real),
        high_frequency=dict(**high, cutoff=metrics.HIGH_FREQUENCY, frames=int(person.sum())),
        person_region=dict(ssim=metrics.summary(region_ssim), high_frequency=generated_over_real(*region_high, boxed),
                           frames=int(boxed.sum()), margin=metrics.PERSON_MARGIN))
    per_frame = dict(ssim=ssim, psnr=psnr, pose_distance=poses["per_frame"], person_ssim=region_ssim)
    if lpips is not None:
        values = lpips_values(lpips, generated, real, device)
        result["lpips"] = metrics.summary(values[person])
        per_frame["lpips"] = values
    return result, per_frame


def plot(path, frames, per_frame, history, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = sorted({e["phase"] for e in history}, key=[e["phase"] for e in history].index)
    fig, axes = plt.subplots(2, 2 + len(phases) // 2, figsize=(5 * (2 + len(phases) // 2), 7), squeeze=False)
    axes = axes.flatten()
    for ax, (key, label) in zip(axes, (("ssim", "SSIM"), ("psnr", "PSNR (dB)"), ("pose_distance", "pose distance (px)"))):
        ax.plot(frames, per_frame[key], ".-", label="whole frame")
        ax.set(xlabel="held-out frame", ylabel=label)
    axes[0].plot(frames, per_frame["person_ssim"], ".-", label="on the person")
    axes[0].legend(fontsize=7)
    for ax, phase in zip(axes[3:], phases):
        entries = [e for e in history if e["phase"] == phase]
        for k in entries[0]:
            if k not in ("phase", "iteration"):
                ax.plot([e["iteration"] for e in entries], [e[k] for e in entries], label=k)
        ax.set(xlabel="iteration", ylabel="loss", title=f"training: {phase}")
        ax.legend(fontsize=7)
    for ax in axes[3 + len(phases):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_side_by_side(path, real, generated, fps, crf):
    h, w = real.shape[1:3]  # stored frames have even sizes (extract)
    with atomic_path(path) as tmp, VideoWriter(tmp, 2 * w, h, fps, crf=crf) as writer:
        for a, b in zip(real, generated):
            writer.write(np.concatenate([a, b], axis=1))


def run(cfg):
    c = section(cfg, "evaluate")
    device = task_device()
    performer, meta = load_performer(c["checkpoint"], device)
    autocast, _ = amp_context(c["amp"], device, "evaluate.amp")
    lpips = load_lpips(c["lpips_weights"], c["lpips_backbone"])
    if lpips is not None:
        lpips.to(device)
    poses = read_poses(c["poses"])
    with h5.open_input(c["frames"], "frames") as f:
        n, height, width = f["frames"].shape[:3]
        if (height, width) != (int(meta["height"]), int(meta["width"])):
            raise UserError(f"{c['frames']} holds {width}x{height} frames but {c['checkpoint']} was trained at "
                            f"{meta['width']}x{meta['height']}")
        fps, sha = float(f.attrs["fps"]), str(f.attrs.get("video_sha256", ""))
        frames = held_out(meta, n, c["checkpoint"])
        real = f["frames"][frames[0]:frames[-1] + 1]
    if len(poses["body"]) != n:
        raise UserError(f"{c['poses']} has {len(poses['body'])} frames of poses but {c['frames']} has {n}")
    log.info("evaluating %s on held-out frames %d..%d (%d) on %s", c["checkpoint"], frames[0], frames[-1],
             len(frames), device)
    generated = np.stack(list(Bar(generate(performer, poses, frames, height, width, device, 4, autocast),
                                   total=len(frames), desc="evaluate", unit="frame", leave=False)))
    estimated = estimate_video(generated, settings(cfg, "pose"), width, height)["body"]  # either pose backend
    result, per_frame = compute(generated, real, np.asarray(poses["body"])[frames], estimated, lpips, device)
    result = dict(checkpoint=str(c["checkpoint"]), video_sha256=sha, held_out=[int(frames[0]), int(frames[-1])],
                  temporal=bool(meta["generator"]["temporal"]), face=meta.get("face") is not None,
                  local_enhancers=int(meta["generator"]["n_local_enhancers"]),
                  iterations={p: n for p, n in meta["plan"]}, **result)
    log.info("person re-detected in %d of %d generated frames  SSIM %.4f  PSNR %.2f dB  pose distance %.2f px over "
             "%d frames  flicker %.3f (generated change %.3f, real %.3f)  high frequencies %.2fx the real frames'  "
             "on the person: SSIM %.4f, high frequencies %.2fx the real frames'%s",
             result["frames_with_person"] - result["missed_detections"], result["frames_with_person"],
             result["ssim"]["mean"], result["psnr"]["mean"], result["pose_distance_px"],
             result["pose_distance_frames"], result["flicker"], result["generated_change"], result["real_change"],
             result["high_frequency"]["ratio"], result["person_region"]["ssim"]["mean"] or float("nan"),
             result["person_region"]["high_frequency"]["ratio"],
             f"  LPIPS {result['lpips']['mean']:.4f}" if "lpips" in result else "")
    if not result["redetection_rate"] >= metrics.REDETECTION_WARNING:
        log.warning("the pose estimator found the person in only %d of the %d generated frames (%.0f %%, below %.0f "
                    "%%): the generator does not draw a recognisable person yet, and the pose distance speaks for "
                    "those %d frames alone", result["frames_with_person"] - result["missed_detections"],
                    result["frames_with_person"], 100 * result["redetection_rate"], 100 * metrics.REDETECTION_WARNING,
                    result["pose_distance_frames"])
    write_json(c["output"], result)
    plot(c["plot"], frames, per_frame, meta["history"], f"{c['checkpoint']}: held-out frames {frames[0]}..{frames[-1]}")
    write_side_by_side(c["video"], real, generated, fps, c["crf"])
    log.info("wrote %s, %s and %s", c["output"], c["plot"], c["video"])
