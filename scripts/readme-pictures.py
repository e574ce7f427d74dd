"""The README's pictures, made from what the project wrote (`make pictures`):

    python scripts/readme-pictures.py grid results/grid.mp4 docs/demo_grid.jpg [--frames 3]

a few frames of a grid video side by side (evenly spaced, skipping the first and last tenth), halved, as a JPEG.
The held-out figures of real footage come from benchmarks/heldout_figure.py on the ablation benchmark's results.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

GAP = 8  # pixels between frames


def grid_frames(video, n):
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if total < 1:
        raise SystemExit(f"{video} has no frames: run `make demo` first")
    picks = np.linspace(0.1 * total, 0.9 * total, n).round().astype(int)
    frames = []
    for k in picks:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(k))
        ok, img = cap.read()
        if not ok:
            raise SystemExit(f"{video}: cannot read frame {k}")
        frames.append(img)
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grid", help="frames of a grid video side by side")
    g.add_argument("video", type=Path)
    g.add_argument("out", type=Path)
    g.add_argument("--frames", type=int, default=3)
    g.add_argument("--scale", type=float, default=0.75)
    args = ap.parse_args()
    frames = [cv2.resize(f, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
              for f in grid_frames(args.video, args.frames)]
    gap = np.full((frames[0].shape[0], GAP, 3), 255, np.uint8)
    row = np.concatenate([x for f in frames for x in (f, gap)][:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), row, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({row.shape[1]}x{row.shape[0]}, {args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
