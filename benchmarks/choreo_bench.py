"""Choreography: 60 s dances made up by the network trained with auto-conditioning (acLSTM) and by the baseline, the
same network trained with teacher forcing only, from the CMU salsa motion capture and from dancer_man.mp4's poses.

    python benchmarks/choreo_bench.py [--preset quick] [--seeds 0 1] [--seconds 60] [--out bench-choreo] [--jobs 2]
                                      [--sources salsa dancer_man] [--set choreo.iterations=2000 ...]

Every dance is a `dancenow choreo` command (skipped when its metrics.json exists); DIR/choreo.csv and DIR/choreo.md
hold their metrics, DIR/<source>/<variant>/seed<N>/sheet.png 12 frames of each stick-figure video to look at.
The baseline gets the same free-running model selection (`choreo.select_every`) as the auto-conditioned network.

Then every trained network dances `--runs` more 60 s dances (other seed windows) at each of `--temperatures`
(DIR/robustness.md): how often a dance froze, what share of its 2 s windows moved within the training range and
what share replayed a training window.
"""

import argparse
import csv
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import dancenow, prepare  # noqa: E402
from dancenow.choreo import model as M  # noqa: E402
from dancenow.choreo import motion  # noqa: E402
from dancenow.choreo.placement import body_height  # noqa: E402
from dancenow.choreo.sources import load_bvh, load_poses  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SALSA = [SHARED / "mocap" / f"cmu_salsa_0{i}.bvh" for i in (1, 2, 3)]
VARIANTS = {"auto-conditioned": "choreo.auto_condition=true", "teacher-forced": "choreo.auto_condition=false"}


def sources(out, preset, names):
    srcs = {}
    if "salsa" in names:
        srcs["salsa"] = "choreo.bvh=[" + ",".join(map(str, SALSA)) + "]"
    if "dancer_man" in names:
        d = prepare(out, preset, "dancer_man", SHARED / "video" / "dancer_man.mp4")
        srcs["dancer_man"] = f"choreo.poses=[{d / 'poses.h5'}]"
    return srcs


def contact_sheet(video, path, n=12, tile=192):
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    tiles = []
    for i in np.linspace(0, len(frames) - 1, n).astype(int):
        t = cv2.resize(frames[i], (tile, tile))
        cv2.putText(t, f"{i / 30:.0f} s", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        tiles.append(t)
    rows = [np.hstack(tiles[k:k + n // 2]) for k in (0, n // 2)]
    cv2.imwrite(str(path), np.vstack(rows))


def run(out, preset, source, src_override, variant, seed, seconds, extra):
    d = out / source / variant / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "metrics.json").exists():
        dancenow("choreo", f"preset={preset}", "threads=1", src_override, VARIANTS[variant], f"seed={seed}",
                 f"choreo.seconds={seconds}", f"choreo.output={d / 'dance.h5'}", f"choreo.video={d / 'dance.mp4'}",
                 f"choreo.metrics={d / 'metrics.json'}", f"choreo.model={d / 'model.pt'}", *extra,
                 log=d / "choreo.log")
    contact_sheet(d / "dance.mp4", d / "sheet.png")
    m = json.loads((d / "metrics.json").read_text())
    e = m["motion_energy"]
    return {"source": source, "variant": variant, "seed": seed,
            "energy_min": e["min"], "energy_max": e["max"],
            "training_min": e["training_range"][0], "training_max": e["training_range"][1],
            "frozen": m["frozen"], "energy_in_range": m["energy_in_range"],
            "windows_below_training": sum(x < e["training_range"][0] for x in e["per_window"]),
            "windows": len(e["per_window"]), "bone_length_error": m["bone_length_error"], "nan": m["nan"],
            "novelty_min": m["novelty"]["min"], "novelty_median": m["novelty"]["median"],
            "copy_threshold": m["novelty"]["copy_threshold"], "copied_windows": m["novelty"]["copied_windows"],
            "novel": m["novel"], "kept_iteration": m["training"]["kept_iteration"],
            "loss_last": m["training"]["loss_last"]}


def training_poses(src_override):
    """The training pose sequences (body units, 30 fps) of a source override of `sources`."""
    paths = src_override.split("=", 1)[1].strip("[]").split(",")
    load = load_bvh if src_override.startswith("choreo.bvh") else load_poses
    return [load(p, 30.0) for p in paths]


def robustness(out, source, src_override, variant, seed, temperatures, runs, seconds):
    """Dances of the trained network from `runs` other real windows at each temperature: a list of table rows."""
    saved = torch.load(out / source / variant / f"seed{seed}" / "model.pt", weights_only=True)
    cfg = saved["config"]
    net = M.ChoreoNet(saved["dim"], cfg["hidden"], cfg["layers"], cfg["cell"])
    net.load_state_dict(saved["state_dict"])
    net.eval()
    poses = training_poses(src_override)
    feats = [motion.encode(p, scale=1.0)[0] for p in poses]
    unit = body_height(poses)
    trange = M.energy_range(poses, 30.0, unit=unit)
    ranges, window = M.bone_ranges(poses), 60
    thr = M.copy_threshold(poses, unit=unit)
    rng = np.random.default_rng(1000 + seed)
    picks = [(i, int(rng.integers(len(feats[i]) - 30 + 1))) for i in rng.integers(len(feats), size=runs)]
    seeds = torch.from_numpy(np.stack([feats[i][t:t + 30] for i, t in picks]))
    rows = []
    for temp in temperatures:
        gen = M._free_run(net, (seeds - net.mean) / net.std, int(seconds * 30), temp,
                          torch.Generator().manual_seed(seed))
        frozen, in_range, copied, bone = 0, [], [], 0.0
        for f in (gen * net.std + net.mean).numpy():
            dance = motion.decode(f)
            e = M.motion_energy(dance, 30.0, unit=unit)
            frozen += M.frozen(e, trange)
            in_range.append(((e >= trange[0]) & (e <= trange[1])).mean())
            copied.append((M.novelty(dance, poses, window, unit=unit) < thr).mean())
            bone = max(bone, M.bone_length_error(dance, ranges))
        rows.append({"source": source, "variant": variant, "seed": seed, "temperature": temp, "dances": runs,
                     "frozen_dances": frozen, "windows_in_range": float(np.mean(in_range)),
                     "windows_copied": float(np.mean(copied)), "bone_length_error": bone})
    return rows


def markdown(rows, cols):
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--sources", nargs="+", default=["salsa", "dancer_man"])
    ap.add_argument("--out", type=Path, default=Path("bench-choreo"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="extra Hydra overrides for every run")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args()
    out = args.out.resolve()
    srcs = sources(out, args.preset, args.sources)
    todo = [(s, v, seed) for s in srcs for v in VARIANTS for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda t: run(out, args.preset, t[0], srcs[t[0]], t[1], t[2], args.seconds, args.set),
                             todo))
    with open(out / "choreo.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cols = ["source", "variant", "seed", "energy_min", "energy_max", "training_min", "training_max",
            "windows_below_training", "frozen", "energy_in_range", "bone_length_error", "novelty_min",
            "novelty_median", "copy_threshold", "copied_windows", "kept_iteration"]
    (out / "choreo.md").write_text(markdown(rows, cols))
    print(markdown(rows, cols))
    torch.set_num_threads(1)
    robust = [r for s, v, seed in todo
              for r in robustness(out, s, srcs[s], v, seed, args.temperatures, args.runs, args.seconds)]
    (out / "robustness.md").write_text(markdown(robust, list(robust[0])))
    print(markdown(robust, list(robust[0])))


if __name__ == "__main__":
    main()
