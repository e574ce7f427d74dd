"""Throughput of each stage on this machine, side by side in one run: `make bench` or
`python benchmarks/bench.py [--json out.json] [--video path.mp4]`.

- loader: training samples/s of dancenow's loader (frames.h5 + the label maps that training draws once into
  labels.h5) against the layout EDN's and pix2pixHD's code read: a folder of label PNGs and a folder of frame PNGs,
  opened with PIL; both turn them into the same tensors;
- pose: frames/s of the pose stage at 512 px;
- train: steps/s of the main phase at the quick preset (with EDN's temporal smoothing: two generator passes and a
  second discriminator per step), and the step's achieved GFLOP/s (torch.utils.flop_counter) next to
  this machine's fp32 matmul GFLOP/s (the physical limit);
- render: frames/s of the generator plus label drawing at the quick preset.
"""

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import dancenow  # noqa: F401  (first: it sets the OpenMP policy, which is read when torch loads OpenMP)
import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from dancenow import cli, conf
from dancenow.generation import generate
from dancenow.images import to_device, to_tensor
from dancenow.models.checkpoint import generator_config
from dancenow.training.data import PoseFrameDataset
from dancenow.training.phases import generator_phase
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.models.performer import Performer
from dancenow.pose.estimate import estimate_video, postprocess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, peaks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "video" / "dancer_man.mp4"


def timed(fn, n, warmup=1):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def make_frames(video, out, size):
    assert cli.main(["extract", f"extract.input={video}", f"extract.output={out}", f"extract.audio={out}.m4a",
                     f"preset_size.height={size}", f"preset_size.width={size}"]) == 0


def make_poses(frames_path, out):
    c = OmegaConf.to_container(conf.load().pose, resolve=True, throw_on_missing=False)
    with h5.open_input(frames_path, "frames") as f:
        meta = h5.read_frames_meta(f)
        t = time.perf_counter()
        raw = estimate_video(f["frames"], c, meta["width"], meta["height"])
        seconds = time.perf_counter() - t
    with h5.create(out) as g:
        poses_io.write_poses(g, postprocess(raw, 10), meta)
    return meta["n"] / seconds


class PNGFolderDataset(torch.utils.data.Dataset):
    """pix2pixHD's AlignedDataset layout: train_label/NNNNN.png and train_img/NNNNN.png, read with PIL."""

    def __init__(self, root, n):
        self.root, self.n = Path(root), n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        label = np.asarray(Image.open(self.root / "train_label" / f"{i:05d}.png").convert("RGB"))
        image = np.asarray(Image.open(self.root / "train_img" / f"{i:05d}.png").convert("RGB"))
        return to_tensor(label), to_tensor(image)


def write_png_folder(dataset, root):
    (root / "train_label").mkdir(parents=True)
    (root / "train_img").mkdir()
    with h5.open_input(dataset.frames_path, "frames") as f:
        for i in range(len(dataset)):
            Image.fromarray(dataset.label(i)).save(root / "train_label" / f"{i:05d}.png")
            Image.fromarray(f["frames"][int(dataset.indices[i])]).save(root / "train_img" / f"{i:05d}.png")


def loader_rate(dataset, epochs=3):
    def one_epoch():
        for i in range(len(dataset)):
            dataset[i]
    return len(dataset) / timed(one_epoch, epochs)


def bench_train_and_render(frames_path, poses_path, cfg, steps, workdir):
    """The training step of the main phase (temporal smoothing on, as the preset trains) and rendering."""
    c = OmegaConf.to_container(cfg.train, resolve=True, throw_on_missing=False)
    device = torch.device("cpu")
    dataset = PoseFrameDataset(frames_path, poses_path, label_cache=workdir / "labels_t.h5", temporal=c["temporal"])
    gen_cfg = generator_config(c, dataset.height, dataset.width)
    torch.manual_seed(0)
    phase = generator_phase("main", steps, c, gen_cfg, dataset, None, device, contextlib.nullcontext())
    batch = to_device({k: v[None] for k, v in dataset[0].items()}, device)
    step = lambda: phase.step(phase, batch)  # noqa: E731
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    sec = timed(step, steps)

    poses = poses_io.read_poses(poses_path)
    performer = Performer(phase.nets["G"].eval(), gen_cfg)
    n = 2 * int(cfg.render.batch_size)
    render_fps = n / timed(lambda: list(generate(performer, poses, range(n), dataset.height, dataset.width, "cpu",
                                                 int(cfg.render.batch_size))), max(2, steps // 4))
    return dict(train_steps_per_s=1 / sec, train_step_gflop=flops / 1e9, train_gflops_achieved=flops / sec / 1e9,
                render_frames_per_s=render_fps, size=f"{dataset.width}x{dataset.height}", temporal=c["temporal"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(DEFAULT_VIDEO), help="a video of one person (default: dancer_man.mp4)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--steps", type=int, default=8, help="training steps to time")
    args = ap.parse_args()
    if not Path(args.video).is_file():
        sys.exit(f"bench: video not found: {args.video}")
    cfg = conf.load(["preset=quick"])
    size = int(cfg.preset_size.height)
    results = {"machine": describe(torch.device("cpu"))}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_frames(args.video, tmp / "f512.h5", 512)
        results["pose_frames_per_s_512px"] = make_poses(tmp / "f512.h5", tmp / "p512.h5")
        make_frames(args.video, tmp / "frames.h5", size)
        make_poses(tmp / "frames.h5", tmp / "poses.h5")

        dataset = PoseFrameDataset(tmp / "frames.h5", tmp / "poses.h5", label_cache=tmp / "labels.h5")
        write_png_folder(dataset, tmp / "png")
        png = PNGFolderDataset(tmp / "png", len(dataset))
        results["loader_samples_per_s_hdf5"] = loader_rate(dataset)
        results["loader_samples_per_s_png_folder"] = loader_rate(png)
        results["loader_hdf5_over_png"] = results["loader_samples_per_s_hdf5"] / results["loader_samples_per_s_png_folder"]
        results.update(bench_train_and_render(tmp / "frames.h5", tmp / "poses.h5", cfg, args.steps, tmp))
    results["matmul_fp32_gflops"] = peaks(torch.device("cpu"))["fp32"] / 1e9
    results["train_fraction_of_matmul_peak"] = results["train_gflops_achieved"] / results["matmul_fp32_gflops"]

    rows = [("loader, frames.h5 + labels.h5", f"{results['loader_samples_per_s_hdf5']:.0f} samples/s"),
            ("loader, PNG folders (pix2pixHD layout)", f"{results['loader_samples_per_s_png_folder']:.0f} samples/s"),
            ("loader speed-up, HDF5 / PNG", f"{results['loader_hdf5_over_png']:.2f}x (goal >= 3x)"),
            ("pose at 512 px", f"{results['pose_frames_per_s_512px']:.1f} frames/s (goal >= 20)"),
            (f"train step, quick preset {results['size']}, temporal {results['temporal']}",
             f"{results['train_steps_per_s']:.2f} steps/s"),
            ("train step FLOPs", f"{results['train_step_gflop']:.1f} GFLOP"),
            ("train achieved", f"{results['train_gflops_achieved']:.1f} GFLOP/s"),
            ("fp32 matmul (machine limit)", f"{results['matmul_fp32_gflops']:.1f} GFLOP/s"),
            ("train / matmul", f"{100 * results['train_fraction_of_matmul_peak']:.0f} %"),
            (f"render, quick preset {results['size']}", f"{results['render_frames_per_s']:.1f} frames/s")]
    width = max(len(r[0]) for r in rows)
    print(f"dancenow benchmark ({results['machine']})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
