"""Training throughput and peak memory of each EDN phase at a preset's full size, on whatever device torch finds:
`python benchmarks/train_paper.py [--preset paper] [--steps 20] [--batch 1 8] [--compile [--compile-only]]
[--train-iterations 10] [--json out.json]`. Runs unchanged on CPU and GPU.

The data are frames of a procedural performer at the preset's size with its exact BODY_25 joints. For each phase
(global at the coarse size, main = the local enhancer at full size, face) and each --batch the step is timed with
its batches drawn as a training on the device draws them (train.data_on_device: uint8 there, made float per
step). Then `dancenow train` runs end to end (every phase, --train-iterations each, at the largest batch) and its
wall time is reported.

Beside each phase's ms/step, samples/s and peak memory (and on a GPU how often a step made the host wait for it,
which leaves the GPU idle while the host queues the next work) it prints the FLOPs of one step
(torch.utils.flop_counter: forward and backward of the generator and the discriminators) and the fraction of the
device's peak that rate is, the peak being a large matmul timed in the same run (bf16 and fp32 on a GPU, fp32 on a
CPU; benchmarks/hardware.py), and first a line with the device (on a CPU its model, its matmul instruction-set flags
and the OpenMP policy).

On a GPU every phase runs at batch 1 in the training's default kernels (`train.deterministic=false`: cuDNN
autotuned; `train.channels_last` on) and, for the comparison, in the exact ones (deterministic, contiguous layout),
each with and without bfloat16 autocast; at every other batch in the default kernels with bfloat16; with --compile
also compiled (train.compile) at every batch. On a CPU the training is always exact and float32: one run per phase
and batch. benchmarks/gpu_check.sh runs this with the convergence check on a lent GPU.
"""

import argparse
import contextlib
import json
import sys
import tempfile
import time
import warnings
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
from dancenow.training.data import PoseFrameDataset, ShuffleSampler, resident_batches
from dancenow.training.phases import face_phase, generator_phase, phase_plan, wrap
from dancenow.training.readback import LossWindow
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


def bench_phase(name, c, frames, poses, workdir, device, amp, steps, fast, batch, compiled=False, warmup=2):
    """ms/step, samples/s, generated frames/s, FLOPs of a step and peak GPU memory (GiB, None on a CPU) of `steps`
    steps of one phase at `batch` samples a step; `fast`: the training's default kernels and layout (on a GPU:
    autotuned, channels last); `compiled`: its networks through torch.compile (train.compile)."""
    with kernels(device, exact=not fast):
        return timed_phase(name, c, frames, poses, workdir, device, amp, steps, fast, batch, compiled, warmup)


def timed_phase(name, c, frames, poses, workdir, device, amp, steps, fast, batch, compiled, warmup):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    c = dict(c, batch_size=batch, compile=compiled)
    autocast, on = amp_context("auto" if amp else "off", device, "train.amp")
    attrs = poses_io.read_poses(poses)["attrs"]
    H, W = int(attrs["height"]), int(attrs["width"])
    gen_cfg, face_cfg = generator_config(c, H, W), face_config(c)
    scale = 2 ** c["n_local_enhancers"] if name == "global" else 1
    ds = PoseFrameDataset(frames, poses, label_cache=workdir / f"labels_{scale}.h5", temporal=c["temporal"],
                          scale=scale, face_crop=face_cfg["crop"] if name == "face" else None)
    vgg = perceptual_loss(None, 0)
    torch.manual_seed(0)
    if name == "face":
        G = build_generator(gen_cfg).to(device)
        phase = face_phase(steps, c, gen_cfg, face_cfg, G.state_dict(), ds, vgg, device, autocast)
    else:
        cfg_here = gen_cfg if name == "main" else coarse_config(gen_cfg)
        phase = generator_phase(name, steps, c, cfg_here, ds, vgg, device, autocast)
    phase.to_layout(layout(None if fast else False, device))
    # the batches of a training on the device (train.data_on_device): uint8 there, made float per step
    batches = resident_batches(ds, ShuffleSampler(len(ds), 0), batch, device)
    with FlopCounterMode(display=False) as counter:  # a first step, not compiled (flop_counter sees into no graph)
        phase.step(phase, phase.batch(to_device(next(batches), device)))
    wrap(phase, c, 1, 1, device)  # train.compile: the networks compiled (at the first warm-up step)
    window = LossWindow(phase.losses, device)  # the losses summed on the device, as the training loop does

    def step():
        window.add(phase.step(phase, phase.batch(to_device(next(batches), device))))

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    with host_waits(device) as waits:
        for _ in range(steps):
            step()
    sync(device)
    seconds = (time.perf_counter() - t) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    per_sample = 2 if c["temporal"] and name != "face" else 1  # a temporal sample generates two frames
    return dict(phase=name, amp=on, fast=fast, compiled=compiled, batch=batch, size=f"{ds.width}x{ds.height}",
                sec_per_step=seconds, samples_per_s=batch / seconds, frames_per_s=batch * per_sample / seconds,
                peak_gib=peak, flops_per_step=counter.get_total_flops(),
                host_waits_per_step=None if waits is None else len(waits) / steps)


@contextlib.contextmanager
def host_waits(device):
    """On a GPU, the list of the times the host waited for it (torch's CUDA sync debug mode warns at each); None
    on a CPU."""
    if device.type != "cuda":
        yield None
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")


def runs(gpu, batches, compiled):
    """(fast, amp, batch, compiled) of every timed run of a phase: on a GPU, at batch 1 the fast and exact kernels
    with and without bfloat16 (today's kernels against the deterministic ones), at every other batch the fast bf16
    ones, and with --compile those compiled at every batch; on a CPU the exact float32 ones at every batch."""
    if not gpu:
        return [(True, False, b, False) for b in batches] + [(True, False, b, True) for b in batches if compiled]
    out = [(True, True, 1, False), (False, True, 1, False), (True, False, 1, False), (False, False, 1, False)]
    out += [(True, True, b, False) for b in batches if b != 1]
    return out + [(True, True, b, True) for b in batches if compiled]


def end_to_end(preset, frames, poses, folder, n, batch):
    """Seconds of `dancenow train` (setup included) for n iterations of each phase at `batch` samples a step."""
    overrides = [f"preset={preset}", f"train.frames={frames}", f"train.poses={poses}",
                 f"train.output={folder / 'generator.pt'}", f"train.workdir={folder / 'work'}",
                 f"train.iterations={n}", f"train.global_iterations={n}", f"train.fix_global_iterations={n // 2}",
                 f"train.face.iterations={n}", f"train.batch_size={batch}", "train.log_every=5",
                 "train.sample_every=1000000", "train.checkpoint_every=1000000"]
    t = time.perf_counter()
    train.run(conf.load(overrides))
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per phase")
    ap.add_argument("--batch", type=int, nargs="+", default=[1],
                    help="samples a step, each timed (on a GPU also batch 1 in every kernel variant)")
    ap.add_argument("--compile", action="store_true", help="also time the step compiled (train.compile)")
    ap.add_argument("--compile-only", action="store_true", help="with --compile: only the compiled runs")
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
    gpu = device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames, poses = make_data(tmp, H, W, max(args.frames, max(args.batch) + 1))
        phases = [p for p, _ in phase_plan(c)]
        plan = [r for r in runs(gpu, args.batch, args.compile) if r[3] or not args.compile_only]
        for fast, amp, batch, compiled in plan:
            for phase in phases:
                r = bench_phase(phase, c, frames, poses, tmp, device, amp, args.steps, fast, batch, compiled)
                dtype = "bf16" if r["amp"] else "fp32"
                r["fraction_of_peak"] = r["flops_per_step"] / r["sec_per_step"] / peak[dtype]
                results.append(r)
                memory = f"{r['peak_gib']:.2f} GiB" if r["peak_gib"] is not None else "n/a"
                waits = "" if r["host_waits_per_step"] is None else f"  host waits {r['host_waits_per_step']:.1f}/step"
                kind = (("fast" if fast else "exact") if gpu else "cpu") + (" compiled" if compiled else "")
                print(f"{phase:7s} {r['size']:>9s} batch {batch:3d} amp={'bf16' if r['amp'] else 'off':4s} "
                      f"{kind:14s} {r['sec_per_step'] * 1000:8.1f} ms/step  {r['samples_per_s']:7.2f} samples/s  "
                      f"{r['frames_per_s']:7.2f} frames/s  {r['flops_per_step'] / 1e9:7.1f} GFLOP/step  "
                      f"{r['fraction_of_peak']:6.1%} of {dtype} peak  memory {memory}{waits}", flush=True)
        n, batch, wall = args.train_iterations, max(args.batch), None
        if n:
            wall = end_to_end(args.preset, frames, poses, tmp, n, batch)
            print(f"dancenow train, batch {batch}, {n} iterations of each of {phases}: {wall:.1f} s wall", flush=True)
    if args.json:
        args.json.write_text(json.dumps(dict(device=describe(device), preset=args.preset, peak_flops=peak,
                                             phases=results, train_wall_s=wall, train_iterations=n), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
