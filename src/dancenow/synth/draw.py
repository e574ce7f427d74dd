"""Drawing a performer with OpenCV: a clothed figure of shaded, anti-aliased shapes, and its shadow on the floor.

Shading: every part is drawn in a flat color while its "core" (a shrunk copy, nudged toward a light at the upper
left) is drawn into a separate light map; the blurred light map then darkens each part toward its edges.
"""

import cv2
import numpy as np


SHIFT = 4          # sub-pixel bits for cv2 drawing
ONE = 1 << SHIFT
AA = cv2.LINE_AA
LIGHT = np.array([-0.45, -0.9]) / np.hypot(0.45, 0.9)  # toward the light, image coordinates
WHITE = (255, 255, 255)


def _tone(color, f):
    return tuple(int(min(255, max(0, c * f))) for c in color)


def _fix(pts):
    return np.round(np.asarray(pts, float) * ONE).astype(np.int32)


def _capsule(img, p1, p2, r1, r2, color):
    """A tapered capsule: two discs joined by their tangent band."""
    d = p2 - p1
    length = float(np.hypot(*d))
    if length > 1e-3:
        n = np.array([-d[1], d[0]]) / length
        cv2.fillConvexPoly(img, _fix([p1 + n * r1, p2 + n * r2, p2 - n * r2, p1 - n * r1]), color, AA, SHIFT)
    for p, r in ((p1, r1), (p2, r2)):
        cv2.circle(img, tuple(_fix(p)), max(1, int(round(r * ONE))), color, -1, AA, SHIFT)


def _ellipse(img, center, axes, up, color, arc=(0, 360), thickness=-1):
    ang = np.degrees(np.arctan2(up[0], -up[1])) if up is not None else 0.0  # rotate with the head
    cv2.ellipse(img, tuple(_fix(center)), tuple(int(max(1, round(a * ONE))) for a in axes), float(ang),
                arc[0], arc[1], color, thickness, AA, SHIFT)


class Canvas:
    """A frame plus its light map."""

    def __init__(self, frame):
        self.img = frame
        self.light = np.zeros(frame.shape[:2], np.uint8)

    def limbs(self, segments, outline=0.45):
        """Chains of capsules (p1, p2, r1, r2, color): outlines first, then fills, so joints show no seams."""
        for p1, p2, r1, r2, color in segments:
            _capsule(self.img, p1, p2, r1 + 1.2, r2 + 1.2, _tone(color, outline))
        for p1, p2, r1, r2, color in segments:
            _capsule(self.img, p1, p2, r1, r2, color)
            d = p2 - p1
            n = np.array([-d[1], d[0]]) / max(1e-6, float(np.hypot(*d)))
            off = n * float(n @ LIGHT)
            _capsule(self.light, p1 + off * 0.3 * r1, p2 + off * 0.3 * r2, 0.45 * r1, 0.45 * r2, 255)

    def polygon(self, pts, color, core=0.6):
        pts = np.asarray(pts, float)
        cv2.fillPoly(self.img, [_fix(pts)], color, AA, SHIFT)
        cv2.polylines(self.img, [_fix(pts)], True, _tone(color, 0.6), 1, AA, SHIFT)
        c = pts.mean(0)
        size = np.sqrt(max(1.0, cv2.contourArea(pts.astype(np.float32))))
        cv2.fillPoly(self.light, [_fix(c + (pts - c) * core + LIGHT * 0.12 * size)], 255, AA, SHIFT)

    def ellipse(self, center, axes, up, color, core=0.55):
        _ellipse(self.img, center, axes, up, color)
        _ellipse(self.img, center, axes, up, _tone(color, 0.6), thickness=1)
        _ellipse(self.light, center + LIGHT * 0.25 * min(axes), (axes[0] * core, axes[1] * core), up, 255)

    def shade(self, bg, box, sigma):
        """Darken the parts drawn inside box (bg: that box before drawing) toward their edges."""
        x0, y0, x1, y1 = box
        roi = self.img[y0:y1, x0:x1]
        if roi.size == 0:
            return
        lit = cv2.GaussianBlur(self.light[y0:y1, x0:x1], (0, 0), sigma).astype(np.float32)
        gain = (0.6 + lit * (0.52 / 255))[..., None]
        drawn = np.any(roi != bg, axis=2, keepdims=True)
        roi[...] = np.where(drawn, np.clip(roi * gain, 0, 255), roi).astype(np.uint8)


# ---------------------------------------------------------------- the floor under the figure

def shadow(img, j, i, scale):
    """A soft dark ellipse on the floor under the feet."""
    cx = 0.5 * (j["l_ankle"][i, 0] + j["r_ankle"][i, 0])
    cy = float(j["sole"][i])
    ax, ay = 0.3 * scale, 0.045 * scale
    x0, x1 = int(max(0, cx - ax - 4)), int(min(img.shape[1], cx + ax + 4))
    y0, y1 = int(max(0, cy - ay - 4)), int(min(img.shape[0], cy + ay + 4))
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    dark = roi.copy()
    _ellipse(dark, np.array([cx - x0, cy - y0]), (ax, ay), None, (0, 0, 0))
    cv2.addWeighted(roi, 0.7, cv2.GaussianBlur(dark, (0, 0), 2.5), 0.3, 0, dst=roi)


# ---------------------------------------------------------------- the figure

def _hand(cv, wrist, tip, scale, hand_len, color, side):
    d = (tip - wrist) / max(1e-6, float(np.hypot(*(tip - wrist))))
    n = np.array([-d[1], d[0]]) * side
    h = hand_len * scale
    segs = [(wrist + d * 0.55 * h + n * o * h, wrist + d * (0.95 - abs(o) * 0.5) * h + n * o * 1.25 * h,
             0.05 * h, 0.04 * h, color) for o in (-0.15, -0.05, 0.05, 0.15)]
    segs.append((wrist + d * 0.2 * h + n * 0.16 * h, wrist + d * 0.5 * h + n * 0.34 * h, 0.06 * h, 0.045 * h,
                 color))
    segs.append((wrist + d * 0.12 * h, wrist + d * 0.5 * h, 0.2 * h, 0.2 * h, color))  # palm
    cv.limbs(segs)


def _head_frame(j, i, body, scale):
    """A function mapping head coordinates (x to the image right, y down the face, in head heights) to pixels."""
    hh = body.head * scale
    c, up = j["head"][i], j["head_up"][i]
    rt = np.array([-up[1], up[0]])
    return hh, up, lambda x, y: c + rt * (x * hh) - up * (y * hh)


def _hair_back(cv, j, i, body, look, scale):
    """Long hair falls behind the neck and onto the shoulders."""
    if look.hair_style == "long":
        hh, up, p = _head_frame(j, i, body, scale)
        cv.polygon([p(-0.46, -0.2), p(-0.56, 0.45), p(-0.6, 1.0), p(0.6, 1.0), p(0.56, 0.45), p(0.46, -0.2)],
                   look.hair)


def _head(cv, j, i, body, look, scale):
    """Ears, hair, the skull and the shadow of the nose (the shaded parts of the head)."""
    hh, up, p = _head_frame(j, i, body, scale)
    for s in (-1, 1):
        cv.ellipse(p(0.38 * s, 0.04), (0.07 * hh, 0.12 * hh), up, look.skin)
    if look.hair_style == "bun":
        cv.ellipse(p(0, -0.6), (0.2 * hh, 0.16 * hh), up, look.hair)
    cv.ellipse(p(0, -0.07), (0.43 * hh, 0.5 * hh), up, look.hair)
    cv.ellipse(p(0, 0), (0.385 * hh, 0.5 * hh), up, look.skin)
    _ellipse(cv.img, p(0.01, 0.13), (0.06 * hh, 0.085 * hh), up, _tone(look.skin, 0.9))
    hairline = -0.24 if look.hair_style == "bun" else -0.2
    _ellipse(cv.img, p(0, hairline), (0.405 * hh, 0.3 * hh), up, look.hair, arc=(180, 360))
    if look.hair_style == "long":
        for s in (-1, 1):
            _ellipse(cv.img, p(0.37 * s, 0.1), (0.08 * hh, 0.42 * hh), up, look.hair)


def _face(img, j, i, body, look, scale):
    """Eyes, brows, nose and mouth, drawn crisp after shading."""
    hh, up, p = _head_frame(j, i, body, scale)
    thin = max(1, int(round(hh / 40)))
    for s in (-1, 1):
        _ellipse(img, p(0.16 * s, -0.11), (0.09 * hh, 0.03 * hh), up, look.hair, arc=(190, 350), thickness=thin)
        _ellipse(img, p(0.16 * s, 0.0), (0.08 * hh, 0.042 * hh), up, (240, 238, 232))
        cv2.circle(img, tuple(_fix(p(0.16 * s, 0.0))), int(0.038 * hh * ONE), look.eyes, -1, AA, SHIFT)
        cv2.circle(img, tuple(_fix(p(0.16 * s, 0.0))), int(0.018 * hh * ONE), (12, 10, 10), -1, AA, SHIFT)
        _ellipse(img, p(0.16 * s, 0.0), (0.08 * hh, 0.042 * hh), up, _tone(look.skin, 0.45), arc=(180, 360),
                 thickness=thin)
    cv2.line(img, tuple(_fix(p(0.03, -0.02))), tuple(_fix(p(0.05, 0.16))), _tone(look.skin, 0.78), thin, AA, SHIFT)
    _ellipse(img, p(0, 0.19), (0.075 * hh, 0.03 * hh), up, _tone(look.skin, 0.7), arc=(0, 180), thickness=thin)
    _ellipse(img, p(0, 0.315), (0.11 * hh, 0.04 * hh), up, look.lips)
    _ellipse(img, p(0, 0.31), (0.11 * hh, 0.01 * hh), up, _tone(look.lips, 0.5), arc=(0, 180), thickness=thin)


def _legs(cv, g, body, look, sc):
    """Legs (trousers, or tights under a skirt) as tapered chains, knee folds, and shoes seen from the front."""
    r = sc * body.build
    leg = look.tights if look.legwear == "skirt" else look.pants
    hip, knee, calf, ankle = (0.048, 0.032, 0.033, 0.02) if look.legwear == "skirt" else (0.058, 0.039, 0.041, 0.032)
    segments = []
    for s in "lr":
        k, a = g[f"{s}_knee"], g[f"{s}_ankle"]
        c = k + (a - k) * 0.3
        segments += [(g[f"{s}_hip"], k, hip * r, knee * r, leg), (k, c, knee * r, calf * r, leg),
                     (c, a, calf * r, ankle * r, leg)]
    cv.limbs(segments)
    for s, side in (("l", 1), ("r", -1)):
        d = g[f"{s}_ankle"] - g[f"{s}_hip"]
        _ellipse(cv.img, g[f"{s}_knee"] + d * 0.02, (0.6 * knee * r, 0.3 * knee * r), -d / np.hypot(*d),
                 _tone(leg, 0.72), arc=(200, 340), thickness=max(1, int(sc / 150)))
        a = g[f"{s}_ankle"]
        cv.ellipse(a + np.array([0, 0.012 * sc]), (0.03 * sc, 0.032 * sc), None, look.shoes)  # the upper
        cv.ellipse(a + np.array([side * 0.01 * sc, 0.03 * sc]), (0.044 * sc, 0.021 * sc), None, look.shoes)  # toes


def _torso(cv, g, body, look, sc):
    """Trousers' seat or a skirt, the shirt, and the neck."""
    up = g["neck"] - g["pelvis"]
    up /= np.hypot(*up)
    rt = np.array([-up[1], up[0]])  # toward the image right (the torso is never upside down)

    def t(x, y):  # torso coordinates in body heights from the pelvis center: x right, y up
        return g["pelvis"] + (rt * x + up * y) * sc

    w, hp = body.waist, body.hip
    if look.legwear == "skirt":
        hem = [g[f"{s}_hip"] + (g[f"{s}_knee"] - g[f"{s}_hip"]) * 0.35 + rt * (side * 0.05 * sc)
               for s, side in (("l", 1), ("r", -1))]
        cv.polygon([t(w + 0.005, 0.07), hem[0], 0.5 * (hem[0] + hem[1]) + up * 0.01 * sc, hem[1],
                    t(-w - 0.005, 0.07)], look.pants)
    else:
        r = sc * body.build
        cv.polygon([t(w + 0.005, 0.07), g["l_hip"] + rt * 0.05 * r, t(0, -0.07), g["r_hip"] - rt * 0.05 * r,
                    t(-w - 0.005, 0.07)], look.pants)
    shirt = []
    for s, side in (("l", 1), ("r", -1)):  # neckline, shoulder top, shoulder, armpit, waist, hem
        sh = g[f"{s}_shoulder"]
        half = [t(side * 0.045, body.torso + 0.008), sh + up * 0.032 * sc, sh + (rt * side * 0.035 - up * 0.01) * sc,
                sh - (up * 0.08 + rt * side * 0.008) * sc, t(side * w, 0.1), t(side * (hp + 0.045), -0.015)]
        shirt += half if side > 0 else half[::-1]
    cv.polygon(shirt, look.shirt, core=0.55)
    cv.limbs([(g["neck"], g["chin"], 0.04 * sc * body.build, 0.038 * sc * body.build, look.skin)])


def _arms(cv, g, body, look, sc):
    r = sc * body.build
    sleeve = look.shirt if look.sleeves == "long" else look.skin
    for s, side in (("l", 1), ("r", -1)):
        sh, el, wr = g[f"{s}_shoulder"], g[f"{s}_elbow"], g[f"{s}_wrist"]
        cv.limbs([(sh, el, 0.037 * r, 0.03 * r, sleeve), (el, wr, 0.03 * r, 0.022 * r, sleeve)])
        if look.sleeves == "short":
            cv.limbs([(sh, sh + (el - sh) * 0.45, 0.046 * r, 0.04 * r, look.shirt)])
        _hand(cv, wr, g[f"{s}_hand"], sc, body.hand, look.skin, side)


def figure(frame, j, i, perf):
    """Draw performer `perf` with joints j (pixels, from body.skeleton) at frame index i onto frame, in place."""
    b, lk = perf.body, perf.look
    sc = float(j["scale"][i])
    g = {k: v[i] for k, v in j.items() if v.ndim == 2 and k != "head_up"}
    pts = np.stack(list(g.values()))
    pad = 0.1 * sc
    hgt, wid = frame.shape[:2]
    box = (int(max(0, pts[:, 0].min() - pad)), int(max(0, pts[:, 1].min() - pad)),
           int(min(wid, pts[:, 0].max() + pad)), int(min(hgt, pts[:, 1].max() + pad)))
    shadow(frame, j, i, sc)
    before = frame[box[1]:box[3], box[0]:box[2]].copy()
    cv = Canvas(frame)
    _hair_back(cv, j, i, b, lk, sc)
    _legs(cv, g, b, lk, sc)
    _torso(cv, g, b, lk, sc)
    _head(cv, j, i, b, lk, sc)
    _arms(cv, g, b, lk, sc)
    cv.shade(before, box, sigma=max(1.0, 0.012 * sc))
    _face(frame, j, i, b, lk, sc)
    return frame
