"""synth: render a procedural performer dancing a procedural routine to an mp4 (H.264 + AAC), the demo's input."""

import logging
import tempfile
from pathlib import Path

from ..conf import section
from ..io.atomic import atomic_path
from ..io.video import VideoWriter
from ..progress import Bar
from ..synth import render_frames
from ..synth.audio import music, write_wav
from ..synth.body import BPM

log = logging.getLogger(__name__)


def run(cfg):
    c = section(cfg, "synth")
    name, w, h, fps = c["performer"], c["width"], c["height"], c["fps"]
    n = max(1, int(round(c["seconds"] * fps)))
    seed = cfg.seed % 2**32  # numpy seeds are non-negative
    log.info("%s: %d frames of %dx%d at %g fps, seed %d, %g BPM%s", name, n, w, h, fps, seed, BPM,
             ", with music" if c["audio"] else "")
    with tempfile.TemporaryDirectory(prefix="dancenow-synth-") as tmpdir, atomic_path(c["output"]) as tmp:
        wav = None
        if c["audio"]:
            wav = Path(tmpdir) / "music.wav"
            write_wav(wav, music(n / fps + 0.2, seed))  # a little longer: the video stream sets the length
        with VideoWriter(tmp, w, h, fps, audio=wav) as writer:
            for frame in Bar(render_frames(name, seed, n, fps, w, h), total=n, desc="synth", unit="frame",
                             leave=False):
                writer.write(frame)
    log.info("wrote %s", c["output"])
