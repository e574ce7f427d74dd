import subprocess

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


@pytest.mark.parametrize("kind", ["text", "zero_bytes", "audio_only", "missing"])
def test_bad_video_is_one_clear_message_and_no_output(tmp_path, kind):
    video = tmp_path / "input.mp4"
    if kind == "text":
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
    assert "Traceback" not in res.stderr
    assert not out.exists() or list(out.iterdir()) == []
