"""EDN's ablation on the real clips and a synthetic performer: frame by frame (pix2pixHD) vs + temporal smoothing vs
+ temporal smoothing + face GAN, the same budget of steps, each evaluated on the held-out last 20 % of its target.

    python benchmarks/ablation.py [--preset quick] [--iterations 1000] [--face-iterations 300] [--out DIR]
                                  [--stage all|prepare|train] [--jobs 1]

Targets: dancer_man.mp4 and target_woman.mp4 (../shared/data/video) and the procedural performer target_a. Every
step is a `dancenow <stage>` command and is skipped when its output exists, so the stages can run on different
machines: `--stage prepare` (synth, extract, pose) on a CPU, `--stage train` on a GPU (several variants at once with
--jobs), then the default `--stage all` evaluates and writes DIR/ablation.csv and DIR/ablation.html
(the same variants as the workflow's `ablation: true`).
"""

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from dancenow.conf import variant_names  # noqa: E402

VIDEOS = REPO.parent / "shared" / "data" / "video"
TARGETS = {"dancer_man": VIDEOS / "dancer_man.mp4", "target_woman": VIDEOS / "target_woman.mp4",
           "synth_target_a": None}


def dancenow(stage, *overrides, log):
    t = time.perf_counter()
    with open(log, "w") as err:
        res = subprocess.run([sys.executable, "-m", "dancenow.cli", stage, *overrides], stderr=err)
    if res.returncode:
        sys.exit(f"dancenow {stage} failed: see {log}")
    return time.perf_counter() - t


def prepare(out, preset, name, video):
    d = out / "videos" / name
    d.mkdir(parents=True, exist_ok=True)
    if video is None:
        video = d / "video.mp4"
        if not video.exists():
            dancenow("synth", "synth.performer=target_a", "synth.seconds=12", f"synth.output={video}",
                     log=d / "synth.log")
    if not (d / "frames.h5").exists():
        dancenow("extract", f"preset={preset}", f"extract.input={video}", f"extract.output={d / 'frames.h5'}",
                 f"extract.audio={d / 'audio.m4a'}", log=d / "extract.log")
    if not (d / "poses.h5").exists():
        dancenow("pose", f"preset={preset}", f"pose.input={d / 'frames.h5'}", f"pose.output={d / 'poses.h5'}",
                 log=d / "pose.log")
    return d


def train(out, preset, name, variant, iterations, face_iterations):
    d, data = out / "ablation" / name / variant, out / "videos" / name
    if (d / "generator.pt").exists():
        return 0.0
    d.mkdir(parents=True, exist_ok=True)
    return dancenow("train", f"preset={preset}", f"train.frames={data / 'frames.h5'}",
                    f"train.poses={data / 'poses.h5'}", f"train.output={d / 'generator.pt'}",
                    f"train.workdir={d / 'work'}", "train.holdout=0.2", f"train.iterations={iterations}",
                    f"train.face.iterations={face_iterations}", f"variant={variant}", log=d / "train.log")


def evaluate(out, preset, name, variant):
    d, data = out / "ablation" / name / variant, out / "videos" / name
    if not (d / "metrics.json").exists():
        dancenow("evaluate", f"preset={preset}", f"evaluate.frames={data / 'frames.h5'}",
                 f"evaluate.poses={data / 'poses.h5'}", f"evaluate.checkpoint={d / 'generator.pt'}",
                 f"evaluate.output={d / 'metrics.json'}", f"evaluate.plot={d / 'evaluate.png'}",
                 f"evaluate.video={d / 'heldout.mp4'}", log=d / "evaluate.log")
    return d / "metrics.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--face-iterations", type=int, default=300)
    ap.add_argument("--out", type=Path, default=REPO / "bench-ablation")
    ap.add_argument("--stage", choices=("all", "prepare", "train"), default="all")
    ap.add_argument("--jobs", type=int, default=1, help="trainings at once (a GPU has room for several)")
    args = ap.parse_args()
    out = args.out.resolve()
    for name, video in TARGETS.items():
        if args.stage != "train":
            prepare(out, args.preset, name, video)
    if args.stage == "prepare":
        return 0
    runs = [(name, variant) for name in TARGETS for variant in variant_names()]
    with ThreadPoolExecutor(args.jobs) as pool:
        seconds = list(pool.map(lambda r: train(out, args.preset, *r, args.iterations, args.face_iterations), runs))
    for (name, variant), s in zip(runs, seconds):
        if s:
            print(f"trained {name}/{variant} in {s:.0f} s", flush=True)
    if args.stage == "train":
        return 0
    metrics = [evaluate(out, args.preset, *r) for r in runs]
    dancenow("compare", f"compare.metrics=[{','.join(map(str, metrics))}]",
             f"compare.names=[{','.join(f'{n}/{v}' for n, v in runs)}]", f"compare.output={out / 'ablation.html'}",
             f"compare.csv={out / 'ablation.csv'}", log=out / "compare.log")
    print((out / "ablation.csv").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
