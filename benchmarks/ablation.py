"""EDN's ablation on the real clips and a synthetic performer: frame by frame (pix2pixHD) vs + temporal smoothing vs
+ temporal smoothing + face GAN, the same budget of steps, each evaluated on the held-out last 20 % of its target.

    python benchmarks/ablation.py [--preset quick] [--iterations 1000] [--face-iterations 300] [--out DIR]
                                  [--stage all|prepare|train] [--jobs 1] [--targets NAME ...]
                                  [--variant NAME[=KEY=VALUE;KEY=VALUE...] ...]

`--variant` replaces EDN's three variants with your own: a name alone is one of the package's variants
(frame, temporal, temporal_face) or, with `=`, a name for the train overrides that follow (`;`-separated; nothing
after `=` trains today's defaults), e.g. `--variant defaults= --variant resize=train.upsample=resize`.

Targets: dancer_man.mp4 and target_woman.mp4 (../shared/data/video), wide_woman (target_woman's person in a 16:9
textured room, benchmarks/wide_case.py) and the procedural performer target_a. Every
step is a `dancenow <stage>` command and is skipped when its output exists, so the stages can run on different
machines: `--stage prepare` (synth, extract, pose) on a CPU, `--stage train` on a GPU (several variants at once with
--jobs), then the default `--stage all` evaluates and writes DIR/ablation.csv and DIR/ablation.html
(the same variants as the workflow's `ablation: true`).
"""

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from dancenow.conf import variant_names  # noqa: E402
from step_time import main_step_readings  # noqa: E402

VIDEOS = REPO.parent / "shared" / "data" / "video"
TARGETS = {"dancer_man": VIDEOS / "dancer_man.mp4", "target_woman": VIDEOS / "target_woman.mp4",
           "wide_woman": "wide", "synth_target_a": None}  # wide: benchmarks/wide_case.py, a 16:9 room


def dancenow(stage, *overrides, log):
    t = time.perf_counter()
    with open(log, "w") as err:
        res = subprocess.run([sys.executable, "-m", "dancenow.cli", stage, *overrides], stderr=err)
    if res.returncode:
        sys.exit(f"dancenow {stage} failed: see {log}")
    return time.perf_counter() - t


def source_video(out, name, video):
    """The video of a target: a real clip, or the one this benchmark makes (the procedural performer, the 16:9 room)."""
    if video not in (None, "wide"):
        return video
    d = out / "videos" / name
    d.mkdir(parents=True, exist_ok=True)
    path = d / "video.mp4"
    if not path.exists():
        if video is None:
            dancenow("synth", "synth.performer=target_a", "synth.seconds=12", f"synth.output={path}",
                     log=d / "synth.log")
        else:
            from wide_case import build

            build(VIDEOS / "target_woman.mp4", path)
    return path


def data_dir(out, name, extract):
    """The folder of a target's frames.h5 and poses.h5 under the `extract` overrides (one per set of them)."""
    return out / "videos" / name / ("-".join(o.replace("extract.", "").replace("=", "_") for o in extract) or "default")


def prepare(out, preset, name, video, extract):
    """frames.h5 and poses.h5 of a target under the `extract` overrides."""
    d = data_dir(out, name, extract)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "frames.h5").exists():
        dancenow("extract", f"preset={preset}", f"extract.input={source_video(out, name, video)}",
                 f"extract.output={d / 'frames.h5'}", f"extract.audio={d / 'audio.m4a'}", *extract,
                 log=d / "extract.log")
    if not (d / "poses.h5").exists():
        dancenow("pose", f"preset={preset}", f"pose.input={d / 'frames.h5'}", f"pose.output={d / 'poses.h5'}",
                 log=d / "pose.log")
    return d


def variant_overrides(specs):
    """{variant name: its overrides} of the --variant arguments (EDN's three variants without any)."""
    out = {}
    for spec in specs or variant_names():
        name, sep, rest = spec.partition("=")
        if not sep and name not in variant_names():
            sys.exit(f"--variant {spec}: not one of the package's variants {variant_names()}; give NAME=OVERRIDES")
        out[name] = [o for o in rest.split(";") if o] if sep else [f"variant={name}"]
    return out


def split(overrides):
    """A variant's overrides for extract, train and evaluate (by their keys' sections)."""
    extract = [o for o in overrides if o.startswith("extract.")]
    evaluate = [o for o in overrides if o.startswith(("evaluate.", "render."))]
    return extract, [o for o in overrides if o not in extract and o not in evaluate], evaluate


def train(out, preset, name, variant, data, overrides, iterations, face_iterations):
    d = out / "ablation" / name / variant
    if (d / "generator.pt").exists():
        return 0.0
    d.mkdir(parents=True, exist_ok=True)
    return dancenow("train", f"preset={preset}", f"train.frames={data / 'frames.h5'}",
                    f"train.poses={data / 'poses.h5'}", f"train.output={d / 'generator.pt'}",
                    f"train.workdir={d / 'work'}", "train.holdout=0.2", f"train.iterations={iterations}",
                    f"train.face.iterations={face_iterations}", *overrides, log=d / "train.log")


def step_cost(out, name, variant):
    """A variant's seconds per main step, the median of its training log's readings (every log_every steps): robust
    to the bursts of a shared machine, so that variants of different cost can be compared at equal minutes."""
    readings = main_step_readings((out / "ablation" / name / variant / "train.log").read_text())
    if not readings:
        return "no main steps logged"
    return f"{statistics.median(readings):.3f} s a main step (median of {len(readings)} readings)"


def evaluate(out, preset, name, variant, data, overrides):
    d = out / "ablation" / name / variant
    if not (d / "metrics.json").exists():
        dancenow("evaluate", f"preset={preset}", f"evaluate.frames={data / 'frames.h5'}",
                 f"evaluate.poses={data / 'poses.h5'}", f"evaluate.checkpoint={d / 'generator.pt'}",
                 f"evaluate.output={d / 'metrics.json'}", f"evaluate.plot={d / 'evaluate.png'}",
                 f"evaluate.video={d / 'heldout.mp4'}", *overrides, log=d / "evaluate.log")
    return d / "metrics.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--face-iterations", type=int, default=300)
    ap.add_argument("--out", type=Path, default=REPO / "bench-ablation")
    ap.add_argument("--stage", choices=("all", "prepare", "train"), default="all")
    ap.add_argument("--jobs", type=int, default=1, help="trainings at once (a GPU has room for several)")
    ap.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    ap.add_argument("--variant", action="append", help="NAME or NAME=OVERRIDES (see above); repeat for several")
    args = ap.parse_args()
    out = args.out.resolve()
    variants = {v: split(o) for v, o in variant_overrides(args.variant).items()}
    targets = {name: TARGETS[name] for name in args.targets}
    runs = [(name, variant) for name in targets for variant in variants]
    data = {(name, variant): data_dir(out, name, variants[variant][0]) if args.stage == "train" else
            prepare(out, args.preset, name, targets[name], variants[variant][0]) for name, variant in runs}
    if args.stage == "prepare":
        return 0
    with ThreadPoolExecutor(args.jobs) as pool:
        seconds = list(pool.map(lambda r: train(out, args.preset, *r, data[r], variants[r[1]][1], args.iterations,
                                                args.face_iterations), runs))
    for (name, variant), s in zip(runs, seconds):
        if s:
            print(f"trained {name}/{variant} in {s:.0f} s ({s / 60:.1f} min); {step_cost(out, name, variant)}",
                  flush=True)
    if args.stage == "train":
        return 0
    metrics = [evaluate(out, args.preset, *r, data[r], variants[r[1]][2]) for r in runs]
    dancenow("compare", f"compare.metrics=[{','.join(map(str, metrics))}]",
             f"compare.names=[{','.join(f'{n}/{v}' for n, v in runs)}]", f"compare.output={out / 'ablation.html'}",
             f"compare.csv={out / 'ablation.csv'}", log=out / "compare.log")
    print((out / "ablation.csv").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
