"""The OpenPose backend's two speed-ups, side by side in one run on whatever device torch finds:
`python benchmarks/openpose_bench.py [--frames 32] [--batch 8] [--height 368] [--width 656] [--json out.json]`.

- network: frames/s of the body network's forward in batches vs one image at a time (random weights in the users'
  file layout: the speed does not depend on the values);
- decoding: frames/s of the batched device decoder vs the straightforward per-image NumPy decoder, on the same maps
  (constructed people, as the decoder's tests draw them: 3 people per image at the frame size).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from test_openpose_decode import person, render  # noqa: E402  (the decoder tests' map renderer)

from dancenow.pose.openpose.decode import decode, decode_numpy  # noqa: E402
from dancenow.pose.openpose.network import BodyPoseNetwork, run_network  # noqa: E402
from dancenow.device import amp_context  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeat=3):
    fn()  # warm-up (cuDNN algorithm choice, allocator)
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--height", type=int, default=368)
    ap.add_argument("--width", type=int, default=656)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    autocast, amp = amp_context("auto", device, "pose.amp")
    torch.manual_seed(0)
    net = BodyPoseNetwork().to(device).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    r = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "amp": amp,
         "frames": args.frames, "size": f"{args.width}x{args.height}"}
    with torch.inference_mode():
        batched = timed(lambda: run_network(net, frames, batch_size=args.batch, device=device, autocast=autocast),
                        device)
        single = timed(lambda: [run_network(net, frames[i:i + 1], batch_size=1, device=device, autocast=autocast)
                                for i in range(args.frames)], device)
    r.update(network_batched_fps=args.frames / batched, network_single_fps=args.frames / single)

    maps = [render([person(x, 60, 2.5, rng) for x in (100, 300, 500)], h=args.height, w=args.width)
            for _ in range(args.batch)]
    heat = torch.from_numpy(np.stack([m[0] for m in maps])).to(device)
    pafs = torch.from_numpy(np.stack([m[1] for m in maps])).to(device)
    device_s = timed(lambda: decode(heat, pafs), device)
    numpy_s = timed(lambda: [decode_numpy(h.transpose(1, 2, 0), p.transpose(1, 2, 0)) for h, p in maps], device, 1)
    found = [len(p) for p in decode(heat, pafs)]
    r.update(decode_device_fps=args.batch / device_s, decode_numpy_fps=args.batch / numpy_s, people_found=found)
    r["network_speedup"] = r["network_batched_fps"] / r["network_single_fps"]
    r["decode_speedup"] = r["decode_device_fps"] / r["decode_numpy_fps"]
    end_to_end = 1 / (1 / r["network_batched_fps"] + 1 / r["decode_device_fps"])
    baseline = 1 / (1 / r["network_single_fps"] + 1 / r["decode_numpy_fps"])
    r.update(batched_path_fps=end_to_end, per_image_path_fps=baseline, path_speedup=end_to_end / baseline)
    print(f"openpose on {r['device']} ({r['size']}, bf16 {amp}):")
    print(f"  network  batch {args.batch}: {r['network_batched_fps']:8.1f} frames/s   one at a time: "
          f"{r['network_single_fps']:8.1f} frames/s   x{r['network_speedup']:.2f}")
    print(f"  decoding on {device.type}: {r['decode_device_fps']:8.1f} frames/s   NumPy per image: "
          f"{r['decode_numpy_fps']:8.1f} frames/s   x{r['decode_speedup']:.2f}   (people found {found})")
    print(f"  whole path: batched {end_to_end:.1f} frames/s vs per image {baseline:.1f} frames/s: "
          f"x{r['path_speedup']:.2f} (goal on a GPU: at least 5x)")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
