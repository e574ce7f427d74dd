"""Label maps: poses drawn as OpenPose's CPU renderer draws them, the generator's input.

Each keypoint set of a person (body, face, either hand) is drawn as OpenPose's `renderKeypointsCpu`
(src/openpose/utilities/keypoint.cpp) draws it, with the parameters of its caller (renderPose.cpp, renderFace.cpp,
renderHand.cpp) and the default render thresholds of include/openpose/flags.hpp:

* the set's bounding box is taken over its keypoints of confidence > 0.1; if that box has no area (no keypoint,
  a single one, or all on one horizontal or vertical line) nothing of the set is drawn;
* ratio = min(1, max(box width / image width, box height / image height)),
  t = max(round(sqrt(image width * image height) * thickness_circle_ratio * ratio), 2): on a square image that is
  the longer side of the box times the ratio, whatever the image size;
* lines are max(1, round(t * line_ratio_wrt_circle)) pixels thick and take the color of the pair's SECOND keypoint;
  then every keypoint gets a circle of radius t // 2 in its own color, outlined t pixels thick (1 pixel when
  ratio <= 0.05), which covers a disc of radius about t;
* a line needs both of its keypoints, and a circle its keypoint, above the set's render threshold (strictly).

The only deliberate difference: keypoints are placed with 4 fractional bits (cv2 shift=4) instead of being rounded
to whole pixels. The colors of keypoints.py are RGB, as our images are (OpenPose swaps them for its BGR frame).
Sets are drawn in OpenPose's order: body, face, left hand, right hand; lines before circles within a set.

`limb_width` > 0 leaves OpenPose's look for limbs as thick as a person's: the body's lines are drawn `limb_width`
times the longer side of the body's box thick (at least 2 px) and the hands' a quarter of that (at least 1 px),
with joint circles as wide as the lines. OpenPose's lines are about 1/100 of the body's size, 2 px for a 200 px
person, which a small generator barely sees; the face keeps OpenPose's lines either way.
"""

import math

import cv2
import numpy as np

from .keypoints import BODY_COLORS, BODY_PAIRS, FACE_COLOR, FACE_PAIRS, HAND_COLORS, HAND_PAIRS

STYLE = "openpose-cpu-v1"  # names this way of drawing: label-map caches are keyed on it

LINE_TYPE = cv2.LINE_8  # OpenPose renders with 8-connected lines
SHIFT = 4               # fractional bits of the keypoint positions given to cv2
_ONE = 1 << SHIFT

BOX_THRESHOLD = 0.1     # getKeypointsRectangle's threshold in renderKeypointsCpu
BODY_THRESHOLD = 0.05   # OpenPose's --render_threshold default
FACE_THRESHOLD = 0.4    # --face_render_threshold default
HAND_THRESHOLD = 0.2    # --hand_render_threshold default


class _Style:
    """One keypoint set's render parameters: pairs, per-keypoint RGB colors, OpenPose's ratios and threshold."""

    def __init__(self, pairs, colors, n_keypoints, circle_ratio, line_ratio, threshold):
        self.pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
        colors = np.asarray(colors, np.uint8).reshape(-1, 3)
        colors = colors[np.arange(n_keypoints) % len(colors)]  # OpenPose cycles through its color list
        self.colors = [tuple(int(c) for c in color) for color in colors]
        self.pair_colors = [self.colors[b] for b in self.pairs[:, 1]]  # a line takes its second keypoint's color
        self.one_color = len({*self.colors}) == 1  # face: every line white, drawn at once by cv2.polylines
        self.circle_ratio = np.float32(circle_ratio)  # C++: float, as in the .cpp files
        self.line_ratio = np.float32(line_ratio)
        self.threshold = threshold


BODY = _Style(BODY_PAIRS, BODY_COLORS, 25, 1 / 75, 0.75, BODY_THRESHOLD)       # renderPose.cpp
FACE = _Style(FACE_PAIRS, FACE_COLOR, 70, 1 / 75, 0.334, FACE_THRESHOLD)       # renderFace.cpp
HAND = _Style(HAND_PAIRS, HAND_COLORS, 21, 1 / 50, 0.75, HAND_THRESHOLD)       # renderHand.cpp


def _round(a):
    return int(a + 0.5)  # OpenPose's positiveIntRound


def _box_size(kps):
    """(width, height) of the box over a keypoint set's keypoints of confidence > BOX_THRESHOLD, or None without
    any (getKeypointsRectangle)."""
    kps = np.asarray(kps, np.float32).reshape(-1, 3)
    boxed = kps[kps[:, 2] > BOX_THRESHOLD, :2]
    if len(boxed) == 0:
        return None
    return boxed.max(axis=0) - boxed.min(axis=0)


def thickness(kps, style, height, width):
    """OpenPose's (circle thickness t, line thickness, circle radius, circle outline) of one keypoint set, or None
    where the set's bounding box has no area and OpenPose draws nothing of it."""
    size = _box_size(kps)
    if size is None:
        return None
    box_w, box_h = size
    if not box_w * box_h > 0:
        return None
    ratio = min(np.float32(1), max(box_w / np.float32(width), box_h / np.float32(height)))
    t = max(_round(math.sqrt(width * height) * float(style.circle_ratio) * float(ratio)), 2)  # sqrt of an int: double
    line = max(1, _round(np.float32(t) * style.line_ratio))
    outline = t if ratio > np.float32(0.05) else 1  # C++: max(1, ratio > 0.05 ? t : -1)
    return t, line, t // 2, outline


def body_extent(body):
    """The longer side of the body's box over its keypoints of confidence > BOX_THRESHOLD (0 without two)."""
    size = None if body is None else _box_size(body)
    return 0.0 if size is None else float(size.max())


def _draw_set(img, kps, style, line_width=None):
    """One keypoint set as OpenPose draws it, or with lines `line_width` px thick (circles as wide) when given."""
    if kps is None:
        return
    kps = np.asarray(kps, np.float32)
    if kps.size == 0:
        return
    sizes = thickness(kps, style, img.shape[0], img.shape[1])
    if sizes is None:
        return
    _, line, radius, outline = sizes
    if line_width is not None:
        line, radius, outline = line_width, line_width // 2, -1
    ok = kps[:, 2] > style.threshold
    pts = np.round(kps[:, :2].astype(np.float64) * _ONE).astype(np.int32)
    drawn = np.flatnonzero(ok[style.pairs[:, 0]] & ok[style.pairs[:, 1]])
    if style.one_color:
        if len(drawn):  # open 2-point polylines are drawn as cv2.line draws them (round caps at both ends)
            cv2.polylines(img, list(pts[style.pairs[drawn]]), False, style.colors[0], line, LINE_TYPE, SHIFT)
    else:
        ends = pts[style.pairs].tolist()
        for k in drawn.tolist():
            a, b = ends[k]
            cv2.line(img, a, b, style.pair_colors[k], line, LINE_TYPE, SHIFT)
    centers = pts.tolist()
    r = radius * _ONE
    for i in np.flatnonzero(ok).tolist():
        cv2.circle(img, centers[i], r, style.colors[i], outline, LINE_TYPE, SHIFT)


def draw_label(height, width, body, face=None, left_hand=None, right_hand=None, limb_width=0.0):
    """Draw one frame's keypoints (x, y, confidence in stored-frame pixels) on black; returns uint8 RGB [H,W,3].
    limb_width: 0 = OpenPose's line widths, > 0 = the body's lines as that fraction of its size (module doc)."""
    img = np.zeros((height, width, 3), np.uint8)
    body_line = hand_line = None
    if limb_width > 0:
        extent = body_extent(body)
        body_line = max(2, _round(limb_width * extent))
        hand_line = max(1, _round(limb_width * extent / 4))
    _draw_set(img, body, BODY, body_line)
    _draw_set(img, face, FACE)
    _draw_set(img, left_hand, HAND, hand_line)
    _draw_set(img, right_hand, HAND, hand_line)
    return img


def draw_labels(poses, index, height, width, limb_width=0.0):
    """Label map of frame `index` of an in-memory poses dict (see io.poses.read_poses)."""
    return draw_label(height, width, poses["body"][index], poses["face"][index],
                      poses["left_hand"][index], poses["right_hand"][index], limb_width)
