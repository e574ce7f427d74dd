"""Label maps: poses drawn as OpenPose draws them, the generator's input."""

import cv2
import numpy as np

from .keypoints import BODY_COLORS, BODY_PAIRS, FACE_COLOR, FACE_PAIRS, HAND_COLORS, HAND_PAIRS

MIN_CONFIDENCE = 0.1
LINE_TYPE = cv2.LINE_8  # OpenPose renders with 8-connected lines


def _draw_set(img, kps, pairs, colors, thickness, radius):
    ok = kps[:, 2] >= MIN_CONFIDENCE
    pts = np.round(kps[:, :2] * 16).astype(np.int64)  # 4 fractional bits: sub-pixel placement
    for a, b in pairs:
        if ok[a] and ok[b]:
            color = tuple(int(c) for c in (colors[b] if colors.ndim == 2 else colors))
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, thickness, LINE_TYPE, shift=4)
    if radius > 0:
        for i in np.flatnonzero(ok):
            color = tuple(int(c) for c in (colors[i] if colors.ndim == 2 else colors))
            cv2.circle(img, tuple(pts[i]), radius * 16, color, -1, LINE_TYPE, shift=4)


def draw_label(height, width, body, face=None, left_hand=None, right_hand=None):
    """Draw one frame's keypoints (x, y, confidence in stored-frame pixels) on black; returns uint8 RGB [H,W,3]."""
    img = np.zeros((height, width, 3), np.uint8)
    thick = max(1, round(min(height, width) / 100))
    _draw_set(img, np.asarray(body, np.float64), BODY_PAIRS, BODY_COLORS, thick * 2, thick * 2)
    small = max(1, thick // 2)
    if face is not None:
        _draw_set(img, np.asarray(face, np.float64), FACE_PAIRS, np.array(FACE_COLOR), small, 0)
    for hand in (left_hand, right_hand):
        if hand is not None:
            _draw_set(img, np.asarray(hand, np.float64), HAND_PAIRS, HAND_COLORS, small, 0)
    return img


def draw_labels(poses, index, height, width):
    """Label map of frame `index` of an in-memory poses dict (see io.h5.read_poses)."""
    return draw_label(height, width, poses["body"][index], poses["face"][index],
                      poses["left_hand"][index], poses["right_hand"][index])
