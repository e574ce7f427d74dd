"""BVH motion capture (dancenow.choreo.bvh) on the real CMU salsa clips: parsing, kinematics, BODY_25, resampling."""

import dataclasses
import re

import numpy as np
import pytest
from conftest import real_data

from dancenow.choreo.bvh import BODY25_FROM_CMU, forward_kinematics, read_bvh, resample, to_body25
from dancenow.errors import UserError
from dancenow.keypoints import B, BODY_25

FILES = {"cmu_salsa_01.bvh": 2243, "cmu_salsa_02.bvh": 2102, "cmu_salsa_03.bvh": 1831}
_cache = {}


def load(name):
    """(Motion, positions) of a real clip, parsed once per test session."""
    if name not in _cache:
        m = read_bvh(real_data("mocap", name))
        _cache[name] = m, forward_kinematics(m)
    return _cache[name]


# Rotation matrices written out by hand (independent of the module's axis_rotation): degrees, right-handed.
def Rx(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def Ry(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def Rz(a):
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def facing_deg(P, names):
    """Yaw of the pelvis per frame from 3D positions: 0 = facing +Z (towards the camera), 90 = facing +X."""
    lr = P[:, names.index("lThigh")] - P[:, names.index("rThigh")]   # performer's right -> left
    fwd = np.cross(lr, [0.0, 1.0, 0.0])                                # left x up = forward
    return np.degrees(np.arctan2(fwd[:, 0], fwd[:, 2]))


# ---- 1. parsing: header, joints, channels --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_header_joints_and_channels(name):
    m, _ = load(name)
    text = real_data("mocap", name).read_text()
    frames = int(re.search(r"^Frames:\s*(\d+)", text, re.M).group(1))
    frame_time = float(re.search(r"^Frame Time:\s*(\S+)", text, re.M).group(1))
    assert m.n_frames == frames == FILES[name]
    assert m.frame_time == frame_time == 0.00833333
    assert m.fps == 120.0
    # 57 joints as the data README says = 43 ROOT/JOINTs with channels + 14 End Sites.
    n_joints = len(re.findall(r"^\s*(?:ROOT|JOINT)\s", text, re.M))
    n_ends = len(re.findall(r"^\s*End Site", text, re.M))
    assert (n_joints, n_ends) == (43, 14)
    assert len(m.names) == len(m.parents) == len(m.channels) == m.offsets.shape[0] == 57
    assert sum(1 for c in m.channels if c) == 43
    assert m.names[0] == "hip" and m.parents[0] == -1 and (m.parents[1:] >= 0).all()
    assert (m.parents[1:] < np.arange(1, 57)).all()                      # parents come first
    assert m.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    assert all(c == ("Zrotation", "Xrotation", "Yrotation") for c in m.channels[1:] if c)
    for end in ("leftEye_end", "rightEye_end", "rFoot_end", "lFoot_end", "rPinky2_end", "lThumb2_end"):
        j = m.names.index(end)
        assert m.channels[j] == () and m.names[m.parents[j]] == end[:-4]
    assert m.motion.dtype == np.float64
    assert m.motion.shape == (FILES[name], 6 + 3 * 42) == (FILES[name], 132)
    # The last row of the file is the last frame.
    last = np.array(text.strip().splitlines()[-1].split(), float)
    np.testing.assert_array_equal(m.motion[-1], last)
    np.testing.assert_array_equal(m.offsets[m.names.index("rShin")], [0, -36.8199, 0.73152])


def test_crlf_and_tabs_parse_the_same(tmp_path):
    m, _ = load("cmu_salsa_03.bvh")
    text = real_data("mocap", "cmu_salsa_03.bvh").read_text()
    odd = tmp_path / "odd.bvh"
    odd.write_bytes(text.replace(" ", "\t  ").replace("\n", "\r\n\r\n").encode())
    m2 = read_bvh(odd)
    assert m2.names == m.names and m2.channels == m.channels and m2.frame_time == m.frame_time
    np.testing.assert_array_equal(m2.parents, m.parents)
    np.testing.assert_array_equal(m2.offsets, m.offsets)
    np.testing.assert_array_equal(m2.motion, m.motion)


# ---- 2. forward kinematics -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_root_and_children_by_hand(name):
    m, P = load(name)
    n = m.names
    hip, abdomen, chest = n.index("hip"), n.index("abdomen"), n.index("chest")
    assert m.parents[abdomen] == hip and m.parents[chest] == abdomen
    # At frame 0 the root is not rotated (the other joints are within ~10 degrees of rest) in these files; frame 1
    # and later ones are turned and bent.
    assert not m.motion[0, 3:6].any() and np.abs(m.motion[0, 6:]).max() < 11 and np.abs(m.motion[1, 3:6]).max() > 80
    for f in (0, 1, m.n_frames // 2, m.n_frames - 1):
        row = m.motion[f]
        root = m.offsets[hip] + row[0:3]
        np.testing.assert_allclose(P[f, hip], root, atol=1e-9)
        R_root = Rz(row[3]) @ Ry(row[4]) @ Rx(row[5])                  # Zrotation Yrotation Xrotation
        np.testing.assert_allclose(P[f, abdomen], root + R_root @ m.offsets[abdomen], atol=1e-9)
        s = m.channel_start[abdomen]
        R_abd = Rz(row[s]) @ Rx(row[s + 1]) @ Ry(row[s + 2])           # Zrotation Xrotation Yrotation
        np.testing.assert_allclose(P[f, chest], P[f, abdomen] + R_root @ R_abd @ m.offsets[chest], atol=1e-9)
    # With every angle 0 (the rest pose) every joint is at the sum of the offsets down from the root.
    zero = m.motion[:2].copy()
    zero[:, 3:] = 0
    rest = np.zeros((len(n), 3))
    for j, p in enumerate(m.parents):
        rest[j] = m.offsets[j] + (rest[p] if p >= 0 else zero[0, :3])
    np.testing.assert_allclose(forward_kinematics(dataclasses.replace(m, motion=zero))[0], rest, atol=1e-9)


@pytest.mark.parametrize("name", FILES)
def test_bones_are_rigid(name):
    m, P = load(name)
    assert P.shape == (m.n_frames, 57, 3) and P.dtype == np.float64
    j = np.arange(1, len(m.names))
    length = np.linalg.norm(P[:, j] - P[:, m.parents[j]], axis=-1)            # [F, J-1]
    np.testing.assert_allclose(length, np.broadcast_to(np.linalg.norm(m.offsets[j], axis=-1), length.shape),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", FILES)
def test_dancer_stands_on_the_floor_and_looks_ahead(name):
    """Checks the rotation order against the data: with the wrong order (e.g. reversed) the feet float ~60 above the
    floor in 1% of frames and the face points backwards in 9-15% of them."""
    m, P = load(name)
    n = m.names
    lowest = P[..., 1].min(axis=1)                       # Y up, floor at ~0 (the units are about centimetres)
    assert np.percentile(lowest, 99) < 12 and lowest.min() > -8
    assert 80 < P[0, n.index("hip"), 1] < 90 and 150 < P[0, n.index("leftEye"), 1] < 165
    lr = P[:, n.index("lThigh")] - P[:, n.index("rThigh")]
    fwd = np.cross(lr, [0.0, 1.0, 0.0])
    face = (P[:, n.index("leftEye")] + P[:, n.index("rightEye")]) / 2 - P[:, n.index("neck")]
    assert ((face * fwd).sum(-1) > 0).all()
    toe = P[:, n.index("rFoot_end")] - P[:, n.index("rFoot")]
    assert ((toe * fwd).sum(-1) > 0).mean() > 0.95


# ---- 3. BODY_25 ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_to_body25(name):
    m, P = load(name)
    n = m.names
    b = to_body25(P, n)
    assert b.shape == (m.n_frames, 25, 3) and b.dtype == np.float32
    mapped = [B[k] for k in BODY25_FROM_CMU]
    unmapped = [i for i in range(25) if i not in mapped]
    assert sorted(BODY_25[i] for i in unmapped) == ["LEar", "LHeel", "LSmallToe", "REar", "RHeel", "RSmallToe"]
    assert (b[:, mapped, 2] == 1).all() and (b[:, unmapped] == 0).all()
    # Orthographic front view: x = X, y = -Y, file units.
    np.testing.assert_allclose(b[:, B["RWrist"], :2], P[:, n.index("rHand")][:, [0, 1]] * [1, -1], rtol=1e-6,
                               atol=1e-4)
    mid = (P[:, n.index("rThigh")] + P[:, n.index("lThigh")]) / 2
    np.testing.assert_allclose(b[:, B["MidHip"], :2], mid[:, [0, 1]] * [1, -1], rtol=1e-6, atol=1e-4)
    # Head above the hips (y down) in every frame, even in the dips; the toes below the knees.
    assert (b[:, B["Nose"], 1] < b[:, B["MidHip"], 1]).all()
    assert (b[:, B["Neck"], 1] < b[:, B["MidHip"], 1]).all()
    assert (b[:, B["RBigToe"], 1] > b[:, B["RKnee"], 1]).all()
    # The projected bones are never longer than the skeleton's (orthographic), and as long in the rest pose.
    for kp, parent in (("RElbow", "RShoulder"), ("LKnee", "LHip"), ("RAnkle", "RKnee")):
        bone = np.linalg.norm(m.offsets[n.index(BODY25_FROM_CMU[kp])])
        d = np.linalg.norm(b[:, B[kp], :2] - b[:, B[parent], :2], axis=-1)
        assert (d <= bone + 1e-3).all() and d.max() > 0.9 * bone


@pytest.mark.parametrize("name", FILES)
def test_body25_left_and_right_as_a_front_view_shows_them(name):
    """The dancer turns (the pelvis yaw covers -180..180 degrees); when they face the camera (yaw within 30 degrees
    of +Z) their right side is on the image's left, when they face away it is on the right."""
    m, P = load(name)
    b = to_body25(P, m.names)
    yaw = facing_deg(P, m.names)
    front, back = np.abs(yaw) < 30, np.abs(yaw) > 150
    assert front.sum() >= 40 and back.sum() >= 40
    assert abs(yaw[0]) < 10                                          # the first frame (~rest pose) faces the camera
    assert b[0, B["RWrist"], 0] < b[0, B["Neck"], 0] < b[0, B["LWrist"], 0]
    for r, l in (("RShoulder", "LShoulder"), ("REye", "LEye"), ("RHip", "LHip")):
        assert (b[front, B[r], 0] < b[front, B[l], 0]).all()
        assert (b[back, B[r], 0] > b[back, B[l], 0]).all()
    assert (b[front, B["RWrist"], 0] < b[front, B["LWrist"], 0]).mean() > 0.75   # arms cross in some turns


def test_to_body25_unknown_skeleton():
    with pytest.raises(UserError, match="rShldr"):
        to_body25(np.zeros((2, 3, 3)), ["hip", "lShldr", "neck"])


# ---- 4. resampling -------------------------------------------------------------------------------------------------

def test_resample_ramp_is_exact():
    F = 2243
    t = np.arange(F) / 120.0
    ramp = np.stack([3 * t + 1, -2 * t], axis=-1)[:, None, :] * np.ones((1, 25, 1))      # [F, 25, 2]
    out = resample(ramp, 120, 30)
    assert out.shape == (561, 25, 2)                     # floor((F - 1) * 30 / 120) + 1 = floor(560.5) + 1
    t30 = np.arange(561) / 30.0
    np.testing.assert_allclose(out[:, 0, 0], 3 * t30 + 1, atol=1e-12)
    np.testing.assert_allclose(out[:, 7, 1], -2 * t30, atol=1e-12)
    np.testing.assert_array_equal(out[0], ramp[0])
    np.testing.assert_array_equal(out, ramp[::4])       # 120 -> 30: every 4th frame
    assert resample(ramp[:2241], 120, 30).shape[0] == 561 and resample(ramp[:2240], 120, 30).shape[0] == 560
    # Non-integer ratio and upsampling interpolate too.
    out25 = resample(ramp, 120, 25)
    assert out25.shape[0] == int((F - 1) * 25 / 120) + 1 == 468
    np.testing.assert_allclose(out25[:, 3, 0], 3 * np.arange(468) / 25 + 1, atol=1e-12)
    up = resample(ramp[:10, 0, 0], 30, 120)
    assert up.shape == (37,)
    np.testing.assert_allclose(up, 3 * np.arange(37) / 480 + 1, atol=1e-12)


def test_resample_real_motion():
    m, P = load("cmu_salsa_02.bvh")
    b = to_body25(P, m.names)
    out = resample(b, m.fps, 30)
    assert out.shape == ((m.n_frames - 1) // 4 + 1, 25, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, b[::4])
    assert (out[:, [B[k] for k in BODY25_FROM_CMU], 2] == 1).all()


# ---- 5. bad input --------------------------------------------------------------------------------------------------

def test_not_a_bvh_file(tmp_path):
    bad = tmp_path / "notes.bvh"
    bad.write_text("Frame,x,y\n0,1,2\n")
    with pytest.raises(UserError) as err:
        read_bvh(bad)
    assert str(bad) in str(err.value) and "HIERARCHY" in str(err.value)
    with pytest.raises(UserError, match="notes2.bvh"):
        read_bvh(tmp_path / "notes2.bvh")                                  # missing file


def test_truncated_files(tmp_path):
    lines = real_data("mocap", "cmu_salsa_01.bvh").read_text().splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Frame Time")) + 1
    assert len(lines) - start == 2243
    half = tmp_path / "half.bvh"
    half.write_text("".join(lines[:start + 2243 // 2]))
    with pytest.raises(UserError) as err:
        read_bvh(half)
    assert str(half) in str(err.value) and "Frames: 2243" in str(err.value) and "1121 frame rows" in str(err.value)

    cut = tmp_path / "cut.bvh"                           # cut in the middle of the last row
    text = "".join(lines)
    cut.write_text(text[:len(text) - len(lines[-1]) // 2])
    with pytest.raises(UserError) as err:
        read_bvh(cut)
    msg = str(err.value)
    assert str(cut) in msg and "frame 2242" in msg and f"line {len(lines)}" in msg and "132 channels" in msg

    head = tmp_path / "head.bvh"                         # cut inside the hierarchy
    head.write_text("".join(lines[:100]))
    with pytest.raises(UserError, match="head.bvh.*MOTION"):
        read_bvh(head)
