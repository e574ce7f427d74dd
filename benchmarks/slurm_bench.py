"""Pose over Slurm tasks, and the cost of a stage's Slurm round trip, on this machine:
`python benchmarks/slurm_bench.py [--json out.json] [--video path.mp4] [--size 256] [--loops 8] [--repeat 3]`.

Needs a Slurm cluster (bash scripts/slurm-cluster.sh start). Every figure is the wall time of a whole `dancenow`
command, as Snakemake runs it:
- pose: frames/s of `dancenow pose` in this process (launcher=local) and as one Slurm job of 1 and 2 tasks, each
  task estimating one shard on one CPU, on the video's frames played `--loops` times (a longer video, so that the
  per-task start, ~2 s of imports and model loading, does not hide the scaling);
- round trip: a trivial stage (extract one frame) locally and as a Slurm job. The difference is what Slurm adds:
  submitting, scheduling, starting the job's python, and the launcher noticing the result (it looks once a second).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

from dancenow.io import h5

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "video" / "dancer_man.mp4"


def dancenow(stage, *overrides):
    """Wall seconds of `dancenow <stage> overrides`."""
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "dancenow.cli", stage, *overrides], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"dancenow {stage} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t


def looped(src, dst, loops):
    """frames.h5 `src` played `loops` times, as `dst`; the number of frames."""
    with h5py.File(src) as f, h5.create(dst) as out:
        frames = f["frames"][()]
        n = len(frames)
        ds = h5.frames_dataset(out, n * loops, *frames.shape[1:3])
        for i in range(loops):
            ds[i * n:(i + 1) * n] = frames
        out.attrs.update(f.attrs)
    return n * loops


def slurm(tmp, stage, tasks=1):
    return ["launcher=slurm", f"slurm.folder={tmp}/submitit", f"resources.{stage}.tasks_per_node={tasks}",
            f"resources.{stage}.cpus_per_task=1", f"resources.{stage}.gpus_per_node=0", f"resources.{stage}.mem_mb=2048"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--size", type=int, default=256, help="frame height and width for pose")
    ap.add_argument("--loops", type=int, default=8, help="times the video is played for pose")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the median is reported")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        frames = f"{tmp}/frames.h5"
        dancenow("extract", f"extract.input={args.video}", f"extract.output={tmp}/once.h5",
                 f"extract.audio={tmp}/a.m4a", f"preset_size.height={args.size}", f"preset_size.width={args.size}")
        n = looped(f"{tmp}/once.h5", frames, args.loops)
        # 4 tracker chunks: 2 tasks get 2 each
        pose = [f"pose.input={frames}", f"pose.output={tmp}/poses.h5", f"pose.chunk_frames={-(-n // 4)}", "threads=1"]
        runs = {"local": [], "slurm 1 task": [], "slurm 2 tasks": []}
        for _ in range(args.repeat):  # interleaved, so that a busy spell of the machine hits every variant alike
            runs["local"].append(dancenow("pose", *pose))
            runs["slurm 1 task"].append(dancenow("pose", *pose, *slurm(tmp, "pose", 1)))
            runs["slurm 2 tasks"].append(dancenow("pose", *pose, *slurm(tmp, "pose", 2)))
        pose_s = {k: statistics.median(v) for k, v in runs.items()}

        one = [f"extract.input={args.video}", f"extract.output={tmp}/one.h5", f"extract.audio={tmp}/one.m4a",
               "extract.max_frames=1", "preset=tiny"]
        trip = {"local": [], "slurm": []}
        for _ in range(args.repeat):
            trip["local"].append(dancenow("extract", *one))
            trip["slurm"].append(dancenow("extract", *one, *slurm(tmp, "extract")))
        trip_s = {k: statistics.median(v) for k, v in trip.items()}

    print(f"pose, {n} frames at {args.size}x{args.size}, median of {args.repeat} (wall time of `dancenow pose`):")
    for k, s in pose_s.items():
        print(f"  {k:14s} {s:6.2f} s  {n / s:6.1f} frames/s  x{pose_s['slurm 1 task'] / s:.2f} of 1 task")
    print(f"round trip of a trivial stage (extract 1 frame), median of {args.repeat}:")
    print(f"  local {trip_s['local']:.2f} s, Slurm {trip_s['slurm']:.2f} s: overhead "
          f"{trip_s['slurm'] - trip_s['local']:.2f} s (min {min(trip['slurm']) - min(trip['local']):.2f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(frames=n, size=args.size, pose_s=pose_s, pose_runs=runs,
                                                   round_trip_s=trip_s, round_trip_runs=trip), indent=1))


if __name__ == "__main__":
    main()
