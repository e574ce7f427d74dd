"""Procedural performers, the demo's input: body.py (performers' proportions and clothes, routines -> joint positions
over time), room.py (the furnished room), draw.py (the shaded figure), audio.py (the beat track); `render_frames`
puts them together."""

from .body import PERFORMERS, skeleton
from .draw import figure
from .room import backdrop


def render_frames(performer, seed, n_frames, fps, width, height):
    """Yield the RGB frames of a performer's routine; joints as from `skeleton(...)`."""
    perf = PERFORMERS[performer]
    joints = skeleton(performer, seed, n_frames, fps, width, height)
    room = backdrop(perf.look, width, height)
    for i in range(n_frames):
        yield figure(room.copy(), joints, i, perf)
