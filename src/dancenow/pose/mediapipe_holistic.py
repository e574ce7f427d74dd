"""The mediapipe backend of pose estimation: mediapipe Holistic (body, face, hands of one person) on CPU, mapped to
OpenPose BODY_25 + face-70 + hand-21."""

import os

import numpy as np

from ..io.poses import POSE_PARTS
from ..keypoints import BLAZEPOSE_TO_BODY25, MIDPOINTS
from ..progress import Bar
from .native_logs import without_native_logs

# Face-mesh landmark of each of the 68 iBUG points (OpenPose face 0..67); 68 and 69 are the pupils.
FACEMESH_TO_FACE68 = [
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, 71, 63, 105, 66, 107, 336,
    296, 334, 293, 301, 168, 197, 5, 4, 75, 97, 2, 326, 305, 33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373,
    380, 61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87]


def _landmarks(lms, width, height):
    """mediapipe landmark list -> float64 [K, 3] of (x px, y px, visibility or 1)."""
    out = np.array([(lm.x * width, lm.y * height, lm.visibility if lm.HasField("visibility") else 1.0)
                    for lm in lms.landmark], dtype=np.float64)
    out[:, 2] = np.clip(out[:, 2], 0.0, 1.0)
    return out


def blazepose_to_body25(bp):
    """BlazePose-33 [33, 3] -> BODY_25 [25, 3]."""
    body = np.zeros((25, 3), np.float64)
    for dst, src in BLAZEPOSE_TO_BODY25.items():
        body[dst] = bp[src]
    for dst, (a, b) in MIDPOINTS.items():
        body[dst, :2] = (bp[a, :2] + bp[b, :2]) / 2
        body[dst, 2] = min(bp[a, 2], bp[b, 2])
    return body


def facemesh_to_face70(mesh):
    face = np.zeros((70, 3), np.float64)
    face[:68] = mesh[FACEMESH_TO_FACE68]
    face[68] = face[36:42].mean(axis=0)
    face[69] = face[42:48].mean(axis=0)
    return face


class HolisticEstimator:
    """Stateful over a sequence of frames (mediapipe tracks from frame to frame); `reset()` starts afresh."""

    def __init__(self, model_complexity=1, min_detection_confidence=0.5, min_tracking_confidence=0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging: warnings and up
        import mediapipe as mp  # slow import: only when a pose stage runs

        self._make = lambda: mp.solutions.holistic.Holistic(
            static_image_mode=False, model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)
        self._model = self._make()

    def reset(self):
        self._model.close()
        self._model = self._make()

    def close(self):
        self._model.close()

    def __call__(self, rgb):
        """One RGB uint8 frame -> dict of float32 arrays body [25,3], face [70,3], left_hand, right_hand [21,3]."""
        h, w = rgb.shape[:2]
        r = self._model.process(np.ascontiguousarray(rgb))
        out = {"body": np.zeros((25, 3)), "face": np.zeros((70, 3)),
               "left_hand": np.zeros((21, 3)), "right_hand": np.zeros((21, 3))}
        if r.pose_landmarks is not None:
            out["body"] = blazepose_to_body25(_landmarks(r.pose_landmarks, w, h))
        if r.face_landmarks is not None:
            out["face"] = facemesh_to_face70(_landmarks(r.face_landmarks, w, h))
        for part, lms in (("left_hand", r.left_hand_landmarks), ("right_hand", r.right_hand_landmarks)):
            if lms is not None:
                out[part] = _landmarks(lms, w, h)
        return {k: v.astype(np.float32) for k, v in out.items()}


def estimate(frames, c, start, stop):
    """The keypoint sets of frames[start:stop]. mediapipe's tracker restarts every `pose.chunk_frames` frames
    (counted from frame 0), so any split of the video on chunk boundaries gives exactly those of one pass."""
    chunk = c["chunk_frames"]
    out = {p: np.zeros((stop - start, n, 3), np.float32) for p, n in POSE_PARTS.items()}
    with without_native_logs():
        est = HolisticEstimator(c["model_complexity"], c["min_detection_confidence"], c["min_tracking_confidence"])
        try:
            for i in Bar(range(start, stop), desc="pose", unit="frame", leave=False):
                if i > start and i % chunk == 0:
                    est.reset()
                for part, kps in est(frames[i]).items():
                    out[part][i - start] = kps
        finally:
            est.close()
    return out


def merge(raws, width, height):
    """Consecutive ranges' keypoint sets joined."""
    return {p: np.concatenate([r[p] for r in raws]) for p in POSE_PARTS}
