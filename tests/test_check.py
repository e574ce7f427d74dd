"""`dancenow check`: the target video's facts and the source's moments its training frames do not cover."""

import json

import numpy as np
import pytest

from conftest import run_stage
from dancenow.coverage import coverage
from dancenow.io import h5
from dancenow.io import poses as poses_io
from dancenow.keypoints import B

FPS = 30.0


def figure(arm_angle, cx=240.0, cy=300.0, torso=100.0):
    """BODY_25 bodies [F, 25, 3] standing, both arms at `arm_angle` per frame (radians from hanging down; pi is
    straight up), y down."""
    n = len(arm_angle)
    body = np.zeros((n, 25, 3), np.float32)
    put = lambda name, x, y: body[:, B[name]].__setitem__(slice(None), np.stack([x, y, np.ones(n)], -1))  # noqa
    one = np.ones(n)
    put("MidHip", cx * one, cy * one)
    put("Neck", cx * one, (cy - torso) * one)
    put("Nose", cx * one, (cy - 1.4 * torso) * one)
    for side, sign in (("R", -1), ("L", 1)):
        sx, sy = cx + sign * 0.4 * torso, cy - torso
        put(f"{side}Shoulder", sx * one, sy * one)
        put(f"{side}Elbow", sx + sign * 0.5 * torso * np.sin(arm_angle), sy + 0.5 * torso * np.cos(arm_angle))
        put(f"{side}Wrist", sx + sign * torso * np.sin(arm_angle), sy + torso * np.cos(arm_angle))
        put(f"{side}Hip", (cx + sign * 0.2 * torso) * one, cy * one)
        put(f"{side}Knee", (cx + sign * 0.2 * torso) * one, (cy + 0.8 * torso) * one)
        put(f"{side}Ankle", (cx + sign * 0.2 * torso) * one, (cy + 1.6 * torso) * one)
    return body


def source_angles():
    """Arms swinging below the shoulders, raised above the head at frames 60-89 and 150-169."""
    a = 0.5 + 0.5 * np.sin(np.arange(240) / 7.0)
    a[60:90], a[150:170] = 2.8, 3.0
    return a


def test_the_uncovered_moments_are_exactly_where_the_source_raises_its_arms():
    target = figure(np.linspace(0.0, 1.2, 200), cx=150.0, torso=60.0)  # never above the shoulders; smaller, aside
    report = coverage(figure(source_angles()), target, FPS, threshold=0.5)
    assert report["uncovered_frames"] == list(range(60, 90)) + list(range(150, 170))
    assert [(m["first_frame"], m["last_frame"], m["what"]) for m in report["moments"]] == [
        (60, 89, "both arms above the head"), (150, 169, "both arms above the head")]
    assert report["moments"][0]["text"].startswith("both arms above the head at 0:02.0-0:03.0: no target frame "
                                                    "within 0.5 torso lengths")
    assert report["covered_fraction"] == pytest.approx(190 / 240)
    everything = coverage(figure(source_angles()), figure(np.linspace(0.0, 3.1, 300)), FPS, threshold=0.5)
    assert everything["moments"] == [] and everything["covered_fraction"] == 1.0


def write(path, body, fps=FPS):
    n = len(body)
    data = {"body": body, "face": np.zeros((n, 70, 3), np.float32), "left_hand": np.zeros((n, 21, 3), np.float32),
            "right_hand": np.zeros((n, 21, 3), np.float32), "detected": np.ones(n, bool), "filled": np.zeros(n, bool)}
    with h5.create(path) as f:
        poses_io.write_poses(f, data, {"fps": fps, "height": 480, "width": 480})
        h5.FrameGeometry(1.0, 0, 0).to_attrs(f.attrs)
        f.attrs["video_sha256"] = "ab" * 32
    return path


def check(tmp_path, frames, source, target, *extra):
    return run_stage("check", f"check.source={source}", f"check.poses={target}", f"check.frames={frames}",
                     f"check.output={tmp_path}/out/coverage.json", f"check.plot={tmp_path}/out/coverage.png",
                     "preset=tiny", *extra, check=False)


def test_the_stage_warns_or_fails_before_training(small_target, tmp_path):
    frames, _ = small_target  # a real target's frames.h5: its facts
    source = write(tmp_path / "source.h5", figure(source_angles()))
    target = write(tmp_path / "target.h5", figure(np.linspace(0.0, 1.2, 12), torso=60.0))
    res = check(tmp_path, frames, source, target)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "WARNING the target's video" in res.stderr and "covers 79 % of the source's poses, below " \
        "check.min_coverage=0.9: the generator has not seen both arms above the head at 0:02.0-0:03.0" in res.stderr
    report = json.loads((tmp_path / "out" / "coverage.json").read_text())
    assert report["video"]["frames"] == 12 and report["video"]["width"] == 720 and report["video"]["height"] == 1280
    assert report["video"]["variable_frame_rate"] is False and report["video"]["audio"] is False
    assert report["training_time"]["paper"]["hours"] > report["training_time"]["quick"]["hours"] > 0
    assert (tmp_path / "out" / "coverage.png").read_bytes().startswith(b"\x89PNG")
    strict = check(tmp_path / "strict", frames, source, target, "check.strict=true")
    assert strict.returncode == 2 and strict.stderr.strip().splitlines()[-1].endswith(
        "(film the target doing these, or accept guesses); check.strict=false to train anyway")
    assert not (tmp_path / "strict" / "out").exists() or not any((tmp_path / "strict" / "out").iterdir())
