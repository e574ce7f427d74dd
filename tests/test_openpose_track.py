"""The main-dancer tracker over constructed multi-person detections, and the COCO-18 -> BODY_25 mapping."""

import numpy as np

from dancenow.keypoints import B
from dancenow.pose.openpose.track import COCO18, coco18_to_body25, track_main_dancer

# Stick person, offsets in units of its height from its centre (y down). Arms are added by `person`.
_BODY = {"Nose": (0, -0.42), "Neck": (0, -0.32), "RShoulder": (-0.1, -0.3), "LShoulder": (0.1, -0.3),
         "RHip": (-0.06, 0.02), "LHip": (0.06, 0.02), "RKnee": (-0.07, 0.25), "LKnee": (0.07, 0.25),
         "RAnkle": (-0.07, 0.48), "LAnkle": (0.07, 0.48), "REye": (-0.03, -0.45), "LEye": (0.03, -0.45),
         "REar": (-0.06, -0.43), "LEar": (0.06, -0.43)}


def person(cx, cy, height, phase=0.0, conf=0.8):
    """A COCO-18 stick person [18, 3] centred at (cx, cy), `height` px tall, arms swinging with `phase`."""
    kp = np.zeros((18, 3), np.float32)
    for name, (dx, dy) in _BODY.items():
        kp[COCO18.index(name)] = (cx + dx * height, cy + dy * height, conf)
    for side, sign in (("R", -1), ("L", 1)):
        a = sign * 0.6 * np.sin(phase + (side == "L") * np.pi)  # arms swing in opposition
        sx, sy = _BODY[side + "Shoulder"]
        for joint, r in (("Elbow", 0.15), ("Wrist", 0.3)):
            kp[COCO18.index(side + joint)] = (cx + (sx + sign * r * np.sin(abs(a) + 0.2)) * height,
                                              cy + (sy + r * np.cos(a)) * height, conf)
    return kp


def frames_of(people_per_frame, rng=None):
    """Lists of people -> [P, 18, 3] arrays, shuffled per frame when `rng` is given."""
    frames = []
    for people in people_per_frame:
        arr = np.stack(people) if people else np.zeros((0, 18, 3), np.float32)
        frames.append(arr[rng.permutation(len(arr))] if rng is not None else arr)
    return frames


def assert_tracked(kps, truth, frames=None):
    """`kps` equals `truth` (the person we mean to follow) in `frames` (all by default)."""
    frames = range(len(truth)) if frames is None else frames
    for t in frames:
        np.testing.assert_allclose(kps[t], truth[t], atol=1e-4, err_msg=f"frame {t}")


def test_sizes_swap_and_list_order_shuffled():
    rng = np.random.default_rng(0)
    n = 40
    h_a = np.linspace(300, 150, n)  # A shrinks...
    h_b = np.linspace(140, 310, n)  # ...B grows: bigger from frame 20 on
    assert (h_b > h_a)[20:].all() and (h_b < h_a)[:20].all()
    a = [person(200 + 3 * np.sin(t / 5), 300, h_a[t], t / 3) for t in range(n)]
    b = [person(520, 300 + 4 * np.cos(t / 4), h_b[t], t / 2 + 1) for t in range(n)]
    frames = frames_of([[a[t], b[t]] for t in range(n)], rng)
    kps, idx = track_main_dancer(frames, image_size=(720, 600))
    assert (idx >= 0).all()
    assert_tracked(kps, a)
    for t in range(n):  # the index points at A in that frame's (shuffled) list
        np.testing.assert_allclose(frames[t][idx[t]], a[t])


def test_crowd_behind_the_dancer():
    rng = np.random.default_rng(1)
    n = 60
    dancer = [person(480 + 40 * np.sin(t / 8), 300, 260 + 10 * np.sin(t / 3), t / 2) for t in range(n)]
    crowd = [[person(x + 5 * np.sin(t / 4 + k), 250, hgt * (1 + 0.5 * np.sin(t / 6 + k)), t / 3 + k)
              for k, (x, hgt) in enumerate(((120, 200), (780, 220), (300, 180)))] for t in range(n)]
    assert any(max(_height(p) for p in crowd[t]) > _height(dancer[t]) for t in range(n))  # sometimes bigger
    frames = frames_of([[dancer[t], *crowd[t]] for t in range(n)], rng)
    kps, idx = track_main_dancer(frames, image_size=(960, 540))
    assert (idx >= 0).all()
    assert_tracked(kps, dancer)


def _height(p):
    return np.ptp(p[:, 1])


def test_dancer_missing_then_reacquired_not_the_other_person():
    n = 30
    gone = range(10, 15)
    dancer = [person(300 + 2 * t, 300, 250, t / 2) for t in range(n)]
    other = [person(650, 280, 200 + 6 * t, t / 3) for t in range(n)]  # present throughout, bigger from frame 9
    newcomer = [person(60, 300, 240, t) for t in range(n)]  # walks in, far away, while the dancer is missing
    frames = frames_of([[other[t]] + ([newcomer[t]] if t >= 11 else []) + ([] if t in gone else [dancer[t]])
                        for t in range(n)])
    kps, idx = track_main_dancer(frames, max_lost=8)
    assert (kps[list(gone)] == 0).all() and (idx[list(gone)] == -1).all()
    seen = [t for t in range(n) if t not in gone]
    assert_tracked(kps, dancer, seen)
    assert (idx[seen] == [1] * 10 + [2] * (n - 15)).all()


def test_dancer_gone_longer_than_max_lost_switches_to_the_one_left():
    n = 20
    dancer = [person(300, 300, 250, t / 2) for t in range(n)]
    other = [person(650, 280, 200, t / 3) for t in range(n)]
    frames = frames_of([[dancer[t], other[t]] if t < 5 else [other[t]] for t in range(n)])
    kps, idx = track_main_dancer(frames, max_lost=3)
    assert_tracked(kps, dancer, range(5))
    assert (idx[5:8] == -1).all()  # up to max_lost frames: nobody is taken in the dancer's place
    assert_tracked(kps, other, range(8, n))  # then the most prominent person left


def test_crossing_paths_kept_by_motion_prediction():
    n = 22
    a = [person(100 + 20 * t, 300, 210, t / 2) for t in range(n)]           # walks right
    b = [person(510 - 20 * t, 306, 195, t / 2 + 0.5) for t in range(n)]     # walks left, similar size
    # nearest to the last position (no velocity) would swap: at some frame B lands closer to A's last keypoints
    dist = lambda p, q: np.linalg.norm(p[:, :2] - q[:, :2], axis=1).mean()  # noqa: E731
    assert any(dist(b[t + 1], a[t]) < dist(a[t + 1], a[t]) for t in range(n - 1))
    frames = frames_of([[a[t], b[t]] for t in range(n)], np.random.default_rng(2))
    kps, idx = track_main_dancer(frames)
    assert (idx >= 0).all()
    assert_tracked(kps, a)


def test_crossing_with_the_dancer_hidden_at_the_crossing():
    n = 22
    a = [person(100 + 20 * t, 300, 210, t / 2) for t in range(n)]
    b = [person(510 - 20 * t, 306, 195, t / 2 + 0.5) for t in range(n)]
    hidden = range(9, 13)  # A behind B while they cross: only B is detected
    frames = frames_of([[b[t]] if t in hidden else [b[t], a[t]] for t in range(n)])
    kps, idx = track_main_dancer(frames)
    assert (idx[list(hidden)] == -1).all()
    assert_tracked(kps, a, [t for t in range(n) if t not in hidden])


def test_coco18_to_body25_slots_midhip_and_feet():
    rng = np.random.default_rng(3)
    coco = rng.uniform(1, 500, (2, 3, 18, 3)).astype(np.float32)
    coco[..., 2] = rng.uniform(0.1, 1, (2, 3, 18))
    coco[1, 2, COCO18.index("LHip"), 2] = 0  # one person without a left hip
    body = coco18_to_body25(coco)
    assert body.shape == (2, 3, 25, 3) and body.dtype == np.float32
    for k, name in enumerate(COCO18):
        np.testing.assert_array_equal(body[..., B[name], :], coco[..., k, :])
    r, l = coco[..., COCO18.index("RHip"), :], coco[..., COCO18.index("LHip"), :]
    mid = body[..., B["MidHip"], :]
    ok = np.ones((2, 3), bool)
    ok[1, 2] = False
    np.testing.assert_allclose(mid[ok][:, :2], ((r[..., :2] + l[..., :2]) / 2)[ok], rtol=1e-6)
    np.testing.assert_allclose(mid[ok][:, 2], np.minimum(r[..., 2], l[..., 2])[ok])
    assert mid[1, 2, 2] == 0
    for foot in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"):
        assert (body[..., B[foot], :] == 0).all()
    assert coco18_to_body25(coco[0, 0]).shape == (25, 3)
    assert coco18_to_body25(np.zeros((0, 18, 3), np.float32)).shape == (0, 25, 3)


def test_empty_frames():
    frames = [np.zeros((0, 18, 3), np.float32)] * 7
    kps, idx = track_main_dancer(frames)
    assert kps.shape == (7, 18, 3) and kps.dtype == np.float32 and not kps.any()
    assert idx.shape == (7,) and (idx == -1).all()
    kps, idx = track_main_dancer([])
    assert kps.shape == (0, 18, 3) and idx.shape == (0,)
