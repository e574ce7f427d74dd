"""Keypoint layouts: OpenPose BODY_25 (the project's order), its face-70 and hand-21 sets, their render colors, the
BlazePose-33 -> BODY_25 map, and what makes a frame one with a person."""

import numpy as np

BODY_25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
           "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
           "LHeel", "RBigToe", "RSmallToe", "RHeel"]
B = {name: i for i, name in enumerate(BODY_25)}

# OpenPose's POSE_BODY_25_PAIRS_RENDER; a limb takes the color of its second keypoint, as OpenPose draws it.
BODY_PAIRS = [(1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
              (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22),
              (22, 23), (11, 24)]
BODY_COLORS = np.array([
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (255, 0, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255),
    (255, 0, 170), (170, 0, 255), (255, 0, 255), (85, 0, 255), (0, 0, 255), (0, 0, 255), (0, 0, 255),
    (0, 255, 255), (0, 255, 255), (0, 255, 255)], dtype=np.uint8)  # RGB

# Face-70 (68 iBUG points + 2 pupils): contour, brows, nose, eyes and lips as OpenPose's FACE_PAIRS_RENDER.
FACE_PAIRS = ([(i, i + 1) for i in range(16)] + [(i, i + 1) for i in range(17, 21)] +
              [(i, i + 1) for i in range(22, 26)] + [(i, i + 1) for i in range(27, 30)] +
              [(i, i + 1) for i in range(31, 35)] +
              [(i, i + 1) for i in range(36, 41)] + [(41, 36)] + [(i, i + 1) for i in range(42, 47)] + [(47, 42)] +
              [(i, i + 1) for i in range(48, 59)] + [(59, 48)] + [(i, i + 1) for i in range(60, 67)] + [(67, 60)])
FACE_COLOR = (255, 255, 255)

# Hand-21: wrist, then 4 joints per finger (thumb, index, middle, ring, pinky); OpenPose's HAND_PAIRS_RENDER.
HAND_PAIRS = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
# OpenPose's HAND_COLORS_RENDER (RGB), one per keypoint: grey wrist, then each finger from its base to its tip in
# growing brightness: thumb red, index yellow, middle green, ring blue, pinky magenta.
HAND_COLORS = np.array([
    (100, 100, 100),
    (100, 0, 0), (150, 0, 0), (200, 0, 0), (255, 0, 0),
    (100, 100, 0), (150, 150, 0), (200, 200, 0), (255, 255, 0),
    (0, 100, 50), (0, 150, 75), (0, 200, 100), (0, 255, 125),
    (0, 50, 100), (0, 75, 150), (0, 100, 200), (0, 125, 255),
    (100, 0, 100), (150, 0, 150), (200, 0, 200), (255, 0, 255)], dtype=np.uint8)

ANKLES = (B["RAnkle"], B["LAnkle"])
HEAD_TOP_CANDIDATES = (B["Nose"], B["REye"], B["LEye"], B["REar"], B["LEar"], B["Neck"])
HEAD_KEYPOINTS = [B[k] for k in ("Nose", "REye", "LEye", "REar", "LEar")]

# BODY_25 slot -> BlazePose-33 landmark. Neck and MidHip are midpoints; the small toes have no BlazePose landmark
# and stay missing (confidence 0).
BLAZEPOSE_TO_BODY25 = {
    B["Nose"]: 0, B["RShoulder"]: 12, B["RElbow"]: 14, B["RWrist"]: 16, B["LShoulder"]: 11, B["LElbow"]: 13,
    B["LWrist"]: 15, B["RHip"]: 24, B["RKnee"]: 26, B["RAnkle"]: 28, B["LHip"]: 23, B["LKnee"]: 25,
    B["LAnkle"]: 27, B["REye"]: 5, B["LEye"]: 2, B["REar"]: 8, B["LEar"]: 7, B["LBigToe"]: 31, B["LHeel"]: 29,
    B["RBigToe"]: 32, B["RHeel"]: 30,
}
MIDPOINTS = {B["Neck"]: (11, 12), B["MidHip"]: (23, 24)}

MIN_CONFIDENCE = 0.1  # a body keypoint this confident counts as a person (and OpenPose's bounding-box threshold)


def has_person(body):
    """bool [N]: the frames of a BODY_25 body [N,25,3] with a person, i.e. a keypoint at least MIN_CONFIDENCE
    confident."""
    return (np.asarray(body)[:, :, 2] >= MIN_CONFIDENCE).any(axis=1)
