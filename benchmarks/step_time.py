"""Seconds per training step of config variants, measured alternately in one run (so a busy machine slows them alike).

    python benchmarks/step_time.py --frames F.h5 --poses P.h5 [--preset quick] [--steps 40] [--rounds 2]
                                   --variant NAME=KEY=VALUE;KEY=VALUE ...

Each round trains every variant for --steps main-phase steps (`dancenow train`, no face GAN, a fresh work folder)
and reads the s/it it logs every 10 steps, leaving out the first 10 (warm-up). Prints the median per variant and
its ratio to the first variant.
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def step_times(preset, frames, poses, steps, overrides):
    with tempfile.TemporaryDirectory(prefix="dancenow-steps-") as d:
        res = subprocess.run([sys.executable, "-m", "dancenow.cli", "train", f"preset={preset}",
                              f"train.frames={frames}", f"train.poses={poses}", f"train.output={d}/generator.pt", f"train.workdir={d}/work",
                              f"train.iterations={steps}", "train.face.enabled=false", "train.log_every=10",
                              "train.holdout=0.2", *overrides], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"dancenow train failed:\n{res.stderr[-2000:]}")
    times = [float(t) for t in re.findall(r"main it \d+/\d+ .*? ([\d.]+) s/it", res.stderr)]
    return times[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--poses", required=True)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variant", action="append", required=True, help="NAME=KEY=VALUE;KEY=VALUE (train overrides)")
    args = ap.parse_args()
    variants = {}
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        variants[name] = [o for o in rest.split(";") if o]
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, overrides in variants.items():
            times[name] += step_times(args.preset, Path(args.frames).resolve(), Path(args.poses).resolve(),
                                      args.steps, overrides)
    base = statistics.median(next(iter(times.values())))
    for name, t in times.items():
        m = statistics.median(t)
        print(f"{name}: {m:.3f} s/step (median of {len(t)} readings of 10 steps), {m / base:.2f}x")


if __name__ == "__main__":
    main()
