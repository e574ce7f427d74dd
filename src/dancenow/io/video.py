"""Reading videos with PyAV (by timestamps, upright); writing browser-playable H.264 (+AAC audio) with the ffmpeg that imageio-ffmpeg ships."""

import os
import subprocess
from pathlib import Path

import numpy as np

from ..errors import UserError


def ffmpeg_exe():
    import imageio_ffmpeg  # here: stages that write no video run without it (a GPU node's training)

    return imageio_ffmpeg.get_ffmpeg_exe()


def plain(path):
    """A path as ffmpeg and OpenCV must get it: absolute, so that `http:x.mp4` or `-x.mp4` is a file, not a protocol
    or an option."""
    return os.path.abspath(path)


# Containers of still images (ffmpeg's demuxers), whatever the file is named.
_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "jpegxl_pipe",
                  "pgm_pipe", "ppm_pipe", "qoi_pipe", "svg_pipe", "psd_pipe", "dpx_pipe", "exr_pipe")
MAX_FPS = 240.0  # a nominal frame rate above this (a container's time base, not a camera's rate) is not used
VARIABLE = 1.5   # a video whose frame intervals differ by more than this factor has a variable frame rate


class VideoReader:
    """A video's frames as upright RGB uint8 arrays at a constant frame rate, placed by their timestamps: a variable
    frame rate video (phones write them) repeats or drops frames where its intervals differ, so that frame k of the
    output is what was on screen at k / fps and the dance stays with the music. The facts come from the stream's
    metadata (PyAV): `fps`, `width` and `height` (upright), `rotation` (degrees counter-clockwise, applied),
    `audio`; after iterating, `variable` (whether the frame intervals varied) and `duration` (seconds).
    A UserError on anything that is not a video."""

    def __init__(self, path):
        import av  # here: stages that read no video run without it

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"video not found: {self.path}")
        try:
            self._container = av.open(plain(self.path))
        except (av.FFmpegError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or e
            raise UserError(f"{self.path} is not a video ffmpeg can read ({why}); check the file, or re-encode it to "
                            "mp4") from None
        fmt = self._container.format.name
        if not self._container.streams.video:
            raise UserError(f"{self.path} has no video stream (ffmpeg reads it as {fmt})")
        self._stream = self._container.streams.video[0]
        codec = self._stream.codec_context.name
        if fmt in _IMAGE_FORMATS:
            raise UserError(f"{self.path} is a still image ({codec}), not a video: extract needs a video of at "
                            f"least {MIN_FRAMES} frames")
        self._stream.thread_type = "AUTO"
        nominal, average = self._stream.guessed_rate, self._stream.average_rate
        rate = nominal if nominal and 0 < nominal <= MAX_FPS else average
        if not rate or not 0 < rate <= MAX_FPS:
            raise UserError(f"{self.path} reports no frame rate; re-encode it with a constant frame rate")
        self.fps = float(rate)
        first = self._first_frame()
        if first is None or not first.width or not first.height:
            raise UserError(f"{self.path} has no frame that ffmpeg can decode")
        self.rotation = int(round(first.rotation / 90.0)) * 90 % 360
        w, h = first.width, first.height
        self.width, self.height = (h, w) if self.rotation in (90, 270) else (w, h)
        self.audio = bool(self._container.streams.audio)
        # from the container's index, else its duration; an estimate for a variable frame rate
        seconds = self._container.duration / 1e6 if self._container.duration else None
        self.frame_count = self._stream.frames or (round(seconds * self.fps) if seconds else None)
        self.variable, self.duration = False, None

    def _first_frame(self):
        try:
            for frame in self._container.decode(self._stream):
                self._pending = frame
                return frame
        except Exception:  # av.FFmpegError and the codecs' own errors: a broken stream
            return None
        return None

    def _upright(self, frame):
        rgb = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(np.rot90(rgb, self.rotation // 90)) if self.rotation else rgb

    def _decoded(self):
        """(time in seconds since the first frame, frame) as decoded; a damaged packet ends the video."""
        frame, t0 = self._pending, self._pending.time
        yield 0.0, frame
        try:
            for frame in self._container.decode(self._stream):
                if frame.time is not None:
                    yield frame.time - t0, frame
        except Exception:  # av.FFmpegError: the frames read so far are the video
            return

    def __iter__(self):
        """Frame k is the decoded frame shown at k / fps (the last one whose timestamp is at most half a frame
        later); the video lasts until its last frame's end."""
        step, slot = 1.0 / self.fps, 0
        held = held_t = None
        shortest, longest = float("inf"), 0.0
        try:
            for t, frame in self._decoded():
                if held is not None:
                    if t > held_t:
                        shortest, longest = min(shortest, t - held_t), max(longest, t - held_t)
                        self.variable = longest > VARIABLE * shortest
                    while (slot + 0.5) * step < t:
                        yield self._upright(held)
                        slot += 1
                held, held_t = frame, t
            last = float(held.duration * held.time_base) if held.duration and held.time_base else step
            self.duration = held_t + (last if last > 0 else step)
            while (slot + 0.5) * step < self.duration:
                yield self._upright(held)
                slot += 1
        finally:
            self._container.close()


MIN_FRAMES = 8  # extract refuses a shorter video: training pairs each frame with the one before and holds some out


def has_audio(path):
    import av

    with av.open(plain(path)) as container:
        return bool(container.streams.audio)


def extract_audio(video, out_path):
    """Write the video's audio track as AAC in an .m4a file. Returns False (and writes nothing) when it has none."""
    if not has_audio(video):
        return False
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", plain(video), "-vn", "-map", "0:a:0",
           "-c:a", "aac", "-b:a", "192k", "-map_metadata", "-1", "-fflags", "+bitexact", "-f", "mp4", plain(out_path)]
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
        audio = plain(audio) if audio and Path(audio).is_file() and Path(audio).stat().st_size > 0 else None
        out_params = ["-f", "mp4", "-crf", str(crf), "-preset", "medium", "-threads", "1", "-movflags", "+faststart",
                      "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
        if audio:
            out_params += ["-flags:a", "+bitexact", "-shortest"]
        import imageio_ffmpeg

        self._gen = imageio_ffmpeg.write_frames(
            plain(path), (width, height), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
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
