"""synth: render a procedural performer dancing a procedural routine to an mp4 (H.264 + AAC), the demo's input.

body.py: performers (proportions, clothes) and routines -> joint positions over time (numpy);
draw.py: the backdrop and the shaded figure (OpenCV); audio.py: the beat track.
"""

import logging
import tempfile
from pathlib import Path

from ..config import section
from ..errors import UserError
from ..io.atomic import atomic_path
from ..io.video import VideoWriter
from .audio import music, write_wav
from .body import BPM, MEDIAPIPE, PERFORMERS, skeleton
from .draw import backdrop, figure

log = logging.getLogger(__name__)

__all__ = ["run", "render_frames", "skeleton", "PERFORMERS", "MEDIAPIPE", "BPM"]


def _settings(c):
    name = c["performer"]
    if name not in PERFORMERS:
        raise UserError(f"unknown synth.performer {name!r}; choose one of: {', '.join(PERFORMERS)}")
    w, h, fps, seconds = int(c["width"]), int(c["height"]), float(c["fps"]), float(c["seconds"])
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise UserError(f"synth.width and synth.height must be even and at least 64, got {w}x{h}")
    if not fps > 0 or not seconds > 0:
        raise UserError(f"synth.fps and synth.seconds must be positive, got {fps} and {seconds}")
    return name, w, h, fps, max(1, int(round(seconds * fps)))


def render_frames(performer, seed, n_frames, fps, width, height):
    """Yield the RGB frames of a performer's routine; joints as from `skeleton(...)`."""
    perf = PERFORMERS[performer]
    joints = skeleton(performer, seed, n_frames, fps, width, height)
    room = backdrop(perf.look, width, height)
    for i in range(n_frames):
        yield figure(room.copy(), joints, i, perf)


def run(cfg):
    c = section(cfg, "synth")
    name, w, h, fps, n = _settings(c)
    seed = int(cfg.seed) % 2**32  # numpy seeds are non-negative
    log.info("%s: %d frames of %dx%d at %g fps, seed %d, %g BPM%s", name, n, w, h, fps, seed, BPM,
             ", with music" if c["audio"] else "")
    with tempfile.TemporaryDirectory(prefix="dancenow-synth-") as tmpdir, atomic_path(c["output"]) as tmp:
        wav = None
        if c["audio"]:
            wav = Path(tmpdir) / "music.wav"
            write_wav(wav, music(n / fps + 0.2, seed))  # a little longer: the video stream sets the length
        with VideoWriter(tmp, w, h, fps, audio=wav) as writer:
            for frame in render_frames(name, seed, n, fps, w, h):
                writer.write(frame)
    log.info("wrote %s", c["output"])
