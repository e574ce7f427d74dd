"""Label maps drawn as OpenPose's CPU renderer draws them (renderKeypointsCpu), on constructed keypoints."""

import math
import time

import cv2
import numpy as np
import pytest

from dancenow import keypoints, labels
from dancenow.keypoints import BODY_COLORS, BODY_PAIRS, FACE_PAIRS, HAND_COLORS, HAND_PAIRS, B
from dancenow.labels import draw_label, draw_labels

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)

# A standing person in a unit box (x right, y down): BODY_25 from nose (y .12) to heels (y ~1).
UNIT_BODY = np.array([
    (0.50, 0.12), (0.50, 0.22), (0.40, 0.22), (0.36, 0.38), (0.33, 0.52), (0.60, 0.22), (0.64, 0.38), (0.67, 0.52),
    (0.50, 0.52), (0.44, 0.52), (0.43, 0.74), (0.42, 0.95), (0.56, 0.52), (0.57, 0.74), (0.58, 0.95),
    (0.48, 0.10), (0.52, 0.10), (0.46, 0.11), (0.54, 0.11), (0.61, 0.99), (0.62, 0.98), (0.57, 0.97),
    (0.39, 0.99), (0.38, 0.98), (0.43, 0.97)])


def unit_face(cx=0.5, cy=0.12, s=0.06):
    """70 face points around (cx, cy), about 2*s wide: jaw, brows, nose, eyes, lips, pupils in iBUG order."""
    jaw = np.linspace(0.1 * np.pi, 0.9 * np.pi, 17)
    pts = [(cx - s * math.cos(a), cy + 0.2 * s + 0.9 * s * math.sin(a)) for a in jaw]
    pts += [(cx - 0.6 * s + 0.12 * s * i, cy - 0.35 * s) for i in range(5)]
    pts += [(cx + 0.12 * s + 0.12 * s * i, cy - 0.35 * s) for i in range(5)]
    pts += [(cx, cy - 0.2 * s + 0.1 * s * i) for i in range(4)]
    pts += [(cx - 0.2 * s + 0.1 * s * i, cy + 0.25 * s) for i in range(5)]
    for ex in (cx - 0.35 * s, cx + 0.35 * s):
        pts += [(ex + 0.15 * s * math.cos(a), cy - 0.15 * s + 0.07 * s * math.sin(a)) for a in np.arange(6) * np.pi / 3]
    pts += [(cx + 0.3 * s * math.cos(a), cy + 0.5 * s + 0.12 * s * math.sin(a)) for a in np.arange(12) * np.pi / 6]
    pts += [(cx + 0.2 * s * math.cos(a), cy + 0.5 * s + 0.05 * s * math.sin(a)) for a in np.arange(8) * np.pi / 4]
    pts += [(cx - 0.35 * s, cy - 0.15 * s), (cx + 0.35 * s, cy - 0.15 * s)]
    return np.array(pts)


def unit_hand(wx, wy, s, direction):
    """21 hand points: the wrist, then 4 joints per finger fanning out around `direction` (radians, 0 = down)."""
    pts = [(wx, wy)]
    for ang in np.linspace(-0.9, 0.9, 5):
        a = direction + 0.6 * ang
        pts += [(wx + s * (0.3 + 0.18 * j) * math.sin(a), wy + s * (0.3 + 0.18 * j) * math.cos(a)) for j in range(1, 5)]
    return np.array(pts)


def with_conf(xy, conf=1.0):
    xy = np.asarray(xy, np.float64)
    return np.concatenate([xy, np.broadcast_to(np.float64(conf), (len(xy), 1))], axis=1).astype(np.float32)


def person(size, x0=0.0, y0=0.0, conf=1.0):
    """(body, face, left_hand, right_hand) of a person `size` pixels tall whose unit box starts at (x0, y0)."""
    place = lambda unit: with_conf(np.asarray(unit) * size + (x0, y0), conf)  # noqa: E731
    return (place(UNIT_BODY), place(unit_face()), place(unit_hand(0.67, 0.53, 0.08, 0.2)),
            place(unit_hand(0.33, 0.53, 0.08, -0.2)))


def empty(n):
    return np.zeros((n, 3), np.float32)


def px(img, x, y):
    return tuple(int(c) for c in img[int(round(y)), int(round(x))])


def colors_in(img):
    return {tuple(int(c) for c in v) for v in np.unique(img.reshape(-1, 3), axis=0)}


def run_width(img, x, y, color, axis):
    """Length of the run of `color` pixels through pixel (x, y), along x (axis=1: across a vertical line) or y."""
    x, y = int(round(x)), int(round(y))
    line = img[y, :] if axis == 1 else img[:, x]
    at = x if axis == 1 else y
    hit = np.all(line == color, axis=1)
    assert hit[at], f"pixel ({x},{y}) is {tuple(img[y, x])}, not {color}"
    lo = at
    while lo > 0 and hit[lo - 1]:
        lo -= 1
    hi = at
    while hi + 1 < len(hit) and hit[hi + 1]:
        hi += 1
    return hi - lo + 1


def openpose_sizes(kps, circle_ratio, line_ratio, height, width):
    """(line thickness, radius, circle thickness) of renderKeypointsCpu, transcribed from keypoint.cpp."""
    kps = np.asarray(kps, np.float32)
    boxed = kps[kps[:, 2] > 0.1, :2]
    if len(boxed) == 0:
        return None
    w, h = boxed.max(axis=0) - boxed.min(axis=0)
    if not w * h > 0:
        return None
    ratio = min(1.0, max(w / width, h / height))
    t = max(int(math.sqrt(width * height) * circle_ratio * ratio + 0.5), 2)
    return max(1, int(t * line_ratio + 0.5)), t // 2, max(1, t if ratio > 0.05 else -1)


def openpose_reference(height, width, body, face, left_hand, right_hand):
    """A literal transcription of renderPoseKeypointsCpu + renderFaceKeypointsCpu + renderHandKeypointsCpu (default
    render thresholds 0.05, 0.4, 0.2), one cv2 call per line and per circle, at the module's sub-pixel shift."""
    img = np.zeros((height, width, 3), np.uint8)
    sets = [(body, BODY_PAIRS, BODY_COLORS, 1 / 75, 0.75, 0.05),
            (face, FACE_PAIRS, np.array([WHITE]), 1 / 75, 0.334, 0.4),
            (left_hand, HAND_PAIRS, HAND_COLORS, 1 / 50, 0.75, 0.2),
            (right_hand, HAND_PAIRS, HAND_COLORS, 1 / 50, 0.75, 0.2)]
    for kps, pairs, colors, circle_ratio, line_ratio, threshold in sets:
        sizes = openpose_sizes(kps, circle_ratio, line_ratio, height, width)
        if sizes is None:
            continue
        line, radius, circle = sizes
        pt = lambda i: tuple(int(v) for v in np.round(kps[i, :2].astype(np.float64) * 16))  # noqa: E731
        color = lambda i: tuple(int(c) for c in colors[i % len(colors)])  # noqa: E731
        for a, b in pairs:
            if kps[a, 2] > threshold and kps[b, 2] > threshold:
                cv2.line(img, pt(a), pt(b), color(b), line, cv2.LINE_8, 4)
        for i in range(len(kps)):
            if kps[i, 2] > threshold:
                cv2.circle(img, pt(i), radius * 16, color(i), circle, cv2.LINE_8, 4)
    return img


def test_public_constants():
    assert labels.STYLE == "openpose-cpu-v1"
    assert keypoints.MIN_CONFIDENCE == 0.1
    assert labels.LINE_TYPE == cv2.LINE_8


def test_openpose_hand_colors():
    # HAND_COLORS_RENDER of OpenPose's handParameters.hpp: grey wrist, each finger brightening toward its tip
    assert tuple(HAND_COLORS[0]) == (100, 100, 100)
    tips = [tuple(int(c) for c in HAND_COLORS[i]) for i in (4, 8, 12, 16, 20)]
    assert tips == [(255, 0, 0), (255, 255, 0), (0, 255, 125), (0, 125, 255), (255, 0, 255)]
    bases = [tuple(int(c) for c in HAND_COLORS[i]) for i in (1, 5, 9, 13, 17)]
    assert bases == [(100, 0, 0), (100, 100, 0), (0, 100, 50), (0, 50, 100), (100, 0, 100)]


def test_single_limb_in_the_color_of_its_second_keypoint():
    body = empty(25)
    body[B["RShoulder"]] = (40, 40, 1)
    body[B["RElbow"]] = (200, 170, 1)
    img = draw_label(256, 256, body)
    limb = tuple(int(c) for c in BODY_COLORS[B["RElbow"]])
    assert limb != tuple(int(c) for c in BODY_COLORS[B["RShoulder"]])
    assert px(img, 120, 105) == limb  # the midpoint
    assert px(img, 200, 40) == BLACK and px(img, 40, 170) == BLACK
    # only the limb and the two joints' circles, every drawn pixel close to the segment
    assert colors_in(img) == {BLACK, limb, tuple(int(c) for c in BODY_COLORS[B["RShoulder"]])}
    ys, xs = np.nonzero(img.any(axis=2))
    d = np.array([160.0, 130.0])
    rel = np.stack([xs - 40.0, ys - 40.0], axis=1)
    along = np.clip(rel @ d / (d @ d), 0, 1)
    dist = np.linalg.norm(rel - along[:, None] * d, axis=1)
    t = max(round(256 / 75 * 160 / 256), 2)  # OpenPose: the box's longer side / 75 on a square image
    assert dist.max() <= t + 1


def test_a_set_without_a_box_area_draws_nothing():
    # OpenPose skips a person whose confident keypoints span no area (here: one horizontal line)
    body = empty(25)
    body[B["RShoulder"]] = (40, 100, 1)
    body[B["Neck"]] = (120, 100, 1)
    body[B["LShoulder"]] = (200, 100, 1)
    assert not draw_label(256, 256, body).any()
    body[B["Nose"]] = (120, 60, 1)  # now it has an area
    assert draw_label(256, 256, body).any()


def test_all_confidences_zero_draw_nothing():
    b, f, l, r = person(230, 13, 10, conf=0.0)
    assert not draw_label(256, 256, b, f, l, r).any()
    assert not draw_label(256, 256, empty(25), empty(70), empty(21), empty(21)).any()
    assert not draw_label(256, 256, empty(25), None, None, None).any()


@pytest.mark.parametrize("part, threshold", [("body", 0.05), ("face", 0.4), ("left_hand", 0.2), ("right_hand", 0.2)])
def test_render_threshold_per_set(part, threshold):
    """A keypoint is drawn only above its set's render threshold (OpenPose's defaults), while the set's box comes
    from the keypoints above 0.1."""
    sets = dict(zip(("body", "face", "left_hand", "right_hand"), person(400, 50, 50)))
    others = {k: v for k, v in sets.items() if k != part}
    kps = sets[part].copy()
    i = {"body": 4, "face": 0}.get(part, 8)  # RWrist / a jaw end / a fingertip: each the end of a line
    x, y = kps[i, :2]
    base = draw_label(512, 512, **{part: np.where(np.arange(len(kps))[:, None] == i, 0, kps)}, **others)
    assert px(base, x, y) == BLACK
    kps[i, 2] = threshold
    assert np.array_equal(draw_label(512, 512, **{part: kps}, **others), base)  # at the threshold: not drawn
    kps[i, 2] = threshold + 0.01
    assert px(draw_label(512, 512, **{part: kps}, **others), x, y) != BLACK


def cv_width(k):
    """Pixels across an axis-aligned cv2.line of thickness k >= 2 (LINE_8): OpenCV pads odd thicknesses by half a
    pixel each side, and a filled polygon includes both of its edges: 2 * ceil(k / 2) + 1. OpenPose draws with the
    same cv::line."""
    return 2 * ((k + 1) // 2) + 1


def test_thickness_scales_with_the_person():
    """Scaled 2x, a skeleton's lines are about 2x as thick (OpenPose: sqrt(image area) / 75 * box/image ratio)."""
    b, _, _, _ = person(700, 100, 50)
    b2 = b.copy()
    b2[:, :2] *= 2
    widths, circles = [], []
    for kps in (b, b2):
        img = draw_label(2048, 2048, kps)
        red = tuple(int(c) for c in BODY_COLORS[B["MidHip"]])  # Neck -> MidHip, a vertical line
        w = run_width(img, kps[B["Neck"], 0], (kps[B["Neck"], 1] + kps[B["MidHip"], 1]) / 2, red, axis=1)
        line, _, _ = openpose_sizes(kps, 1 / 75, 0.75, 2048, 2048)
        assert w == cv_width(line)
        widths.append(w)
        yellow = tuple(int(c) for c in BODY_COLORS[B["RWrist"]])
        circles.append(run_width(img, *kps[B["RWrist"], :2], yellow, axis=1))
    assert widths[0] >= 5 and abs(widths[1] - 2 * widths[0]) <= 1
    assert circles[0] >= 9 and abs(circles[1] - 2 * circles[0]) <= 2


def test_image_size_alone_does_not_change_the_drawing():
    b, f, l, r = person(680, 60, 40)  # every set's box more than 5% of either image
    small = draw_label(800, 800, b, f, l, r)
    big = draw_label(1024, 1024, b, f, l, r)
    assert small.any() and np.array_equal(big[:800, :800], small) and not big[800:].any() and not big[:, 800:].any()
    # OpenPose's one exception: a set whose box is at most 5% of the image gets 1-pixel circle outlines
    _, f, _, _ = person(300, 60, 40)  # a face box of about 36 px: 9% of 400, 3.5% of 1024
    small = draw_label(400, 400, empty(25), f)
    big = draw_label(1024, 1024, empty(25), f)
    drawn_small, drawn_big = small.any(axis=2), big[:400, :400].any(axis=2)
    assert drawn_small.sum() > drawn_big.sum() and not (drawn_big & ~drawn_small).any()  # same lines, thinner rings


def test_face_points_are_white():
    _, f, _, _ = person(900, 60, 40)
    img = draw_label(1024, 1024, empty(25), f)
    assert colors_in(img) == {BLACK, WHITE}
    for x, y, _ in f:
        patch = img[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2]
        assert (patch == 255).all(axis=2).any()
    f_low = f.copy()
    f_low[:, 2] = 0.3  # under OpenPose's face threshold 0.4
    assert not draw_label(1024, 1024, empty(25), f_low).any()


def test_hand_points_in_their_finger_colors():
    hand = with_conf(unit_hand(200, 60, 300, 0.0))  # a big hand: joints far apart
    for side in ("left_hand", "right_hand"):
        img = draw_label(512, 512, empty(25), **{side: hand})
        for i, (x, y, _) in enumerate(hand):
            assert px(img, x, y) == tuple(int(c) for c in HAND_COLORS[i]), i
        # a phalanx is drawn in the color of its outer joint
        for a, b in ((1, 2), (6, 7), (11, 12), (15, 16), (19, 20)):
            mid = (hand[a, :2] + hand[b, :2]) / 2
            assert px(img, *mid) == tuple(int(c) for c in HAND_COLORS[b])
        assert colors_in(img) == {BLACK} | {tuple(int(c) for c in col) for col in HAND_COLORS}


def test_face_lines_thinner_than_the_body_lines():
    b, f, _, _ = person(900, 60, 40)
    img = draw_label(1024, 1024, b, f)
    red = tuple(int(c) for c in BODY_COLORS[B["MidHip"]])
    body_w = run_width(img, b[B["Neck"], 0], (b[B["Neck"], 1] + b[B["MidHip"], 1]) / 2, red, axis=1)
    # across the middle of the first brow segment (horizontal), between its two joints' circles
    x, y = (f[18, :2] + f[19, :2]) / 2
    face_w = run_width(img, x, y, WHITE, axis=0)
    body_line, _, _ = openpose_sizes(b, 1 / 75, 0.75, 1024, 1024)
    face_line, _, _ = openpose_sizes(f, 1 / 75, 0.334, 1024, 1024)
    assert face_line == 1 and body_line >= 6
    assert abs(body_w - body_line) <= 1 and abs(face_w - face_line) <= 1 and face_w < body_w / 3
    # a face box as big as the body box still draws lines 0.334/0.75 as thick
    big_face = f.copy()
    big_face[:, :2] = (f[:, :2] - f[:, :2].min(axis=0)) * 8 + 60
    big_line, _, _ = openpose_sizes(big_face, 1 / 75, 0.334, 1024, 1024)
    x, y = (big_face[18, :2] + big_face[19, :2]) / 2
    assert run_width(draw_label(1024, 1024, empty(25), big_face), x, y, WHITE, axis=0) == pytest.approx(big_line, abs=1)
    assert big_line < body_line


def test_matches_a_transcription_of_openpose():
    rng = np.random.default_rng(0)
    for k in range(30):
        size = rng.uniform(40, 500)
        h, w = int(rng.integers(64, 600)), int(rng.integers(64, 600))
        sets = []
        for kps in person(size, rng.uniform(-50, 300), rng.uniform(-50, 300)):
            kps = kps.copy()
            kps[:, :2] += rng.normal(0, size / 40, (len(kps), 2))
            kps[:, 2] = rng.choice([0.0, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.45, 0.9], len(kps))
            sets.append(kps)
        assert np.array_equal(draw_label(h, w, *sets), openpose_reference(h, w, *sets)), k


def test_deterministic_and_draw_labels_reads_the_frame():
    b, f, l, r = person(230, 13, 10)
    a = draw_label(256, 256, b, f, l, r)
    assert a.dtype == np.uint8 and a.shape == (256, 256, 3)
    assert a.tobytes() == draw_label(256, 256, b, f, l, r).tobytes()
    assert a.tobytes() == draw_label(256, 256, b.astype(np.float64), f, l, r).tobytes()
    poses = {"body": np.stack([empty(25), b]), "face": np.stack([empty(70), f]),
             "left_hand": np.stack([empty(21), l]), "right_hand": np.stack([empty(21), r])}
    assert np.array_equal(draw_labels(poses, 1, 256, 256), a)
    assert not draw_labels(poses, 0, 256, 256).any()


def test_fast_enough():
    b, f, l, r = person(230, 13, 10)
    draw_label(256, 256, b, f, l, r)
    t = time.perf_counter()
    for _ in range(100):
        draw_label(256, 256, b, f, l, r)
    assert (time.perf_counter() - t) / 100 < 0.01  # about 0.3 ms measured; 10 ms leaves room for a busy machine


@pytest.mark.parametrize("size", [120, 240])
def test_limb_width_draws_limbs_as_thick_as_a_fraction_of_the_body(size):
    """limb_width=0.06: the body's lines are 6% of its size thick (OpenPose's are ~1%), on a small or a big person,
    whatever the frame; the hands' a quarter of that; the face unchanged."""
    b, f, l, r = person(size, 8, 8)
    extent = labels.body_extent(b)
    assert 0.85 * size < extent <= size
    thin = draw_label(256, 256, b, f, l, r)
    thick = draw_label(256, 256, b, f, l, r, limb_width=0.06)
    red = tuple(int(c) for c in BODY_COLORS[B["MidHip"]])  # Neck -> MidHip, a vertical line
    at = (b[B["Neck"], 0], (b[B["Neck"], 1] + b[B["MidHip"], 1]) / 2)
    want = max(2, round(0.06 * extent))
    assert abs(run_width(thick, *at, red, axis=1) - cv_width(want)) <= 1
    assert run_width(thin, *at, red, axis=1) <= 3  # OpenPose's: 2-3 px at these sizes
    assert thick.any(axis=2).sum() > 1.5 * thin.any(axis=2).sum()
    # the same person in a frame twice as big is drawn the same: the width follows the body, not the frame
    body_only = draw_label(256, 256, b, limb_width=0.06)
    assert np.array_equal(draw_label(512, 512, b, limb_width=0.06)[:256, :256], body_only)
    # the face's lines: OpenPose's either way (drawn over the thick body lines in the same pixels)
    face_only = lambda w: draw_label(256, 256, empty(25), f, limb_width=w)  # noqa: E731
    assert np.array_equal(face_only(0.06), face_only(0.0))


def test_limb_width_zero_is_openpose():
    b, f, l, r = person(200, 20, 20)
    assert np.array_equal(draw_label(256, 256, b, f, l, r, limb_width=0.0), draw_label(256, 256, b, f, l, r))
