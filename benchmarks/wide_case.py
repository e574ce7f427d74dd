"""A 16:9 phone-like clip built from a real one: the person of target_woman.mp4 (9:16) cut out with mediapipe's
segmentation and placed, half the frame tall and right of centre, into a 1280x720 furnished, textured room (a static
camera: the same room in every frame).

    python benchmarks/wide_case.py OUT.mp4 [--source ../shared/data/video/target_woman.mp4]
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from dancenow.io.video import VideoReader, VideoWriter  # noqa: E402

WIDTH, HEIGHT = 1280, 720
PERSON_HEIGHT = 0.55  # of the frame height: the source frame's height scaled to this
PERSON_X = 0.62       # centre of the person, as a fraction of the width


def room(seed=0):
    """A furnished, textured room: striped wallpaper with fine noise, a wooden floor, a sofa, a shelf, a lamp."""
    rng = np.random.default_rng(seed)
    img = np.zeros((HEIGHT, WIDTH, 3), np.float64)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    img[:] = (172, 160, 132)
    img += (8 * np.sin(x / 6.0))[..., None] * np.array([1, 0.9, 0.7])  # wallpaper stripes
    floor = y > 0.78 * HEIGHT
    img[floor] = (110, 78, 52)
    img[floor] += (10 * np.sin(x[floor] / 23.0 + 3 * np.sin(y[floor] / 7.0)))[..., None]  # wood grain
    for (x0, y0, x1, y1), colour in (((60, 380, 470, 600), (70, 90, 120)), ((90, 330, 440, 400), (60, 80, 110)),
                                     ((980, 140, 1220, 170), (90, 60, 40)), ((980, 260, 1220, 290), (90, 60, 40)),
                                     ((1000, 90, 1040, 140), (180, 40, 40)), ((1100, 210, 1150, 260), (40, 120, 60)),
                                     ((560, 150, 575, 560), (50, 50, 50)), ((530, 110, 605, 160), (230, 220, 170))):
        img[y0:y1, x0:x1] = colour
    img += rng.normal(0, 6, img.shape)  # fine texture everywhere
    return np.clip(img, 0, 255).astype(np.uint8)


def build(source, out):
    import mediapipe as mp

    reader = VideoReader(source)
    h = int(PERSON_HEIGHT * HEIGHT)
    w = round(reader.width * h / reader.height)
    x0, y0 = int(PERSON_X * WIDTH - w / 2), int(0.92 * HEIGHT - h)
    background = room()
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg, \
            VideoWriter(out, WIDTH, HEIGHT, reader.fps) as writer:
        for frame in reader:
            mask = cv2.GaussianBlur(seg.process(frame).segmentation_mask.astype(np.float32), (0, 0), 2.0)
            small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
            alpha = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)[..., None]
            out_frame = background.astype(np.float32)
            region = out_frame[y0:y0 + h, x0:x0 + w]
            out_frame[y0:y0 + h, x0:x0 + w] = alpha * small + (1 - alpha) * region
            writer.write(np.clip(out_frame, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "video" / "target_woman.mp4")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build(args.source, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
