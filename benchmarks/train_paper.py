"""Training throughput and peak memory of each EDN phase at a preset's full size, on whatever device torch finds:
`python benchmarks/train_paper.py [--preset paper] [--steps 20] [--json out.json]`. Runs unchanged on CPU and GPU.

The data are frames of a procedural performer at the preset's size with its exact BODY_25 joints. For each phase
(global at the coarse size, main = the local enhancer at full size, face) the step is timed on batches already on
the device, with bfloat16 autocast (GPUs) and, on GPUs, without it too. Then `dancenow train` runs end to end
(every phase, --train-iterations each) and its wall time is reported.

Beside each phase's ms/step, samples/s and peak memory it prints the FLOPs of one step (torch.utils.flop_counter:
forward and backward of the generator and the discriminators) and the fraction of the device's peak that rate is,
the peak being a large matmul timed in the same run (bf16 and fp32 on a GPU, fp32 on a CPU; benchmarks/hardware.py),
and first a line with the device (on a CPU its model, its matmul instruction-set flags and the OpenMP policy).

On a GPU each phase runs in the training's default kernels (`train.deterministic=false`: cuDNN autotuned;
`train.channels_last` on) and, for the comparison, in the exact ones (deterministic, contiguous layout), each with
and without bfloat16 autocast. On a CPU the training is always exact and contiguous: one run per phase.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import dancenow  # noqa: F401  (first: it sets the OpenMP policy, which is read when torch loads OpenMP)
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from dancenow import conf
from dancenow.device import amp_context, layout
from dancenow.images import to_device
from dancenow.models.checkpoint import coarse_config, face_config, generator_config
from dancenow.models.performer import build_generator
from dancenow.stages import train
from dancenow.training.data import PoseFrameDataset
from dancenow.training.phases import face_phase, generator_phase, phase_plan
from dancenow.training.resume import kernels
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.models.losses import perceptual_loss
from dancenow.synth import render_frames, skeleton
from dancenow.synth.body import body25

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, peaks, sync  # noqa: E402


def make_data(folder, height, width, n):
    joints = skeleton("target_a", 0, n, 15.0, width, height)
    with h5.create(folder / "frames.h5") as f:
        ds = h5.frames_dataset(f, n, height, width)
        for i, frame in enumerate(render_frames("target_a", 0, n, 15.0, width, height)):
            ds[i] = frame
        f.attrs["fps"], f.attrs["video_sha256"] = 15.0, "synthetic"
    zeros = {k: np.zeros((n, poses_io.POSE_PARTS[k], 3), np.float32) for k in ("face", "left_hand", "right_hand")}
    with h5.create(folder / "poses.h5") as f:
        poses_io.write_poses(f, dict(body=body25(joints), detected=np.ones(n, bool), **zeros),
                       dict(fps=15.0, height=height, width=width))
    return folder / "frames.h5", folder / "poses.h5"


def bench_phase(name, c, frames, poses, workdir, device, amp, steps, fast, warmup=2):
    """ms/step, samples/s, generated frames/s, FLOPs of a step and peak GPU memory (GiB, None on a CPU) of `steps`
    steps of one phase; `fast`: the training's default kernels and layout (on a GPU: autotuned, channels last)."""
    with kernels(device, exact=not fast):
        return timed_phase(name, c, frames, poses, workdir, device, amp, steps, fast, warmup)


def timed_phase(name, c, frames, poses, workdir, device, amp, steps, fast, warmup):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    autocast, on = amp_context("auto" if amp else "off", device, "train.amp")
    H, W = poses_io.read_poses(poses)["attrs"]["height"], poses_io.read_poses(poses)["attrs"]["width"]
    gen_cfg, face_cfg = generator_config(c, int(H), int(W)), face_config(c)
    frames_idx = np.arange(len(poses_io.read_poses(poses)["body"]))
    scale = 2 ** c["n_local_enhancers"] if name == "global" else 1
    ds = PoseFrameDataset(frames, poses, frames_idx, label_cache=workdir / f"labels_{scale}.h5",
                                temporal=c["temporal"], scale=scale,
                                face_crop=face_cfg["crop"] if name == "face" else None)
    vgg = perceptual_loss(None, 0)
    torch.manual_seed(0)
    if name == "face":
        G = build_generator(gen_cfg).to(device)
        phase = face_phase(steps, c, gen_cfg, face_cfg, G.state_dict(), ds, vgg, device, autocast)
    else:
        cfg_here = gen_cfg if name == "main" else coarse_config(gen_cfg)
        phase = generator_phase(name, steps, c, cfg_here, ds, vgg, device, autocast)
    phase.to_layout(layout(None if fast else False, device))
    batches = [phase.batch(to_device({k: v[None] for k, v in ds[i % len(ds)].items()}, device))
               for i in range(steps + warmup)]
    for b in batches[:warmup - 1]:
        phase.step(phase, b)
    with FlopCounterMode(display=False) as counter:  # the last warm-up step, counted (it runs slower so)
        phase.step(phase, batches[warmup - 1])
    sync(device)
    t = time.perf_counter()
    for b in batches[warmup:]:
        phase.step(phase, b)
    sync(device)
    seconds = (time.perf_counter() - t) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    per_sample = 2 if c["temporal"] and name != "face" else 1  # a temporal sample generates two frames
    return dict(phase=name, amp=on, fast=fast, size=f"{ds.width}x{ds.height}", sec_per_step=seconds,
                samples_per_s=1 / seconds, frames_per_s=per_sample / seconds, peak_gib=peak,
                flops_per_step=counter.get_total_flops())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per phase")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--train-iterations", type=int, default=10, help="iterations of each phase of the full run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = conf.load([f"preset={args.preset}"])
    c = OmegaConf.to_container(cfg.train, resolve=True, throw_on_missing=False)
    H, W = int(cfg.preset_size.height), int(cfg.preset_size.width)
    print(describe(device), flush=True)
    print(f"preset {args.preset}: {W}x{H}, temporal {c['temporal']}, local enhancers "
          f"{c['n_local_enhancers']}, face crop {c['face']['crop']}", flush=True)
    peak = peaks(device)
    print("measured matmul peak: " + ", ".join(f"{k} {v / 1e12:.3f} TFLOP/s" for k, v in peak.items()), flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames, poses = make_data(tmp, H, W, args.frames)
        phases = [p for p, _ in phase_plan(c)]
        gpu = device.type == "cuda"
        for fast, amp in ([(True, True), (False, True), (True, False), (False, False)] if gpu else [(True, False)]):
            for phase in phases:
                r = bench_phase(phase, c, frames, poses, tmp, device, amp, args.steps, fast)
                dtype = "bf16" if r["amp"] else "fp32"
                r["fraction_of_peak"] = r["flops_per_step"] / r["sec_per_step"] / peak[dtype]
                results.append(r)
                memory = f"{r['peak_gib']:.2f} GiB" if r["peak_gib"] is not None else "n/a"
                kind = ("fast" if fast else "exact") if gpu else "cpu"
                print(f"{phase:7s} {r['size']:>9s} amp={'bf16' if r['amp'] else 'off':4s} {kind:5s} "
                      f"{r['sec_per_step'] * 1000:8.1f} ms/step  {r['samples_per_s']:7.2f} samples/s  "
                      f"{r['frames_per_s']:7.2f} frames/s  {r['flops_per_step'] / 1e9:7.1f} GFLOP/step  "
                      f"{r['fraction_of_peak']:6.1%} of {dtype} peak  memory {memory}", flush=True)
        n = args.train_iterations
        overrides = [f"preset={args.preset}", f"train.frames={frames}", f"train.poses={poses}",
                     f"train.output={tmp / 'generator.pt'}", f"train.workdir={tmp / 'work'}",
                     f"train.iterations={n}", f"train.global_iterations={n}", f"train.fix_global_iterations={n // 2}",
                     f"train.face.iterations={n}", "train.log_every=5", "train.sample_every=1000000",
                     "train.checkpoint_every=1000000"]
        t = time.perf_counter()
        train.run(conf.load(overrides))
        wall = time.perf_counter() - t
        print(f"dancenow train, {n} iterations of each of {phases}: {wall:.1f} s wall", flush=True)
    if args.json:
        args.json.write_text(json.dumps(dict(device=describe(device), preset=args.preset, peak_flops=peak,
                                             phases=results, train_wall_s=wall, train_iterations=n), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
