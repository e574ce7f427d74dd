import subprocess
import sys

import cv2
import h5py
import numpy as np
import pytest

from conftest import real_data, run_stage
from dancenow.framing import fit_frame, fit_geometry
from dancenow.io.video import VideoWriter, ffmpeg_exe


def test_pad_keeps_the_whole_frame_and_geometry_inverts():
    geo = fit_geometry(720, 1280, 256, 256, "pad")
    assert (geo.scale, geo.offset_x, geo.offset_y) == (0.2, 56, 0)
    corners = np.array([[0, 0], [720, 1280]], float) * geo.scale + [geo.offset_x, geo.offset_y]
    np.testing.assert_allclose(geo.to_original(corners), [[0, 0], [720, 1280]])
    frame = np.full((1280, 720, 3), 255, np.uint8)
    out = fit_frame(frame, geo, 256, 256)
    assert out[:, :56].max() == 0 and out[:, 56 + 144:].max() == 0 and out[:, 56:200].min() == 255


def test_crop_fills_the_frame():
    geo = fit_geometry(720, 1280, 256, 256, "crop")
    assert geo.scale == 256 / 720 and geo.offset_y == -100
    out = fit_frame(np.full((1280, 720, 3), 255, np.uint8), geo, 256, 256)
    assert out.min() == 255


def test_real_clip_frames_fps_and_provenance(tmp_path):
    video = real_data("video", "dancer_man.mp4")
    run_stage("extract", f"extract.input={video}", f"extract.output={tmp_path}/f.h5", f"extract.audio={tmp_path}/a.m4a",
              "preset=tiny", "extract.fit=pad")
    with h5py.File(tmp_path / "f.h5") as f:
        frames = f["frames"]
        assert frames.shape == (102, 128, 128, 3) and frames.dtype == np.uint8
        assert frames.chunks == (1, 128, 128, 3) and "32001" in frames._filters  # Blosc
        assert f.attrs["fps"] == 20.0 and f.attrs["stage"] == "extract"
        assert len(f.attrs["video_sha256"]) == 64 and "tiny" not in f.attrs["config"]
        # the frame matches the video's first frame, resized
        cap = cv2.VideoCapture(str(video))
        first = cv2.resize(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB), (128, 128), interpolation=cv2.INTER_AREA)
        assert np.abs(first.astype(int) - frames[0]).mean() < 1.0
    assert (tmp_path / "a.m4a").stat().st_size == 0  # the clip has no sound


def test_rerun_gives_identical_bytes(tmp_path):
    video = real_data("video", "target_woman.mp4")
    for i in (1, 2):
        run_stage("extract", f"extract.input={video}", f"extract.output={tmp_path}/f{i}.h5",
                  f"extract.audio={tmp_path}/a{i}.m4a", "preset=tiny", "extract.max_frames=10")
    assert (tmp_path / "f1.h5").read_bytes() == (tmp_path / "f2.h5").read_bytes()


def test_gzip_frames_are_read_without_any_plugin_and_hold_the_same_pixels(tmp_path):
    video = real_data("video", "target_woman.mp4")
    for compression in ("blosc-lz4", "gzip"):
        run_stage("extract", f"extract.input={video}", f"extract.output={tmp_path}/{compression}.h5",
                  f"extract.audio={tmp_path}/a.m4a", "preset=tiny", "extract.max_frames=10",
                  f"extract.compression={compression}")
    read = ("import sys, h5py; f = h5py.File(sys.argv[1]); x = f['frames'][()]; "
            "print(f['frames'].compression, x.shape, int(x.sum()))")
    env = {"PATH": "/usr/bin:/bin"}  # no HDF5_PLUGIN_PATH, no hdf5plugin import: what h5ls or HDFView would see
    plain = subprocess.run([sys.executable, "-c", read, tmp_path / "gzip.h5"], capture_output=True, text=True, env=env)
    blosc = subprocess.run([sys.executable, "-c", read, tmp_path / "blosc-lz4.h5"], capture_output=True, text=True,
                           env=env)
    assert plain.returncode == 0 and plain.stdout.startswith("gzip (10, 128, 128, 3)"), plain.stderr
    assert blosc.returncode != 0 and "read data" in blosc.stderr  # the fast default needs the plugin
    with h5py.File(tmp_path / "gzip.h5") as g, h5py.File(tmp_path / "blosc-lz4.h5") as b:
        assert np.array_equal(g["frames"][()], b["frames"][()])
        assert g["frames"].id.get_storage_size() < b["frames"].id.get_storage_size()


def test_audio_track_goes_to_the_sidecar(tmp_path):
    video = tmp_path / "beep.mp4"
    wav = tmp_path / "beep.wav"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    str(wav)], check=True)
    with VideoWriter(video, 64, 64, 10, audio=wav) as w:
        for i in range(10):
            w.write(np.full((64, 64, 3), 20 * i, np.uint8))
    run_stage("extract", f"extract.input={video}", f"extract.output={tmp_path}/f.h5", f"extract.audio={tmp_path}/a.m4a",
              "preset=tiny")
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "a.m4a")], capture_output=True, text=True)
    assert "Audio: aac" in probe.stderr and "Duration: 00:00:01" in probe.stderr
    with h5py.File(tmp_path / "f.h5") as f:
        assert f["frames"].shape[0] == 10 and bool(f.attrs["has_audio"])


@pytest.mark.parametrize("kind", ["text", "zero_bytes", "audio_only", "missing", "png", "one_frame", "seven_frames"])
def test_bad_video_is_one_clear_message_and_no_output(tmp_path, kind):
    video = tmp_path / "input.mp4"
    expected = {"png": f"{video} is a still image (png), not a video: extract needs a video of at least 8 frames",
                "one_frame": f"{video} has 1 frame (0.10 s at 10 fps): extract needs a video of at least 8 frames",
                "seven_frames": f"{video} has 7 frames (0.70 s at 10 fps): extract needs a video of at least 8 frames"}
    if kind == "png":  # named .mp4
        cv2.imwrite(str(tmp_path / "input.png"), np.full((64, 48, 3), 90, np.uint8))
        (tmp_path / "input.png").rename(video)
    elif kind in ("one_frame", "seven_frames"):
        with VideoWriter(video, 64, 64, 10) as w:
            for i in range(1 if kind == "one_frame" else 7):
                w.write(np.full((64, 64, 3), 20 * i, np.uint8))
    elif kind == "text":
        video.write_text("this is not a video\n")
    elif kind == "zero_bytes":
        video.write_bytes(b"")
    elif kind == "audio_only":
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1",
                        "-c:a", "aac", str(video)], check=True)
    out = tmp_path / "out"
    res = run_stage("extract", f"extract.input={video}", f"extract.output={out}/f.h5", f"extract.audio={out}/a.m4a",
                    check=False)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and str(video) in lines[0], res.stderr
    if kind in expected:
        assert lines[0] == f"dancenow extract: error: {expected[kind]}"
    assert "Traceback" not in res.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_paths_a_shell_or_ffmpeg_would_misread_work_as_typed(tmp_path):
    """A clip with sound named like a URL, outputs in a folder that starts with `-` and holds spaces, accents, quotes,
    brackets, `,`, `=` and `$`: typed by hand (the shell's quotes only), relative to the working folder."""
    video = tmp_path / "http:tänzer (1), a=b 'c' $x.mp4"
    wav = tmp_path / "beep.wav"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    str(wav)], check=True)
    with VideoWriter(tmp_path / "clip.mp4", 64, 64, 10, audio=wav) as w:
        for i in range(10):
            w.write(np.full((64, 64, 3), 20 * i, np.uint8))
    (tmp_path / "clip.mp4").rename(video)
    out = "-résultats [1], l'été=2 ${y}"
    res = subprocess.run([sys.executable, "-m", "dancenow.cli", "extract", f"extract.input={video.name}",
                          f"extract.output={out}/frames.h5", f"extract.audio={out}/audio.m4a", "preset=tiny"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    with h5py.File(tmp_path / out / "frames.h5") as f:
        assert f["frames"].shape[0] == 10 and bool(f.attrs["has_audio"])
    assert (tmp_path / out / "audio.m4a").stat().st_size > 0


# ---- clips as phones and cameras write them ------------------------------------------------------------------------

def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """From the real clips, each with a tone exactly as long as its picture: a portrait phone video stored
    landscape with a display rotation of 90 degrees, a variable frame rate one (every frame of its first second,
    then every third: 20, 22, 23, 25, 26 ... are missing) and a 60 fps one."""
    d = tmp_path_factory.mktemp("clips")
    woman, man = real_data("video", "target_woman.mp4"), real_data("video", "dancer_man.mp4")
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration={}"]
    ffmpeg("-i", woman, *tone[:-1], tone[-1].format(13), "-vf", "transpose=1", "-c:v", "libx264", "-c:a", "aac",
           "-shortest", d / "landscape.mp4")
    ffmpeg("-display_rotation", 90, "-i", d / "landscape.mp4", "-c", "copy", d / "rotated.mp4")
    ffmpeg("-i", man, *tone[:-1], tone[-1].format(5.1), "-vf", r"select='lt(n\,20)+not(mod(n\,3))'",
           "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac", d / "vfr.mp4")
    ffmpeg("-i", man, *tone[:-1], tone[-1].format(5.1), "-vf", "fps=60", "-c:v", "libx264", "-c:a", "aac",
           d / "sixty.mp4")
    return d


def extracted(video, out, *extra):
    run_stage("extract", f"extract.input={video}", f"extract.output={out}/frames.h5", f"extract.audio={out}/a.m4a",
              "preset=tiny", "extract.fit=pad", *extra)
    with h5py.File(out / "frames.h5") as f:
        return f["frames"][()], dict(f.attrs)


def duration(path, kind):
    import av

    with av.open(str(path)) as c:
        s = (c.streams.video if kind == "video" else c.streams.audio)[0]
        return float(s.duration * s.time_base)


@pytest.mark.parametrize("clip, fps, frames, variable", [("rotated", 5, 65, False), ("vfr", 20, 102, True),
                                                         ("sixty", 60, 306, False)])
def test_frames_follow_the_clock_and_the_music(clips, tmp_path, clip, fps, frames, variable):
    """frame count / fps is the clip's duration within a frame; a render of the frames with the extracted audio
    has a picture and a sound of equal lengths within a frame."""
    from dancenow.stages.render import write_video

    got, attrs = extracted(clips / f"{clip}.mp4", tmp_path)
    assert attrs["fps"] == fps and bool(attrs["variable_frame_rate"]) == variable
    assert abs(len(got) - frames) <= 1, len(got)
    audio = duration(tmp_path / "a.m4a", "audio")
    assert abs(len(got) / fps - audio) <= 1 / fps, (len(got), audio)
    with h5py.File(tmp_path / "frames.h5") as f:
        write_video(f["frames"], tmp_path / "render.mp4", fps, tmp_path / "a.m4a", 28)
    picture, sound = duration(tmp_path / "render.mp4", "video"), duration(tmp_path / "render.mp4", "audio")
    assert abs(picture - len(got) / fps) <= 1 / fps and abs(picture - sound) <= 1 / fps, (picture, sound)
    if clip == "vfr":  # frames 20, 22 and 23 are missing: 19 stays on screen in slot 20, 21 in slots 22 and 23
        same = [bool((got[k] == got[k + 1]).all()) for k in range(18, 24)]
        assert same == [False, True, False, True, True, False]


def test_a_rotated_phone_clip_is_stored_upright(clips, tmp_path):
    rotated, attrs = extracted(clips / "rotated.mp4", tmp_path / "r")
    original, _ = extracted(real_data("video", "target_woman.mp4"), tmp_path / "o")
    assert attrs["rotation"] == 90 and (attrs["source_width"], attrs["source_height"]) == (720, 1280)
    assert np.abs(rotated.astype(int) - original).mean() < 3  # the same picture, once more encoded
    assert np.abs(np.rot90(rotated, 1, axes=(1, 2)).astype(int) - original).mean() > 20
