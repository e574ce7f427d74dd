"""The main dancer across frames of multi-person detections, and COCO-18 -> BODY_25.

The decoder gives, per frame, every person it found as float32 [P, 18, 3] in COCO-18 order (x px, y px, confidence;
confidence 0 = missing). `track_main_dancer` keeps one and the same person from frame to frame; `coco18_to_body25`
puts that person's keypoints into the project's BODY_25 slots.
"""

import numpy as np

from ...keypoints import B

COCO18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
          "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"]
COCO18_TO_BODY25 = np.array([B[name] for name in COCO18])  # BODY_25 slot of each COCO-18 keypoint
_RHIP, _LHIP = COCO18.index("RHip"), COCO18.index("LHip")


def coco18_to_body25(people):
    """[..., 18, 3] COCO-18 -> [..., 25, 3] BODY_25 (same dtype). MidHip is the midpoint of the hips with the lower
    of their confidences (0 when either is missing); the six foot keypoints have no COCO keypoint: confidence 0."""
    people = np.asarray(people)
    out = np.zeros(people.shape[:-2] + (25, 3), people.dtype if people.dtype.kind == "f" else np.float32)
    out[..., COCO18_TO_BODY25, :] = people
    r, l = people[..., _RHIP, :], people[..., _LHIP, :]
    conf = np.minimum(r[..., 2], l[..., 2])
    out[..., B["MidHip"], :2] = np.where(conf[..., None] > 0, (r[..., :2] + l[..., :2]) / 2, 0)
    out[..., B["MidHip"], 2] = np.maximum(conf, 0)
    return out


def _size(person, ok):
    """Diagonal of the bounding box of a person's confident keypoints, in pixels."""
    xy = person[ok, :2]
    return float(np.hypot(*(xy.max(0) - xy.min(0)))) if len(xy) else 0.0


def _prominence(person, ok, image_size):
    """Box diagonal x fraction of the 18 keypoints found x their mean confidence (x a centre weight)."""
    score = _size(person, ok) * ok.mean() * person[ok, 2].mean()
    if image_size is not None:
        w, h = image_size
        centre = person[ok, :2].mean(0)
        off = np.hypot(centre[0] - w / 2, centre[1] - h / 2) / (np.hypot(w, h) / 2)
        score *= 1 - 0.5 * min(off, 1.0)  # a person at a corner counts half as much as one at the centre
    return score


def _costs(track, people, oks, valid, min_conf):
    """Distance of each person to the track's constant-velocity prediction: mean over the keypoints confident in
    both (at least 3), in units of the track's box diagonal; inf where not comparable."""
    last, velocity, gap = track["last"], track["velocity"], track["gap"]
    last_ok = last[:, 2] > min_conf
    common = oks & last_ok                                                       # [P, 18]
    d = np.linalg.norm(people[:, :, :2] - (last[:, :2] + velocity * gap), axis=2)  # [P, 18]
    cost = (d * common).sum(1) / np.maximum(common.sum(1), 1) / max(_size(last, last_ok), 1.0)
    cost[(common.sum(1) < 3) | ~valid] = np.inf
    return cost


def track_main_dancer(frames_people, image_size=None, gate=0.3, max_lost=15, min_conf=0.05, min_keypoints=4):
    """The main dancer in each frame of `frames_people` (a sequence of [P, 18, 3] arrays, P may be 0).

    Returns (float32 [N, 18, 3]: the dancer's keypoints per frame, zeros where not found; int [N]: the index of
    the chosen person in that frame's list, -1 where none).

    The rule. A person counts when it has at least `min_keypoints` keypoints above `min_conf`. Every person is
    tracked, and the main dancer is one of those tracks:
    - Prediction: a track is predicted at constant velocity (its last keypoints moved by its velocity times the
      frames since it was last seen; the velocity is the median keypoint displacement per frame between its last
      two sightings). A person's distance to a track is the mean distance between its keypoints and the predicted
      ones, over the keypoints confident in both (at least 3), divided by the track's bounding-box diagonal.
    - Matching: track/person pairs under `gate` are matched greedily, closest pair first, one person per track.
      Unmatched people start new tracks; a track unmatched for more than `max_lost` consecutive frames is dropped.
      Size plays no part: a bigger person elsewhere, or one passing in front while the dancer is hidden (it keeps
      its own track), never takes the dancer's place.
    - Main dancer: at the start, and whenever its track is dropped, the most prominent person of the frame is
      chosen: bounding-box diagonal x fraction of the 18 keypoints found x their mean confidence, x a weight
      falling to 1/2 at the frame's corners when `image_size` (w, h) is given. So while the dancer is not matched
      the frame has no dancer (zeros, -1) for up to `max_lost` frames, and only a person near its prediction
      re-acquires it; at the (max_lost + 1)-th such frame the most prominent person becomes the dancer.
    Deterministic: ties go to the lower track id, then the lower person index.
    """
    n = len(frames_people)
    out = np.zeros((n, 18, 3), np.float32)
    chosen = np.full(n, -1, np.int64)
    tracks, next_id, main = {}, 0, None  # id -> {"last" [18, 3], "velocity" [2] px/frame, "gap", "lost"}

    for t, people in enumerate(frames_people):
        people = np.asarray(people, np.float32).reshape(-1, 18, 3)
        oks = people[:, :, 2] > min_conf
        valid = oks.sum(1) >= min_keypoints
        pairs = []
        for tid, track in tracks.items():
            track["gap"] += 1
            cost = _costs(track, people, oks, valid, min_conf)
            pairs += [(cost[i], tid, i) for i in np.flatnonzero(cost < gate)]
        person_of = {}  # track id -> person index in this frame
        for _, tid, i in sorted(pairs):
            if tid not in person_of and i not in person_of.values():
                person_of[tid] = i
        for tid in list(tracks):
            track = tracks[tid]
            if tid in person_of:
                new = people[person_of[tid]]
                common = (new[:, 2] > min_conf) & (track["last"][:, 2] > min_conf)
                track["velocity"] = np.median(new[common, :2] - track["last"][common, :2], axis=0) / track["gap"]
                track.update(last=new.copy(), gap=0, lost=0)
            else:
                track["lost"] += 1
                if track["lost"] > max_lost:
                    del tracks[tid]
        for i in np.flatnonzero(valid):
            if i not in person_of.values():
                tracks[next_id] = {"last": people[i].copy(), "velocity": np.zeros(2, np.float32), "gap": 0, "lost": 0}
                person_of[next_id] = i
                next_id += 1
        if main not in tracks and valid.any():
            best = max(np.flatnonzero(valid), key=lambda i: (_prominence(people[i], oks[i], image_size), -i))
            main = next(tid for tid, i in person_of.items() if i == best)
        if main in person_of:
            out[t], chosen[t] = people[person_of[main]], person_of[main]
    return out, chosen
