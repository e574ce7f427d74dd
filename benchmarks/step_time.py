"""Seconds per training step of config variants, measured alternately in one run (so a busy machine slows them alike).

    python benchmarks/step_time.py --frames F.h5 --poses P.h5 [--preset quick] [--steps 40] [--rounds 2]
                                   [--load] --variant NAME=KEY=VALUE;KEY=VALUE ...

Each round trains every variant for --steps main-phase steps (`dancenow train`, no face GAN, a fresh work folder)
and reads the s/it it logs every 10 steps, leaving out the first 10 (warm-up). Prints the median per variant and
its ratio to the first variant. A KEY in capitals is an environment variable of that variant's process (e.g.
`--variant passive=OMP_WAIT_POLICY=PASSIVE --variant spin=OMP_WAIT_POLICY=ACTIVE;GOMP_SPINCOUNT=10000`; an empty
value removes it, so `OMP_WAIT_POLICY=` gives the process OpenMP's own default); the others are train overrides.
`--load` keeps a second training (today's defaults, the same data) running on the cores while measuring, as a
user's second job would.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def train_command(preset, frames, poses, steps, folder, overrides):
    return [sys.executable, "-m", "dancenow.cli", "train", f"preset={preset}", f"train.frames={frames}",
            f"train.poses={poses}", f"train.output={folder}/generator.pt", f"train.workdir={folder}/work",
            f"train.iterations={steps}", "train.face.enabled=false", "train.log_every=10", "train.holdout=0.2",
            *overrides]


def variant(spec):
    """(name, train overrides, environment) of a --variant NAME=KEY=VALUE;... (capital KEYs: the environment)."""
    name, _, rest = spec.partition("=")
    items = [o for o in rest.split(";") if o]
    is_env = [bool(re.fullmatch(r"[A-Z_][A-Z0-9_]*", o.partition("=")[0])) for o in items]
    env_items = [o.partition("=") for o, e in zip(items, is_env) if e]
    env = {k: v for k, v in os.environ.items() if k not in {key for key, _, _ in env_items}}
    env.update({key: value for key, _, value in env_items if value})
    return name, [o for o, e in zip(items, is_env) if not e], env


def main_step_readings(log):
    """The s/it of every main-phase log line of a `dancenow train` log but the first (warm-up)."""
    return [float(t) for t in re.findall(r"main it \d+/\d+ .*? ([\d.]+) s/it", log)][1:]


def step_times(preset, frames, poses, steps, overrides, env):
    with tempfile.TemporaryDirectory(prefix="dancenow-steps-") as d:
        res = subprocess.run(train_command(preset, frames, poses, steps, d, overrides), capture_output=True,
                             text=True, env=env)
    if res.returncode:
        sys.exit(f"dancenow train failed:\n{res.stderr[-2000:]}")
    return main_step_readings(res.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--poses", required=True)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=KEY=VALUE;KEY=VALUE (train overrides; capital KEYs: environment variables)")
    ap.add_argument("--load", action="store_true", help="a second training on the cores while measuring")
    args = ap.parse_args()
    frames, poses = Path(args.frames).resolve(), Path(args.poses).resolve()
    variants = {name: (overrides, env) for name, overrides, env in map(variant, args.variant)}
    times = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="dancenow-load-") as d:
        load = subprocess.Popen(train_command(args.preset, frames, poses, 10**6, d, []), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) if args.load else None
        try:
            for _ in range(args.rounds):
                for name, (overrides, env) in variants.items():
                    times[name] += step_times(args.preset, frames, poses, args.steps, overrides, env)
        finally:
            if load:
                load.kill()
                load.wait()
    base = statistics.median(next(iter(times.values())))
    for name, t in times.items():
        m = statistics.median(t)
        print(f"{name}: {m:.3f} s/step (median of {len(t)} readings of 10 steps: {' '.join(f'{x:.2f}' for x in t)}), "
              f"{m / base:.2f}x")


if __name__ == "__main__":
    main()
