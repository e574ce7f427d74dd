"""OpenPose's JSON output, one file per frame, as `openpose --write_json` writes it (version 1.3): what pose-guided
animators and other tools read.

    <name>_<frame, 12 digits>_keypoints.json
    {"version": 1.3, "people": [{"person_id": [-1],
        "pose_keypoints_2d": [x0, y0, c0, x1, y1, c1, ...],     BODY_25: 75 numbers
        "face_keypoints_2d": [...],                             70 keypoints: 210
        "hand_left_keypoints_2d": [...], "hand_right_keypoints_2d": [...],   21 keypoints each: 63
        "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}]}

x and y are pixels of the canvas the poses live in (x right, y down, origin at the top left corner of the top left
pixel), c the confidence in [0, 1]. A keypoint that was not found is 0, 0, 0, as OpenPose writes it; a frame
without a person has "people": [].
"""

import json
from pathlib import Path

import numpy as np

VERSION = 1.3
PARTS = {"pose": "body", "face": "face", "hand_left": "left_hand", "hand_right": "right_hand"}  # OpenPose: ours


def file_name(name, index):
    return f"{name}_{index:012d}_keypoints.json"


def _flat(kps):
    kps = np.where(kps[:, 2:3] > 0, kps, 0.0)  # a keypoint not found: zeros, also its x and y
    return [round(float(v), 4 if j % 3 == 2 else 3) for j, v in enumerate(kps.reshape(-1))]


def frame_json(poses, index):
    """The JSON object of frame `index` of an in-memory poses dict (io.poses.read_poses)."""
    if not (poses["body"][index, :, 2] > 0).any():
        return {"version": VERSION, "people": []}
    person = {"person_id": [-1]}
    person.update({f"{ours}_keypoints_2d": _flat(poses[part][index]) for ours, part in PARTS.items()})
    person.update({f"{ours}_keypoints_3d": [] for ours in PARTS})
    return {"version": VERSION, "people": [person]}


def write_frames(folder, name, poses):
    folder = Path(folder)
    for i in range(len(poses["body"])):
        (folder / file_name(name, i)).write_text(json.dumps(frame_json(poses, i), separators=(",", ":")))


def read_frame(path):
    """{part: float32 [K,3]} of the first person in an OpenPose JSON file (our part names), or None without one."""
    people = json.loads(Path(path).read_text())["people"]
    if not people:
        return None
    return {part: np.asarray(people[0][f"{ours}_keypoints_2d"], np.float32).reshape(-1, 3)
            for ours, part in PARTS.items()}
