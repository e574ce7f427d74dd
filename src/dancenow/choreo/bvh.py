"""Motion capture in BVH: parse it, pose every joint by forward kinematics, and turn it into BODY_25 sequences.

The choreography network learns from 2D BODY_25 pose sequences; BVH motion capture (e.g. the CMU salsa clips) is
one source of them:

    m = read_bvh("cmu_salsa_01.bvh")          # skeleton + channel values per frame
    xyz = forward_kinematics(m)                # [F, J, 3] world positions, the file's units (Y up)
    poses = to_body25(xyz, m.names)            # [F, 25, 3] (x, y, confidence), front view, y down
    poses = resample(poses, m.fps, 30)         # 120 fps -> 30 fps

Conventions of `forward_kinematics` (the usual BVH ones, as in the CMU/Biovision exports):

* Column vectors; a joint's local rotation is the product of its per-axis rotations in the order its CHANNELS list
  them: "Zrotation Xrotation Yrotation" -> R = Rz(z) @ Rx(x) @ Ry(y), angles in degrees, each a right-handed
  rotation about the parent-frame axis (Rz(a) = [[c, -s, 0], [s, c, 0], [0, 0, 1]], etc.).
* world_R[j] = world_R[parent] @ R_local[j];  world_pos[j] = world_pos[parent] + world_R[parent] @ t[j], where
  t[j] is the joint's OFFSET plus its position channels (only the root has them in CMU files: X/Y/Zposition).
  So the root is at OFFSET + (Xposition, Yposition, Zposition) and rotated by its own rotation channels.
* End Sites are kept as extra joints named "<parent>_end" (no channels: only their offset); they carry the tips
  of the chain (toes, finger tips, the eyes' end points).

The CMU salsa skeleton (57 joints = 43 with channels + 14 End Sites; 132 channels = 6 + 3 * 42) is in
centimetre-like units (hip about 85 above the floor, the eyes about 155), Y up, and in its rest pose (all angles
zero) the performer faces +Z (eyes and toes have +Z offsets) with their left side (lShldr, lThigh, ...) at +X.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..keypoints import B, BODY_25

# BODY_25 keypoint -> CMU BVH joint name, or a tuple of joint names whose mean it is. Keypoints absent here have no
# counterpart in the skeleton and get confidence 0. Choices:
# * Nose: the skeleton has no nose; the midpoint of the two eye joints (the bridge of the nose) is the closest
#   point it has (the head joint itself sits at the base of the skull, ~8 below the eyes).
# * Neck: "neck" is the base of the neck, just above the collars: where OpenPose puts its Neck (between shoulders).
# * MidHip: the midpoint of the two hip joints (rThigh/lThigh), as OpenPose defines it, rather than the BVH root
#   "hip", which sits ~2.6 above and ~1 in front of that midpoint (its offsets to rButtock + rThigh).
# * Hips/knees/ankles: rThigh/rShin/rFoot (a BVH joint sits at the proximal end of the bone named after it: rShin
#   is the knee, rFoot the ankle); shoulders/elbows/wrists: rShldr/rForeArm/rHand.
# * Big toes: the foot's End Site (rFoot_end), the tip of the foot. Small toes and heels: none (a single foot bone
#   has no lateral toe or heel point; putting them on the ankle or toe tip would fake keypoints).
# * Eyes: the eye joints. Ears: none.
BODY25_FROM_CMU = {
    "Nose": ("leftEye", "rightEye"),
    "Neck": "neck",
    "RShoulder": "rShldr", "RElbow": "rForeArm", "RWrist": "rHand",
    "LShoulder": "lShldr", "LElbow": "lForeArm", "LWrist": "lHand",
    "MidHip": ("rThigh", "lThigh"),
    "RHip": "rThigh", "RKnee": "rShin", "RAnkle": "rFoot",
    "LHip": "lThigh", "LKnee": "lShin", "LAnkle": "lFoot",
    "REye": "rightEye", "LEye": "leftEye",
    "RBigToe": "rFoot_end", "LBigToe": "lFoot_end",
}

_AXES = {"X": 0, "Y": 1, "Z": 2}
_CHANNEL_RE = re.compile(r"^([XYZ])(position|rotation)$", re.IGNORECASE)


@dataclass
class Motion:
    """A parsed BVH file: the skeleton (joints in file order, End Sites included) and one row of channels a frame.

    names[j], parents[j] (-1 for the root), offsets[j] (x, y, z in the file's units), channels[j] (its channel
    names in file order, () for End Sites), channel_start[j] (its first column in `motion`), frame_time (seconds),
    motion float64 [F, C] (every channel of every joint in file order).
    """

    path: str
    names: list
    parents: np.ndarray
    offsets: np.ndarray
    channels: list
    channel_start: np.ndarray
    frame_time: float
    motion: np.ndarray = field(repr=False)

    @property
    def n_frames(self):
        return self.motion.shape[0]

    @property
    def fps(self):
        """1 / frame_time rounded to 3 decimals: headers store e.g. 0.00833333 for 120 fps."""
        return round(1.0 / self.frame_time, 3)

    def joint(self, name):
        """Index of the joint called `name`."""
        return self.names.index(name)


def _fail(path, what):
    raise UserError(f"{path}: not a valid BVH file: {what}")


def read_bvh(path):
    """Parse the BVH file at `path` into a `Motion`; UserError (naming the file and the problem) if it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the BVH file: {exc}") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    # Locate MOTION: everything before it is the hierarchy (free-form whitespace), after it the frame rows.
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    tokens = " ".join(lines[:motion_line] if motion_line is not None else lines).split()
    if not tokens or tokens[0].upper() != "HIERARCHY":
        _fail(path, "it does not start with HIERARCHY")
    if motion_line is None:
        _fail(path, "no MOTION section (the file is truncated or not a BVH file)")

    names, parents, offsets, channels = [], [], [], []
    stack = []          # indices of the open joints
    pending = None      # the joint just declared, waiting for its "{"
    i = 1

    def need(n, what):
        if i + n > len(tokens):
            _fail(path, f"the hierarchy ends inside {what}")

    while i < len(tokens):
        tok = tokens[i]
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            need(2, f"a {tok} declaration")
            if up == "ROOT" and (stack or names):
                _fail(path, "more than one ROOT (only single-skeleton files are supported)")
            if up == "JOINT" and not stack:
                _fail(path, f"JOINT {tokens[i + 1]} outside the ROOT's braces")
            pending = (tokens[i + 1], stack[-1] if stack else -1)
            i += 2
        elif up == "END":
            need(2, "an End Site")
            if not stack:
                _fail(path, "End Site outside any joint")
            parent = stack[-1]
            base = f"{names[parent]}_end"
            name, k = base, 2
            while name in names:
                name, k = f"{base}{k}", k + 1
            pending = (name, parent)
            i += 2
        elif tok == "{":
            if pending is None:
                _fail(path, "'{' without a ROOT, JOINT or End Site before it")
            names.append(pending[0])
            parents.append(pending[1])
            offsets.append(None)
            channels.append(())
            stack.append(len(names) - 1)
            pending = None
            i += 1
        elif tok == "}":
            if not stack:
                _fail(path, "unbalanced '}' in the hierarchy")
            if offsets[stack[-1]] is None:
                _fail(path, f"joint {names[stack[-1]]} has no OFFSET")
            stack.pop()
            i += 1
        elif up == "OFFSET":
            need(4, "an OFFSET")
            if not stack:
                _fail(path, "OFFSET outside any joint")
            try:
                offsets[stack[-1]] = [float(t) for t in tokens[i + 1:i + 4]]
            except ValueError:
                _fail(path, f"bad OFFSET of joint {names[stack[-1]]}: {' '.join(tokens[i + 1:i + 4])}")
            i += 4
        elif up == "CHANNELS":
            need(2, "a CHANNELS line")
            if not stack:
                _fail(path, "CHANNELS outside any joint")
            try:
                n = int(tokens[i + 1])
            except ValueError:
                _fail(path, f"bad channel count {tokens[i + 1]!r} of joint {names[stack[-1]]}")
            need(2 + n, "a CHANNELS line")
            chans = tuple(tokens[i + 2:i + 2 + n])
            for c in chans:
                if not _CHANNEL_RE.match(c):
                    _fail(path, f"unknown channel {c!r} of joint {names[stack[-1]]}")
            channels[stack[-1]] = chans
            i += 2 + n
        else:
            _fail(path, f"unexpected {tok!r} in the hierarchy")
    if stack or pending is not None:
        _fail(path, "the hierarchy ends with unclosed braces (truncated?)")
    if not names:
        _fail(path, "no ROOT joint in the hierarchy")

    # MOTION header: "Frames: N" and "Frame Time: t" (any whitespace), then N rows of C numbers.
    j = motion_line + 1
    header = {}
    for key in ("frames", "frame time"):
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines):
            _fail(path, f"the MOTION section ends before its '{key.title()}:' line (truncated?)")
        label, _, value = lines[j].partition(":")
        if " ".join(label.split()).lower() != key:
            _fail(path, f"expected '{key.title()}:' after MOTION, found {lines[j].strip()[:60]!r}")
        header[key] = value.strip()
        j += 1
    try:
        n_frames = int(header["frames"])
        frame_time = float(header["frame time"])
    except ValueError:
        _fail(path, f"bad MOTION header: Frames {header['frames']!r}, Frame Time {header['frame time']!r}")
    if n_frames < 0 or not frame_time > 0:
        _fail(path, f"bad MOTION header: Frames {n_frames}, Frame Time {frame_time}")

    n_channels = sum(len(c) for c in channels)
    rows = [(n + 1, ln) for n, ln in enumerate(lines[j:], start=j) if ln.strip()]
    if len(rows) != n_frames:
        _fail(path, f"the header says Frames: {n_frames} but {len(rows)} frame rows follow "
                    f"({'truncated?' if len(rows) < n_frames else 'extra rows'})")
    data = np.empty((n_frames, n_channels), np.float64)
    for f, (lineno, row) in enumerate(rows):
        values = row.split()
        if len(values) != n_channels:
            _fail(path, f"frame {f} (line {lineno}) has {len(values)} values, "
                        f"the hierarchy declares {n_channels} channels")
        try:
            data[f] = [float(v) for v in values]
        except ValueError:
            _fail(path, f"frame {f} (line {lineno}) has a value that is not a number: {row.strip()[:80]!r}")
    if not np.isfinite(data).all():
        _fail(path, "the motion has non-finite values")

    start = np.cumsum([0] + [len(c) for c in channels[:-1]])
    return Motion(path=str(path), names=names, parents=np.array(parents, np.int64),
                  offsets=np.array(offsets, np.float64), channels=channels, channel_start=start.astype(np.int64),
                  frame_time=frame_time, motion=data)


def axis_rotation(axis, degrees):
    """Right-handed rotation matrices [..., 3, 3] about `axis` ("X", "Y" or "Z") by `degrees` [...]."""
    a = np.deg2rad(np.asarray(degrees, np.float64))
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    k = _AXES[axis.upper()]
    i, j = [(1, 2), (2, 0), (0, 1)][k]   # the plane it rotates: X: (y, z), Y: (z, x), Z: (x, y)
    R[..., k, k] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def forward_kinematics(motion):
    """World positions float64 [F, J, 3] of every joint (End Sites included) in every frame, the file's units.

    See the module docstring for the convention (R_local = product of the per-axis rotations in channel order).
    """
    F = motion.n_frames
    J = len(motion.names)
    pos = np.empty((F, J, 3))
    rot = np.empty((F, J, 3, 3))
    for j in range(J):
        t = np.broadcast_to(motion.offsets[j], (F, 3)).copy()
        R = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
        for k, name in enumerate(motion.channels[j]):
            col = motion.motion[:, motion.channel_start[j] + k]
            axis, kind = _CHANNEL_RE.match(name).groups()
            if kind.lower() == "position":
                t[:, _AXES[axis.upper()]] += col
            else:
                R = R @ axis_rotation(axis, col)
        p = motion.parents[j]
        if p < 0:
            pos[:, j] = t
            rot[:, j] = R
        else:
            pos[:, j] = pos[:, p] + np.einsum("fab,fb->fa", rot[:, p], t)
            rot[:, j] = rot[:, p] @ R
    return pos


def to_body25(positions, joint_names, mapping=None):
    """BODY_25 keypoints float32 [F, 25, 3] (x, y, confidence) of world positions [F, J, 3] (Y up).

    An orthographic camera in front of the skeleton's rest pose, looking along -Z (the performer faces +Z): image
    x = +X, which puts the performer's left side (+X in the CMU skeleton) on the image's right and their right side
    on its left, as a front view shows them; image y = -Y (down). Coordinates stay in the file's units ("body
    units", not pixels): the caller normalises for body size and position. Confidence is 1 for keypoints in
    `mapping` (default `BODY25_FROM_CMU`), 0 (and x = y = 0) for the others. The camera is fixed: when the dancer
    turns, the projection shows them from the side or the back, as a video camera would.
    """
    positions = np.asarray(positions, np.float64)
    mapping = BODY25_FROM_CMU if mapping is None else mapping
    index = {n: i for i, n in enumerate(joint_names)}
    missing = sorted({n for v in mapping.values() for n in ((v,) if isinstance(v, str) else v) if n not in index})
    if missing:
        raise UserError(f"the skeleton has no joint {', '.join(missing)} needed for BODY_25 keypoints "
                        f"(the mapping is for the CMU skeleton; its joints: {', '.join(joint_names)})")
    out = np.zeros(positions.shape[:-2] + (len(BODY_25), 3), np.float32)
    for kp, src in mapping.items():
        src = (src,) if isinstance(src, str) else tuple(src)
        p = positions[..., [index[n] for n in src], :].mean(axis=-2)
        out[..., B[kp], 0] = p[..., 0]
        out[..., B[kp], 1] = -p[..., 1]
        out[..., B[kp], 2] = 1.0
    return out


def resample(x, fps_in, fps_out):
    """Linear interpolation of `x` [F, ...] over time from `fps_in` to `fps_out`.

    Output frame k is at time k / fps_out (frame 0 kept as is), for every such time within the input's span
    [0, (F - 1) / fps_in]: floor((F - 1) * fps_out / fps_in) + 1 frames (120 -> 30 fps of 2243 frames: 561).
    Integer arrays come back as float64.
    """
    x = np.asarray(x)
    if fps_in <= 0 or fps_out <= 0:
        raise ValueError(f"frame rates must be positive, got {fps_in} -> {fps_out}")
    F = x.shape[0]
    if F == 0:
        return x.copy()
    ratio = fps_in / fps_out
    n = int(np.floor((F - 1) / ratio + 1e-9)) + 1
    t = np.arange(n) * ratio                       # positions in input frames
    i0 = np.minimum(np.floor(t + 1e-9).astype(np.int64), F - 1)
    i1 = np.minimum(i0 + 1, F - 1)
    w = np.clip(t - i0, 0.0, 1.0).reshape((n,) + (1,) * (x.ndim - 1))
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return ((1 - w) * x[i0] + w * x[i1]).astype(dtype, copy=False)
