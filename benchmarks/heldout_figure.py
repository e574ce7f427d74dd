"""One held-out frame of ablation variants side by side, captioned: the README's pictures of what a change does.

    python benchmarks/heldout_figure.py DIR/ablation/TARGET --variant NAME=CAPTION ... --frame K --out FIG.jpg

Each variant's heldout.mp4 (written by `dancenow evaluate`: real | generated) gives its generated frame K. The real
frame comes first; where variants were extracted differently (letterboxed vs framed), each distinct real frame is
shown, first and last.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from dancenow.layout import caption_bar


def frame_of(video, k):
    """(real, generated) frame k of a side-by-side held-out video, RGB."""
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, k)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"{video} has no frame {k}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    half = img.shape[1] // 2
    return img[:, :half], img[:, half:]


def captioned(img, text):
    band = caption_bar(text, img.shape[1], img.shape[0])
    return np.concatenate([band, img])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", type=Path, help="an ablation target folder: DIR/ablation/<target>")
    ap.add_argument("--variant", action="append", required=True, help="NAME=CAPTION, in the order shown")
    ap.add_argument("--frame", type=int, default=0, help="index within the held-out frames")
    ap.add_argument("--real", action="append", help="captions of the real frames (default: real, or real (as the "
                    "first saw it) and real (as the last))")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    reals, tiles = [], []
    for spec in args.variant:
        name, _, caption = spec.partition("=")
        real, generated = frame_of(args.target / name / "heldout.mp4", args.frame)
        if not any(r.shape == real.shape and np.abs(r.astype(int) - real).mean() < 2 for r in reals):
            reals.append(real)
        tiles.append(captioned(generated, caption or name))
    if len(reals) == 1:
        row = [captioned(reals[0], (args.real or ["real"])[0]), *tiles]
    else:
        first, last = args.real or ["real (as the first saw it)", "real (as the last)"]
        row = [captioned(reals[0], first), *tiles, captioned(reals[-1], last)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(row, axis=1), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
