"""The room a procedural performer dances in, as people film at home: a papered wall with a window, a picture and a
shelf of books, a sofa, a lamp and a plant on a floor of boards or tiles seen in perspective, a rug.

The furniture stands beside the performer, who dances in the middle (nothing within `CLEAR` frame heights of
the centre line but the wallpaper, the floor and the rug); it is sized by the frame's height, so a wide frame
shows more of the room. Deterministic in (look, size, seed).
"""

import cv2
import numpy as np

from .body import HORIZON, SOLE, WALL_BASE
from .draw import AA, SHIFT, _fix, _tone

CLEAR = 0.30  # half the furniture-free band around the performer, as a fraction of the frame height


def _box(img, x0, y0, x1, y1, color, edge=0.6):
    pts = _fix([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    cv2.fillConvexPoly(img, pts, color, AA, SHIFT)
    cv2.polylines(img, [pts], True, _tone(color, edge), 1, AA, SHIFT)


def _wall(look, w, h, rng):
    """Wallpaper: soft vertical stripes with a fine grain, darker toward the floor; the floor's base tone."""
    y = (np.arange(h, dtype=np.float32) / h)[:, None, None]
    x = (np.arange(w, dtype=np.float32) / w)[None, :, None]
    vignette = 1.0 - 0.18 * (x - 0.5) ** 2 * 4
    period = 0.055 * h
    stripes = 1.0 + 0.05 * np.sign(np.sin(2 * np.pi * np.arange(w) / period))[None, :, None]
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)[..., None] * 0.06
    wall = np.array(look.wall, np.float32) * (1.04 - 0.12 * y / WALL_BASE) * vignette * (stripes + grain)
    depth = np.clip((y - WALL_BASE) / (1 - WALL_BASE), 0, 1)
    floor = np.array(look.floor, np.float32) * (0.78 + 0.3 * depth) * vignette
    img = np.where(y < WALL_BASE, wall, floor)
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _floor(img, look, w, h):
    """Boards converging to the vanishing point, joints across them closer together with distance, a skirting."""
    vx, vy, yw = w / 2, HORIZON * h, WALL_BASE * h
    line = _tone(look.floor, 0.62)
    for k in range(-40, 41):
        xb = vx + k * 0.1 * h
        top = vx + (xb - vx) * (yw - vy) / (h - vy)
        cv2.line(img, tuple(_fix((top, yw))), tuple(_fix((xb, h))), line, 1, AA, SHIFT)
    for z in np.geomspace(0.7, 3.2, 9):
        yy = vy + (SOLE * h - vy) / z * 1.25
        if yw < yy < h:
            cv2.line(img, tuple(_fix((0, yy))), tuple(_fix((w, yy))), line, 1, AA, SHIFT)
    cv2.rectangle(img, (0, int(yw - 0.025 * h)), (w, int(yw)), _tone(look.wall, 1.12), -1)
    cv2.line(img, (0, int(yw)), (w, int(yw)), _tone(look.wall, 0.55), 1, AA)


def _rug(img, w, h, color):
    """A rug on the floor under the performer, in perspective."""
    cx, yf, yb = w / 2, 0.95 * h, 0.70 * h
    half_front, half_back = 0.55 * h, 0.36 * h
    pts = np.array([(cx - half_back, yb), (cx + half_back, yb), (cx + half_front, yf), (cx - half_front, yf)])
    cv2.fillConvexPoly(img, _fix(pts), color, AA, SHIFT)
    inner = pts + np.array([(0.03 * h, 0.012 * h), (-0.03 * h, 0.012 * h), (-0.04 * h, -0.012 * h),
                            (0.04 * h, -0.012 * h)])
    cv2.polylines(img, [_fix(inner)], True, _tone(color, 1.35), 2, AA, SHIFT)


def _window(img, x0, w_, h):
    y0, y1 = 0.10 * h, 0.46 * h
    _box(img, x0 - 0.012 * h, y0 - 0.012 * h, x0 + w_ + 0.012 * h, y1 + 0.012 * h, (236, 234, 228))
    sky = np.linspace(0, 1, max(1, int(y1 - y0)))[:, None, None]
    pane = (np.array([196, 220, 240]) * (1 - sky) + np.array([238, 244, 246]) * sky).astype(np.uint8)
    ys, xs = int(y0), int(x0)
    img[ys:ys + pane.shape[0], xs:xs + int(w_)] = pane
    cv2.line(img, tuple(_fix((x0 + w_ / 2, y0))), tuple(_fix((x0 + w_ / 2, y1))), (236, 234, 228), 3, AA, SHIFT)
    cv2.line(img, tuple(_fix((x0, (y0 + y1) / 2))), tuple(_fix((x0 + w_, (y0 + y1) / 2))), (236, 234, 228), 3,
             AA, SHIFT)
    for side in (x0 - 0.05 * h, x0 + w_ + 0.005 * h):  # curtains
        _box(img, side, y0 - 0.03 * h, side + 0.045 * h, 0.52 * h, (150, 60, 70))


def _picture(img, x0, h, rng):
    y0, size = 0.06 * h, 0.15 * h
    _box(img, x0, y0, x0 + size * 1.3, y0 + size, (60, 44, 30))
    _box(img, x0 + 0.012 * h, y0 + 0.012 * h, x0 + size * 1.3 - 0.012 * h, y0 + size - 0.012 * h, (232, 226, 210))
    for _ in range(4):  # an abstract print
        c = tuple(int(v) for v in rng.integers(40, 220, 3))
        cx, cy = x0 + rng.uniform(0.3, 1.0) * size, y0 + rng.uniform(0.3, 0.7) * size
        cv2.circle(img, tuple(_fix((cx, cy))), int(rng.uniform(0.08, 0.2) * size * 16), c, -1, AA, SHIFT)


def _shelf(img, x0, width, h, rng):
    y = 0.36 * h
    _box(img, x0, y, x0 + width, y + 0.018 * h, (110, 78, 50))
    x = x0 + 0.01 * h
    while x < x0 + width - 0.03 * h:  # books
        bw, bh = rng.uniform(0.012, 0.028) * h, rng.uniform(0.06, 0.10) * h
        _box(img, x, y - bh, x + bw, y, tuple(int(v) for v in rng.integers(30, 200, 3)))
        x += bw + rng.uniform(0, 0.006) * h


def _sofa(img, x0, width, h, color):
    yb = WALL_BASE * h + 0.06 * h  # its front feet, a little in front of the wall
    _box(img, x0, yb - 0.20 * h, x0 + width, yb - 0.08 * h, _tone(color, 0.9))        # back
    _box(img, x0 - 0.02 * h, yb - 0.10 * h, x0 + width + 0.02 * h, yb - 0.02 * h, color)  # seat
    for ax in (x0 - 0.04 * h, x0 + width):                                               # arms
        _box(img, ax, yb - 0.14 * h, ax + 0.04 * h, yb - 0.02 * h, _tone(color, 0.8))
    n = 2 if width < 0.3 * h else 3
    for k in range(n):  # cushions
        cx = x0 + (k + 0.5) * width / n
        _box(img, cx - 0.4 * width / n, yb - 0.18 * h, cx + 0.4 * width / n, yb - 0.10 * h, _tone(color, 1.15))
    for fx in (x0, x0 + width - 0.015 * h):
        _box(img, fx, yb - 0.02 * h, fx + 0.015 * h, yb, (50, 36, 26))


def _lamp(img, x, h):
    top, base = 0.22 * h, WALL_BASE * h + 0.05 * h
    cv2.line(img, tuple(_fix((x, top))), tuple(_fix((x, base))), (40, 40, 44), 2, AA, SHIFT)
    cv2.ellipse(img, tuple(_fix((x, base))), (int(0.03 * h * 16), int(0.008 * h * 16)), 0, 0, 360, (40, 40, 44),
                -1, AA, SHIFT)
    shade = np.array([(x - 0.03 * h, top), (x + 0.03 * h, top), (x + 0.05 * h, top + 0.08 * h),
                      (x - 0.05 * h, top + 0.08 * h)])
    cv2.fillConvexPoly(img, _fix(shade), (246, 228, 180), AA, SHIFT)


def _plant(img, x, h, rng):
    base = WALL_BASE * h + 0.07 * h
    pot = np.array([(x - 0.035 * h, base - 0.07 * h), (x + 0.035 * h, base - 0.07 * h), (x + 0.025 * h, base),
                    (x - 0.025 * h, base)])
    cv2.fillConvexPoly(img, _fix(pot), (170, 90, 60), AA, SHIFT)
    for _ in range(9):
        ang = rng.uniform(-1.2, 1.2)
        tip = np.array([x + np.sin(ang) * 0.12 * h, base - 0.07 * h - np.cos(ang) * 0.13 * h])
        mid = (tip + (x, base - 0.07 * h)) / 2
        green = (int(rng.integers(40, 80)), int(rng.integers(110, 160)), int(rng.integers(40, 80)))
        cv2.ellipse(img, tuple(_fix(mid)), (int(0.075 * h * 16), int(0.016 * h * 16)),
                    float(np.degrees(ang)) - 90, 0, 360, green, -1, AA, SHIFT)


def backdrop(look, width, height, seed=0):
    """The furnished room, uint8 RGB [height, width, 3]."""
    w, h = width, height
    rng = np.random.default_rng(seed)
    img = _wall(look, w, h, rng)
    _floor(img, look, w, h)
    _rug(img, w, h, _tone(look.floor, 0.55) if sum(look.floor) > 330 else (150, 70, 60))
    left, right = w / 2 - CLEAR * h, w / 2 + CLEAR * h  # the furniture-free band around the performer
    if left > 0.30 * h:
        _window(img, max(0.06 * h, left - 0.36 * h), min(0.26 * h, left - 0.12 * h), h)
        _sofa(img, max(0.04 * h, left - 0.44 * h), min(0.40 * h, left - 0.08 * h), h, (70, 90, 130))
    if left > 0.12 * h:
        _plant(img, left - 0.05 * h, h, rng)
    if w - right > 0.30 * h:
        _picture(img, right + 0.05 * h, h, rng)
        _shelf(img, right + 0.02 * h, min(0.26 * h, w - right - 0.06 * h), h, rng)
    if w - right > 0.42 * h:
        _lamp(img, right + 0.36 * h, h)
    elif w - right > 0.12 * h:
        _lamp(img, right + 0.06 * h, h)
    return img
