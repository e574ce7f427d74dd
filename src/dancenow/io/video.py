"""Reading videos with OpenCV; writing browser-playable H.264 (+AAC audio) with the ffmpeg that imageio-ffmpeg ships."""

import subprocess
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError


def ffmpeg_exe():
    import imageio_ffmpeg  # here: stages that write no video run without it (a GPU node's training)

    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoReader:
    """Iterate over a video's frames as RGB uint8 arrays. Fails with a UserError on anything that is not a video."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"video not found: {self.path}")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise UserError(f"{self.path} is not a video OpenCV can read (check the file, or re-encode it to mp4)")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.width <= 0 or self.height <= 0:
            raise UserError(f"{self.path} has no video stream")
        if not self.fps > 0:
            raise UserError(f"{self.path} reports no frame rate; re-encode it with a constant frame rate")

    def __iter__(self):
        while True:
            ok, frame = self.cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        self.cap.release()


def has_audio(path):
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return any("Audio:" in line and "Stream" in line for line in out.stderr.splitlines())


def extract_audio(video, out_path):
    """Write the video's audio track as AAC in an .m4a file. Returns False (and writes nothing) when it has none."""
    if not has_audio(video):
        return False
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", str(video), "-vn", "-map", "0:a:0",
           "-c:a", "aac", "-b:a", "192k", "-map_metadata", "-1", "-fflags", "+bitexact", "-f", "mp4", str(out_path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise UserError(f"could not extract the audio of {video}: {res.stderr.strip()}")
    return True


class VideoWriter:
    """Write RGB uint8 frames to an H.264 mp4 (yuv420p, faststart), muxing an audio file when given.

    Frame sizes must be even (yuv420p); use `even_size` when composing frames.
    """

    def __init__(self, path, width, height, fps, audio=None, crf=18):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even frame sizes, got {width}x{height}")
        audio = str(audio) if audio and Path(audio).is_file() and Path(audio).stat().st_size > 0 else None
        out_params = ["-f", "mp4", "-crf", str(crf), "-preset", "medium", "-threads", "1", "-movflags", "+faststart",
                      "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
        if audio:
            out_params += ["-flags:a", "+bitexact", "-shortest"]
        import imageio_ffmpeg

        self._gen = imageio_ffmpeg.write_frames(
            str(path), (width, height), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=1, ffmpeg_log_level="error", output_params=out_params,
            audio_path=audio, audio_codec="aac" if audio else None)
        self._gen.send(None)
        self.size = (height, width)

    def write(self, frame):
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        assert frame.shape == (*self.size, 3), (frame.shape, self.size)
        self._gen.send(frame)

    def close(self):
        self._gen.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def even_size(x):
    return x + (x % 2)
