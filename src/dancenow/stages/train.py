"""train: EDN's generator for one target person, trained on its (label map, frame) pairs; render uses the result.

The phases, each a training loop of its own iterations, run one after the other in one stage:
- `global` (only with train.n_local_enhancers > 0): pix2pixHD's coarse-to-fine start, a global generator with
  ngf * 2**n_local_enhancers filters trained at 1/2**n_local_enhancers of the frame size (train.global_iterations);
- `main`: the full-size generator (with local enhancers: the global one's weights in its trunk, frozen for the first
  train.fix_global_iterations) against a multi-scale PatchGAN, for train.iterations;
- `face` (train.face.enabled): EDN's face GAN, a residual generator on the face crop with its own discriminator,
  the main generator frozen, for train.face.iterations.

With train.temporal (EDN's temporal smoothing) the generator sees its own previous output, G(x_t, G(x_{t-1})), and a
second discriminator judges consecutive pairs (x_{t-1}, x_t, y_{t-1}, y_t). The objective is LSGAN + lambda_feat *
feature matching + lambda_vgg * VGG-19 perceptual loss (the latter only when train.vgg_weights names torchvision's
vgg19 weights); Adam(lr, (beta1, 0.999)) for every network (scaled by sqrt(batch_size x ranks) with
train.lr_scaling=sqrt). train.holdout keeps the last fraction of the frames out of training, for `dancenow
evaluate`. On GPUs the forward passes run under bfloat16 autocast (train.amp).

- determinism: on CPU the same seed and config give the same checkpoint bytes, with or without a kill and resume
  in between (each phase's data order is a function of (seed, phase, epoch); every RNG state is checkpointed).
- {workdir}/latest.pt every checkpoint_every iterations and at the end of each phase (phase, networks, optimizers,
  RNG states, loss history, the weights of finished phases), written atomically; a rerun with the same training
  config resumes from it. {workdir}/tb holds TensorBoard logs.
- `output`: the generator's and face generator's weights and the metadata rendering needs (`load_performer`).
- DDP: with several tasks (RANK/WORLD_SIZE, see dancenow.distributed) every rank trains the networks wrapped in
  DistributedDataParallel (NCCL on GPUs, gloo on CPU) on its own batch_size samples of the same (seed, epoch) stream;
  rank 0 alone logs and writes files. The logged losses are the means over the ranks.
- stopping: when dancenow.distributed.STOP is set (the Slurm launcher sets it on Slurm's warning before a time limit
  or preemption), every rank stops after the same completed iteration, rank 0 saves latest.pt and Stopped is
  raised; the next run resumes from there and ends as an uninterrupted run would.
"""

import logging
from pathlib import Path

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from .. import __version__
from ..conf import section
from ..device import amp_context, layout, task_device
from ..distributed import process_group, rank_and_size
from ..io import h5
from ..models.checkpoint import FORMAT_VERSION, LABEL, coarse_config, face_config, generator_config, write_checkpoint
from ..models.losses import perceptual_loss
from ..plate import static_plate
from ..training.data import PoseFrameDataset
from ..training.loop import train_phase, tb_writer
from ..training.phases import check_sizes, face_phase, generator_phase, learning_rate, phase_plan, training_frames
from ..training.resume import (fingerprint, interned, kernels, restore, resumable, resume_step, rng_state,
                               seed_everything)

log = logging.getLogger(__name__)

RESUMABLE = True  # honours distributed.STOP: on Slurm's warning it saves, and the requeued job resumes


def run(cfg):
    c = section(cfg, "train")
    seed = int(cfg.seed)
    device = task_device()
    rank, world = rank_and_size()
    is_main = rank == 0
    info = log.info if is_main else (lambda *args: None)  # rank 0 alone logs
    workdir, output = Path(c["workdir"]), Path(c["output"])
    latest = workdir / "latest.pt"
    autocast, amp = amp_context(c["amp"], device, "train.amp")
    memory_format = layout(c["channels_last"], device)

    # the data: every frame with a person, but the held-out last ones
    probe = PoseFrameDataset(c["frames"], c["poses"])
    H, W = probe.height, probe.width
    check_sizes(c, H, W, c["frames"])
    frames = training_frames(probe.n_frames, c["holdout"])
    if probe.n_without_person:
        info("%d of %d frames have no person and are left out", probe.n_without_person, probe.n_frames)
    if len(frames) < probe.n_frames:
        info("training on frames 0..%d; the last %d (train.holdout=%g) are held out for evaluation",
             len(frames) - 1, probe.n_frames - len(frames), c["holdout"])

    plate = None
    if c["background"] != "none":  # plate or composite: the static room, from the training frames without the person
        with h5.open_input(c["frames"], "frames") as f:
            plate, message = static_plate(f["frames"], probe.poses, frames)
        info(message)

    # the plan, and what a resumable checkpoint must have been made with
    data_id = [probe.video_sha256, probe.n_frames, H, W, probe.poses_sha256, len(frames)]
    fp = fingerprint(c, seed, world, data_id)
    gen_cfg, face_cfg = generator_config(c, H, W, plate is not None), face_config(c)
    plan = phase_plan(c)
    if is_main and not dict(plan).get("main") and not dict(plan).get("global"):
        log.warning("train.iterations=0: the generator is not trained, and what it renders is noise")
    workdir.mkdir(parents=True, exist_ok=True)

    def dataset(phase):
        scale = 2 ** c["n_local_enhancers"] if phase == "global" else 1
        size = f"{H // scale}x{W // scale}"
        return PoseFrameDataset(c["frames"], c["poses"], frames, label_cache=workdir / f"labels_{size}.h5",
                                temporal=c["temporal"], scale=scale, limb_width=c["limb_width"],
                                face_crop=face_cfg["crop"] if phase == "face" else None,
                                poses_sha256=probe.poses_sha256)

    def meta(phase_name, it):
        return dict(format_version=FORMAT_VERSION, dancenow_version=__version__, phase=phase_name, iteration=it,
                    plan=plan, height=H, width=W, generator=gen_cfg, face=face_cfg, train=c, seed=seed,
                    fingerprint=fp, video_sha256=probe.video_sha256, n_frames=probe.n_frames,
                    train_frames=len(frames), label=LABEL, amp=amp, lr=learning_rate(c, world), history=history)

    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    with kernels(device, c["deterministic"]), logging_redirect_tqdm(), process_group(backend):
        vgg = perceptual_loss(c["vgg_weights"], c["lambda_vgg"])
        if vgg is not None:
            vgg.to(device)
        ckpt = resumable(latest, fp, plan)
        done, history = {}, []  # the weights of the finished phases; the logged losses of every phase
        if ckpt is not None:
            done, history = ckpt["done"], [interned(e) for e in ckpt["meta"]["history"]]
            if ckpt["phase"] in done and dict(plan)[ckpt["phase"]] > ckpt["meta"]["iteration"]:
                del done[ckpt["phase"]]  # more iterations asked of a finished phase: it goes on
        info("%d frames of %dx%d, phases %s, batch %d x %d ranks, learning rate %g, on %s%s%s%s", len(frames), W, H,
             ", ".join(f"{p} {n} it" for p, n in plan), c["batch_size"], world, learning_rate(c, world), device,
             " (bfloat16 autocast)" if amp else "", ", channels last" if memory_format is torch.channels_last else "",
             ", cuDNN autotuned kernels (train.deterministic=false)" if device.type == "cuda" and not
             c["deterministic"] else "")
        writer = tb_writer(workdir / "tb", resume_step(ckpt, plan)) if is_main else None
        try:
            for index, (name, iterations) in enumerate(plan):
                if name in done:
                    continue
                seed_everything(seed + 1000 * index)
                if name == "face":
                    phase = face_phase(iterations, c, gen_cfg, face_cfg, done["main"], dataset(name), vgg, device,
                                       autocast)
                else:
                    phase = generator_phase(name, iterations, c, gen_cfg if name == "main" else coarse_config(gen_cfg),
                                            dataset(name), vgg, device, autocast,
                                            done.get("global") if name == "main" else None, plate)
                phase.to_layout(memory_format)
                start, window = 0, None
                if ckpt is not None and ckpt["phase"] == name:
                    start, window = restore(phase, ckpt, device), ckpt["window"]
                    info("resuming from iteration %d of phase %s (%s)", start, name, latest)
                ckpt = None

                def save(it, window, phase=phase):
                    """latest.pt at iteration `it` of this phase, with the losses summed since the last log."""
                    write_checkpoint(latest, phase=phase.name, done=done,
                                     nets={k: m.state_dict() for k, m in phase.nets.items()},
                                     opts={k: o.state_dict() for k, o in phase.opts.items()},
                                     rng=rng_state(device), window=window, meta=meta(phase.name, it))

                phase.offset = sum(n for _, n in plan[:index])  # TensorBoard steps run on across the phases
                train_phase(phase, start, window, c, seed + 1000 * index, device, world, is_main, info, writer,
                            history, save)
                done[name] = phase.nets["F" if name == "face" else "G"].state_dict()
                if is_main:
                    save(iterations, None)
        finally:
            if writer:
                writer.close()
        if is_main:
            write_checkpoint(output, generator=done["main"], face=done.get("face"), meta=meta("main", c["iterations"]))
    info("wrote %s", output)
