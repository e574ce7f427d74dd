"""Seconds per training step of the official NVIDIA pix2pixHD code and of dancenow at one configuration, on the CPU:
`python benchmarks/pix2pixhd_side_by_side.py --pix2pixhd DIR [--rounds 3] [--steps 10] [--env same|default|both]
[--omp-wait-policy PASSIVE] [--threads N] [--vgg on|off] [--load] [--json out.json]`. DIR is a checkout of
NVIDIA/pix2pixHD, run unmodified.

The configuration of both: pix2pixHD's GlobalGenerator at 256x256 (ngf 32, 3 downsamplings, 6 residual blocks,
transposed-convolution upsampling), 2 multiscale PatchGAN discriminators (ndf 64, 3 layers, label 3 + image 3
input channels), batch 1, LSGAN + discriminator feature matching + VGG-19 perceptual loss (lambdas 10; --vgg off:
no VGG loss in either), no instance maps, no features, label_nc 0: the label map is an RGB image, as EDN's pose
renderings are. Both train on the same batches (frames of a procedural performer and their label maps, made by
dancenow's PoseFrameDataset) with the same random VGG-19 weights (there is no internet to download the ImageNet
ones; the compute is the same). A step is one complete training step: G's update, then D's, each code's own way
(dancenow: `phase.step` of its main phase, frame by frame; official: `Pix2PixHDModel.forward`, then its train.py's
backward and optimizer steps, reproduced here).

Each round runs every code in a fresh subprocess of this file, alternating official, dancenow, ...; a subprocess
builds the networks, warms up 2 steps, times --steps steps (their median), and counts one step's FLOPs with
torch.utils.flop_counter (forward and backward of G's and D's updates). --env: `same` gives both the identical
environment (OMP_WAIT_POLICY=--omp-wait-policy, no GOMP_SPINCOUNT); `default` removes OMP_WAIT_POLICY and
GOMP_SPINCOUNT, so each code gets its own default (official: libgomp's; dancenow: what its package chooses on
import, dancenow/openmp.py); both threads=--threads.
--load keeps a convolution training job (--threads threads, idle threads sleeping) running on the cores while
timing, as a user's second job would.

Prints the CPU, the fp32 matmul peak measured in this run (before --load starts), both codes' parameter counts
(asserted equal) and FLOPs per step, and per env mode: each code's s/step (median over rounds), GFLOP/s, fraction
of the fp32 peak, and the ratio official / dancenow s/step (> 1: dancenow is faster).

The official code needs these shims, applied in its subprocess only: `.cuda()` of tensors and modules returns them
unchanged (its encode_input and VGGLoss call it even with --gpu_ids -1), and torchvision's `vgg19(pretrained=True)`
returns the random weights above instead of downloading.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE, FRAMES = 256, 4
CODES = ("official", "dancenow")
OFFICIAL_ARGS = ["--name", "side_by_side", "--model", "pix2pixHD", "--gpu_ids", "-1", "--label_nc", "0",
                 "--no_instance", "--netG", "global", "--ngf", "32", "--n_downsample_global", "3",
                 "--n_blocks_global", "6", "--ndf", "64", "--n_layers_D", "3", "--num_D", "2", "--batchSize", "1",
                 "--loadSize", str(SIZE), "--fineSize", str(SIZE), "--resize_or_crop", "none", "--lambda_feat", "10"]
DANCENOW_OVERRIDES = ["preset=quick", "variant=frame", "train.ngf=32", "train.n_downsample=3", "train.n_blocks=6",
                      "train.ndf=64", "train.n_layers_d=3", "train.num_d=2", "train.upsample=transpose",
                      "train.background=none", "train.n_local_enhancers=0", "train.lambda_feat=10",
                      "train.batch_size=1", "train.amp=off"]


# ---- the subprocesses ---------------------------------------------------------------------------------------------

def make_inputs(folder):
    """data.pt (FRAMES label maps and frames, float [-1,1], from dancenow's PoseFrameDataset) and vgg19.pth (random
    VGG-19 `features` weights, torchvision's keys) in `folder`: what both codes train on."""
    import torch
    import torchvision
    from train_paper import make_data

    from dancenow.images import to_device
    from dancenow.training.data import PoseFrameDataset

    frames, poses = make_data(folder, SIZE, SIZE, FRAMES)
    ds = PoseFrameDataset(frames, poses)
    items = [to_device(ds[i], torch.device("cpu")) for i in range(len(ds))]
    torch.save({k: torch.stack([it[k] for it in items]) for k in ("label", "real")}, folder / "data.pt")
    torch.manual_seed(0)
    features = torchvision.models.vgg19(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, folder / "vgg19.pth")


def official_trainer(checkout, folder, vgg):
    """(step(label, real), {'G': params, 'D': params}) of the official code, built as its train.py builds it."""
    import torch
    import torchvision

    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # shim: CPU-only torch; official calls .cuda() anyway
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    vgg19, features = torchvision.models.vgg19, torch.load(folder / "vgg19.pth")

    def random_vgg19(pretrained=False, **kwargs):  # shim: no download; the same random weights as dancenow's
        net = vgg19(weights=None)
        net.features.load_state_dict({k[len("features."):]: v for k, v in features.items()})
        return net

    torchvision.models.vgg19 = random_vgg19
    sys.path.insert(0, str(checkout))
    from models.models import create_model
    from options.train_options import TrainOptions

    sys.argv = ["train.py", *OFFICIAL_ARGS, *([] if vgg else ["--no_vgg_loss"]),
                "--checkpoints_dir", str(folder / "checkpoints")]
    with contextlib.redirect_stdout(sys.stderr):  # it prints its options and networks
        model = create_model(TrainOptions().parse())
    zero = torch.zeros(1)  # inst and feat: unused without instance maps and features

    def step(label, real):  # official train.py's loop body
        losses, _ = model(label, zero, real, zero, infer=False)
        losses = [torch.mean(x) if not isinstance(x, int) else x for x in losses]
        loss_dict = dict(zip(model.loss_names, losses))
        loss_D = (loss_dict["D_fake"] + loss_dict["D_real"]) * 0.5
        loss_G = loss_dict["G_GAN"] + loss_dict.get("G_GAN_Feat", 0) + loss_dict.get("G_VGG", 0)
        model.optimizer_G.zero_grad()
        loss_G.backward()
        model.optimizer_G.step()
        model.optimizer_D.zero_grad()
        loss_D.backward()
        model.optimizer_D.step()

    return step, {"G": n_params(model.netG), "D": n_params(model.netD)}


def dancenow_trainer(folder, vgg):
    """(step(label, real), {'G': params, 'D': params}) of dancenow's main phase, frame by frame."""
    import torch
    from omegaconf import OmegaConf

    from dancenow import conf
    from dancenow.device import amp_context
    from dancenow.models.checkpoint import generator_config
    from dancenow.models.losses import perceptual_loss
    from dancenow.training.phases import generator_phase

    cfg = conf.load([*DANCENOW_OVERRIDES, f"train.vgg_weights={folder / 'vgg19.pth'}",
                     f"train.lambda_vgg={10 if vgg else 0}"])
    c = OmegaConf.to_container(cfg.train, resolve=True, throw_on_missing=False)
    device = torch.device("cpu")
    autocast, _ = amp_context(c["amp"], device, "train.amp")
    phase = generator_phase("main", 0, c, generator_config(c, SIZE, SIZE), None,
                            perceptual_loss(c["vgg_weights"], c["lambda_vgg"]), device, autocast)

    def step(label, real):
        phase.step(phase, {"label": label, "real": real})

    return step, {"G": n_params(phase.nets["G"]), "D": n_params(phase.nets["D"])}


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def time_code(code, checkout, folder, threads, steps, vgg, warmup=2):
    """One code's figures: median s/step of `steps` steps after `warmup`, FLOPs of one step, parameters."""
    if code == "dancenow":
        import dancenow  # noqa: F401  (its __init__ sets its OpenMP defaults; it must run before torch loads OpenMP)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step, params = official_trainer(checkout, folder, vgg) if code == "official" else dancenow_trainer(folder, vgg)
    data = torch.load(folder / "data.pt")
    batches = [(data["label"][i % FRAMES][None], data["real"][i % FRAMES][None]) for i in range(warmup + steps)]
    for label, real in batches[:warmup]:
        step(label, real)
    times = []
    for label, real in batches[warmup:]:
        t = time.perf_counter()
        step(label, real)
        times.append(time.perf_counter() - t)
    with FlopCounterMode(display=False) as flops:
        step(*batches[0])
    return {"code": code, "s_per_step": statistics.median(times), "times": times,
            "flops_per_step": flops.get_total_flops(), "params": params, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", "unset")}


def load_job(threads):
    """Forever: a training-like fp32 job (a 3-layer conv net's forward, backward, SGD step) on `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(64, 3, 3, padding=1))
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)
    x = torch.randn(1, 3, SIZE, SIZE)
    while True:
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()


# ---- the parent ---------------------------------------------------------------------------------------------------

def worker_env(mode, wait_policy):
    """The environment of a worker: with `same` OMP_WAIT_POLICY=wait_policy for both codes, with `default` no OpenMP
    setting at all (and no mark of dancenow's own choice, which it would otherwise make again)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "DANCENOW_OPENMP_CHOSEN")}
    if mode == "same":
        env["OMP_WAIT_POLICY"] = wait_policy
    return env


def run_worker(worker, args, folder, env=None):
    """The JSON line a `--worker` subprocess of this file prints last (None for those that print nothing)."""
    cmd = [sys.executable, __file__, "--worker", worker, "--folder", str(folder), "--threads", str(args.threads),
           "--steps", str(args.steps), "--vgg", args.vgg, "--pix2pixhd", str(args.pix2pixhd)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if res.returncode:
        sys.exit(f"--worker {worker} failed:\n{res.stderr[-3000:]}")
    lines = res.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def policy(run):
    return f"OMP_WAIT_POLICY={run['omp_wait_policy']}, GOMP_SPINCOUNT={run['gomp_spincount']}"


def summary(runs, peak):
    """Per code: median over rounds of the rounds' s/step, GFLOP/s, fraction of peak; the ratio, also per round."""
    out = {}
    for code in CODES:
        mine = [r for r in runs if r["code"] == code]
        s = statistics.median(r["s_per_step"] for r in mine)
        flops = mine[0]["flops_per_step"]
        out[code] = {"s_per_step": s, "rounds": [r["s_per_step"] for r in mine], "gflop_per_s": flops / s / 1e9,
                     "fraction_of_peak": flops / s / peak, "openmp": policy(mine[0])}
    out["ratio_official_over_dancenow"] = out["official"]["s_per_step"] / out["dancenow"]["s_per_step"]
    out["ratio_per_round"] = [o / d for o, d in zip(out["official"]["rounds"], out["dancenow"]["rounds"])]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pix2pixhd", type=Path, help="a checkout of github.com/NVIDIA/pix2pixHD")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per code and round")
    ap.add_argument("--env", choices=("same", "default", "both"), default="both")
    ap.add_argument("--omp-wait-policy", default="PASSIVE", help="OMP_WAIT_POLICY of both codes with --env same")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of both codes")
    ap.add_argument("--vgg", choices=("on", "off"), default="on", help="the VGG-19 perceptual loss, in both codes")
    ap.add_argument("--load", action="store_true", help="a conv training job on the cores while timing")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", choices=(*CODES, "inputs", "load"), help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker in CODES:
        print(json.dumps(time_code(args.worker, args.pix2pixhd, args.folder, args.threads, args.steps,
                                   args.vgg == "on")))
        return 0
    if args.worker == "inputs":
        make_inputs(args.folder)
        return 0
    if args.worker == "load":
        load_job(args.threads)
        return 0
    if args.pix2pixhd is None or not (args.pix2pixhd / "models" / "pix2pixHD_model.py").is_file():
        ap.error("--pix2pixhd DIR: a checkout of NVIDIA/pix2pixHD (models/pix2pixHD_model.py) is needed")
    args.pix2pixhd = args.pix2pixhd.resolve()

    import torch
    from hardware import cpu_info, describe, peaks

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    print(describe(device), flush=True)
    peak = peaks(device)["fp32"]
    print(f"fp32 peak: {peak / 1e9:.1f} GFLOP/s (2048x2048 matmul, {args.threads} threads, measured now)", flush=True)
    print(f"both codes: GlobalGenerator ngf 32, 3 downsamplings, 6 blocks; 2 discriminators ndf 64, 3 layers; "
          f"{SIZE}x{SIZE}, batch 1, LSGAN + feature matching, VGG loss {args.vgg}; {args.threads} threads; "
          f"--load {'on' if args.load else 'off'}", flush=True)
    modes = ("same", "default") if args.env == "both" else (args.env,)
    runs = []
    with tempfile.TemporaryDirectory(prefix="p2phd-side-by-side-") as folder:
        run_worker("inputs", args, folder)
        load = (subprocess.Popen([sys.executable, __file__, "--worker", "load", "--threads", str(args.threads)],
                                 env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}) if args.load else None)
        try:
            for r in range(args.rounds):
                for mode in modes:
                    for code in CODES:
                        res = {**run_worker(code, args, folder, worker_env(mode, args.omp_wait_policy)),
                               "round": r, "env": mode, "load": args.load}
                        runs.append(res)
                        print(f"round {r + 1} env {mode:7s} {code:8s} {res['s_per_step']:.3f} s/step (median of "
                              f"{args.steps}), {policy(res)}, threads {res['threads']}", flush=True)
        finally:
            if load:
                load.kill()
                load.wait()
    first = {code: next(r for r in runs if r["code"] == code) for code in CODES}
    for code, r in first.items():
        print(f"{code:8s} parameters: G {r['params']['G']:,}, D {r['params']['D']:,} "
              f"({r['params']['D'] // 2:,} per scale); {r['flops_per_step'] / 1e9:.1f} GFLOP per step")
    assert first["official"]["params"] == first["dancenow"]["params"], "the two codes' networks differ"
    figures = {}
    for mode in modes:
        figures[mode] = s = summary([r for r in runs if r["env"] == mode], peak)
        print(f"env {mode}{' (loaded by --load)' if args.load else ''}:")
        for code in CODES:
            f = s[code]
            print(f"  {code:8s} {f['s_per_step']:.3f} s/step  {f['gflop_per_s']:6.1f} GFLOP/s  "
                  f"{f['fraction_of_peak']:.2f} of fp32 peak  ({f['openmp']})")
        print(f"  official / dancenow: {s['ratio_official_over_dancenow']:.2f} "
              f"(rounds: {', '.join(f'{x:.2f}' for x in s['ratio_per_round'])}; > 1: dancenow faster)", flush=True)
    if args.json:
        report = {"device": describe(device), "cpu": cpu_info(), "fp32_peak": peak, "threads": args.threads,
                  "load": args.load, "vgg": args.vgg, "steps": args.steps, "rounds": args.rounds,
                  "official_args": OFFICIAL_ARGS, "dancenow_overrides": DANCENOW_OVERRIDES, "summary": figures,
                  "runs": runs}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
