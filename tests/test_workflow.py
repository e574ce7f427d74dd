"""The whole workflow through `snakemake --profile profiles/local`, tiny preset, on the real clips."""

import json
import os
import re
import signal
import time
from pathlib import Path

import cv2
import h5py
import hdf5plugin  # noqa: F401  (frames are Blosc-compressed)
import numpy as np
import pytest
import torch
import yaml

from conftest import CHOREO_SECONDS, RESULTS, real_data, snakemake, write_config
from dancenow import lifetime

pytestmark = pytest.mark.slow


def video_info(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n, cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))


def jobs_planned(res):
    """Rule names of the jobs a dry run would execute."""
    stats = res.stdout.split("Job stats:")[-1] if "Job stats:" in res.stdout else ""
    rules = set()
    for line in stats.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            rules.add(parts[0])
    return rules


def test_every_output_has_the_right_frames_fps_and_size(tiny_run):
    r = tiny_run / RESULTS
    for name, n, fps in (("dancer_man", 102, 20.0), ("target_woman", 65, 5.0)):
        with h5py.File(r / "videos" / name / "frames.h5") as f:
            assert f["frames"].shape == (n, 128, 128, 3) and f.attrs["fps"] == fps
        with h5py.File(r / "videos" / name / "poses.h5") as f:
            assert f["body"].shape == (n, 25, 3) and f["detected"][()].mean() >= 0.95
    with h5py.File(r / "transfer" / "target_woman" / "normalized.h5") as f:
        assert f["body"].shape == (102, 25, 3) and f.attrs["fps"] == 20.0
    with h5py.File(r / "transfer" / "target_woman" / "generated.h5") as f:
        assert f["frames"].shape == (102, 128, 128, 3)
    ckpt = torch.load(r / "models" / "target_woman" / "generator.pt", weights_only=True)
    assert ckpt["meta"]["iteration"] == 30
    assert video_info(r / "transfer" / "target_woman" / "target_woman.mp4") == (102, 20.0, 128, 128)
    n, fps, w, h = video_info(r / "grid.mp4")
    assert (n, fps) == (102, 20.0) and w == 3 * 128 and h > 128


def lower_ankle_y(body, min_confidence=0.3):
    ok = (body[:, [11, 14], 2] >= min_confidence).all(axis=1)
    return body[ok][:, [11, 14], 1].max(axis=1), body[ok][:, 0, 1]  # and the nose's y in those frames


def test_make_run_runs_a_users_config(tmp_path):
    """As the README says for your own videos: a config of your own, `make run CONFIG=...`, no activated .venv. Two
    targets: the grid is the blog's 2x2 (source, pose / me, you), with the source's music (a tone put on the
    silent real clip)."""
    import subprocess

    import av
    from imageio_ffmpeg import get_ffmpeg_exe

    from conftest import REPO, workflow_video
    from dancenow.layout import Grid

    results = tmp_path / "my results"
    song = tmp_path / "my dance.mp4"
    subprocess.run([get_ffmpeg_exe(), "-v", "error", "-i", workflow_video("dancer_man"), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=30", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(song)], check=True)
    cfg = {"preset": "tiny", "results": str(results), "holdout": 0.0, "choreo": {"enabled": False},
           "source": {"name": "dancer", "video": str(song)},
           "targets": [{"name": "me", "video": workflow_video("target_woman")},
                       {"name": "you", "video": workflow_video("dancer_man")}],
           "overrides": {"extract": ["extract.max_frames=20"]}}
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not p.startswith(str(REPO / ".venv")))
    res = subprocess.run(["make", "-s", "run", f"CONFIG={tmp_path / 'my.yaml'}", "ARGS=--cores 2"], cwd=REPO,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert video_info(results / "transfer" / "me" / "me.mp4")[0] == 20
    assert not (results / "choreo").exists()
    layout = Grid([(128, 128)] * 4, ["source", "pose", "me", "you"], 128)
    assert (layout.rows, layout.cols) == (2, 2)
    assert video_info(results / "grid.mp4") == (20, 20.0, layout.width, layout.height)
    with av.open(str(results / "grid.mp4")) as f:
        assert len(f.streams.audio) == 1 and f.streams.audio[0].duration * f.streams.audio[0].time_base > 0.9
    cap = cv2.VideoCapture(str(results / "grid.mp4"))
    frame = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)
    with h5py.File(results / "videos" / "dancer" / "frames.h5") as f:
        source = f["frames"][0]
    with h5py.File(results / "transfer" / "you" / "generated.h5") as f:
        you = f["frames"][0]
    for i, picture in ((0, source), (3, you)):  # the source top left, the second target bottom right
        x, y = layout.position(i)
        tile = frame[y + layout.bar_h:y + layout.bar_h + 128, x:x + 128].astype(int)
        assert np.abs(tile - picture).mean() < 8
    usage = subprocess.run(["make", "-s", "run"], cwd=REPO, env=env, capture_output=True, text=True)
    assert usage.returncode != 0 and "usage: make run CONFIG=my.yaml" in usage.stderr


def test_the_logs_of_the_stages_that_run_mediapipe_hold_none_of_its_native_warnings(tiny_run):
    logs = [p for stage in ("extract", "pose", "evaluate") for p in (tiny_run / RESULTS / "logs" / stage).glob("*.log")]
    assert len(logs) == 6
    for log in logs:
        text = log.read_text()
        assert "dancenow." in text and "Traceback" not in text
        assert not re.search(r"[WIE]0000 |absl::InitializeLog|inference_feedback_manager|NORM_RECT", text), log
    assert "pose:" in (tiny_run / RESULTS / "logs" / "pose" / "dancer_man.log").read_text()  # the progress bar


def test_the_export_holds_the_normalized_poses_of_both_dances(tiny_run):
    from dancenow.io.openpose_json import read_frame
    from dancenow.io.poses import POSE_PARTS

    r = tiny_run / RESULTS
    for dance, n, fps in ((r / "transfer", 102, 20.0), (r / "choreo", CHOREO_SECONDS * 20, 20.0)):
        folder = r / "export" / ("choreo" if dance.name == "choreo" else "") / "target_woman"
        with h5py.File(dance / "target_woman" / "normalized.h5") as f:
            poses = {part: f[part][()] for part in POSE_PARTS}
        files = sorted((folder / "openpose").glob("*_keypoints.json"))  # beside Snakemake's .snakemake_timestamp
        assert len(files) == n and files[-1].name == f"frame_{n - 1:012d}_keypoints.json"
        for i in range(0, n, 7):
            back = read_frame(files[i])
            for part in POSE_PARTS:
                found = poses[part][i, :, 2] > 0
                assert np.abs(back[part][found] - poses[part][i, found]).max(initial=0) <= 1e-3
                assert (back[part][~found] == 0).all()
        assert video_info(folder / "pose.mp4") == (n, fps, 128, 128)


def test_the_run_says_where_it_stands_after_every_job(tiny_run):
    lines = [ln for ln in (tiny_run / "snakemake.stderr").read_text().splitlines() if ln.startswith("dancenow: ")]
    counts = [tuple(map(int, re.match(r"dancenow: (\d+) of (\d+) jobs done", ln).groups())) for ln in lines]
    done, total = [k for k, _ in counts], counts[0][1]
    assert total == 17 and {n for _, n in counts} == {total}  # every job but `all`
    # a line as each job ends, and more every minute while none does (a slow or busy machine)
    assert done == sorted(done) and set(range(1, total + 1)) <= set(done) <= set(range(total + 1))
    assert lines[-1].startswith(f"dancenow: {total} of {total} jobs done") and "left" not in lines[-1]
    # the trainings are timed before they start (the project's step times), later jobs by what ran
    assert all(re.search(r"about (\d+ min )?\d+ s left", ln) for ln in lines[:-1])
    assert not list((tiny_run / RESULTS / "logs").rglob("*.progress"))  # each job's report went with it


def test_the_check_before_training_on_the_real_pair(tiny_run):
    """target_woman walks; dancer_man dances: her 52 training frames (5 fps) cover part of his moves."""
    r = tiny_run / RESULTS
    report = json.loads((r / "check" / "target_woman" / "coverage.json").read_text())
    assert report["video"] == {"frames": 65, "width": 720, "height": 1280, "fps": 5.0, "variable_frame_rate": False,
                               "rotation": 0, "audio": False, "frames_with_a_person": 65,
                               "frames_with_a_face": report["video"]["frames_with_a_face"],
                               "frames_with_hands": report["video"]["frames_with_hands"]}
    assert report["frames"] == 102 and report["frames_with_a_pose"] > 90
    assert 0.05 < report["covered_fraction"] < 0.95 and report["moments"]
    uncovered = set(report["uncovered_frames"])
    ends = [(m["first_frame"], m["last_frame"]) for m in report["moments"]]
    assert all(a in uncovered and b in uncovered for a, b in ends) and ends == sorted(ends)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(ends, ends[1:]))
    log = (r / "logs" / "check" / "target_woman.log").read_text()
    assert f"covers {100 * report['covered_fraction']:.0f} % of the source's poses, below check.min_coverage" in log
    assert report["training_time"]["paper"]["phases"] == {"global": 100000, "main": 100000, "face": 20000}


def test_the_made_up_dance_is_performed_by_every_target(tiny_run):
    r = tiny_run / RESULTS / "choreo"
    # danced at choreo.fps (30), written at the source video's 20 fps (dancer_man), on the tiny preset's canvas
    n = CHOREO_SECONDS * 20
    with h5py.File(r / "dance.h5") as f:
        assert f["body"].shape == (n, 25, 3)
        assert (f.attrs["fps"], f.attrs["height"], f.attrs["width"]) == (20.0, 128, 128)
    assert video_info(r / "dance.mp4") == (n, 20.0, 128, 128)
    metrics = json.loads((r / "metrics.json").read_text())
    assert metrics["frames"] == CHOREO_SECONDS * 30 and metrics["written"] == {"fps": 20.0, "frames": n}
    assert (r / "model.pt").is_file()  # reused by the next run with the same settings, not a Snakemake output

    for transfer, audio in ((r, None), (tiny_run / RESULTS / "transfer", f"{RESULTS}/videos/dancer_man/audio.m4a")):
        with h5py.File(transfer / "target_woman" / "generated.h5") as f:  # the made-up dance has no music
            assert json.loads(f.attrs["config"])["audio"] == audio
    with h5py.File(r / "target_woman" / "generated.h5") as f:
        assert f["frames"].shape == (n, 128, 128, 3) and f.attrs["fps"] == 20.0
    assert video_info(r / "target_woman" / "target_woman.mp4") == (n, 20.0, 128, 128)
    frames, fps, w, h = video_info(r / "grid.mp4")  # stick figure | target_woman: no source column
    assert (frames, fps) == (n, 20.0) and w == (1 + 1) * 128 and h > 128

    # normalized into the target's frame: feet on her floor, her standing height, her place in the picture
    with h5py.File(tiny_run / RESULTS / "videos" / "target_woman" / "poses.h5") as f:
        target = f["body"][()]
    with h5py.File(r / "target_woman" / "normalized.h5") as f:
        dance = f["body"][()]
        assert dance.shape == (n, 25, 3) and (f.attrs["height"], f.attrs["width"]) == (128, 128)
    (t_ankle, t_nose), (d_ankle, d_nose) = lower_ankle_y(target), lower_ankle_y(dance)
    assert len(d_ankle) == n and abs(np.median(d_ankle) - np.median(t_ankle)) < 2.0
    standing = np.percentile(t_ankle - t_nose, 90)  # she also bends down: her height standing up
    assert abs(np.median(d_ankle - d_nose) / standing - 1) < 0.1
    assert abs(np.median(dance[:, 8, 0]) - np.median(target[:, 8, 0])) < 0.1 * 128  # mid-hip x
    xy = dance[..., :2][dance[..., 2] > 0]
    assert (xy >= 0).all() and (xy <= 128).all()


def test_evaluation_of_the_held_out_frames_and_the_report(tiny_run, tmp_path):
    r = tiny_run / RESULTS
    m = json.loads((r / "evaluate" / "target_woman" / "metrics.json").read_text())
    assert m["held_out"] == [52, 64] and m["frames"] == m["frames_with_person"] == 13  # the last 20 % of 65 frames
    assert m["temporal"] and m["face"] and m["iterations"] == {"main": 30, "face": 10}
    assert 0 < m["ssim"]["mean"] < 1 and m["ssim"]["count"] == 13 and 0 < m["psnr"]["mean"] < 60
    assert m["flicker"] > 0 and m["real_change"] > 0 and 0 <= m["missed_detections"] <= 13
    # every metric says over how many frames; a low re-detection rate is warned about in the log and the table
    assert m["redetection_rate"] == (13 - m["missed_detections"]) / 13 and m["flicker_frames"] == 12
    assert m["pose_distance_frames"] <= 13 - m["missed_detections"] and m["high_frequency"]["frames"] == 13
    region = m["person_region"]  # the same on the person alone, where the plate cannot hide noise
    assert region["frames"] == region["ssim"]["count"] == 13 and 0 < region["ssim"]["mean"] < 1
    assert region["high_frequency"]["ratio"] > 0
    low = m["redetection_rate"] < 0.9
    log = (r / "logs" / "evaluate" / "target_woman.log").read_text()
    assert ("the pose estimator found the person in only" in log) == low
    assert ("class='warn'>&#9888; The pose estimator re-detected" in (r / "evaluate" / "metrics.html").read_text()) == low
    ckpt = torch.load(r / "models" / "target_woman" / "generator.pt", weights_only=True)
    assert ckpt["meta"]["train_frames"] == 52  # trained without the held-out frames
    assert video_info(r / "evaluate" / "target_woman" / "heldout.mp4") == (13, 5.0, 256, 128)  # real | generated
    table = (r / "evaluate" / "metrics.html").read_text()
    assert "<th>target_woman</th>" in table and f"{m['ssim']['mean']:.4f}" in table
    snakemake(tiny_run, "--report", str(tmp_path / "report.html"))
    report = (tmp_path / "report.html").read_text()
    assert all(name in report for name in ("heldout.mp4", "evaluate.png", "metrics.html", "grid.mp4", "dance.mp4",
                                           "Choreography"))


def test_ablation_rules_train_and_compare_three_variants(tiny_run):
    write_config(tiny_run, ablation=True)
    try:
        planned = jobs_planned(snakemake(tiny_run, "--dry-run"))
        assert planned == {"train_ablation", "evaluate_ablation", "compare_ablation", "all"}, planned
        snakemake(tiny_run)
    finally:
        write_config(tiny_run)
    a = tiny_run / RESULTS / "ablation"
    metas = {v: torch.load(a / "target_woman" / v / "generator.pt", weights_only=True)["meta"]
             for v in ("frame", "temporal", "temporal_face")}
    assert [(m["generator"]["temporal"], m["face"] is not None) for m in metas.values()] == \
        [(False, False), (True, False), (True, True)]
    assert len({m["iteration"] for m in metas.values()}) == 1  # the same budget of steps
    rows = (a / "ablation.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [f"target_woman/{v}" for v in metas]


def test_second_run_has_nothing_to_do(tiny_run):
    res = snakemake(tiny_run, "--dry-run")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout


def test_changing_render_settings_reruns_only_render(tiny_run):
    generated = tiny_run / RESULTS / "transfer" / "target_woman" / "generated.h5"
    with h5py.File(generated) as f:
        before = f["frames"][()]
    write_config(tiny_run, overrides={"render": ["render.crf=28"]})
    planned = jobs_planned(snakemake(tiny_run, "--dry-run"))
    assert planned == {"render", "grid", "render_choreo", "grid_choreo", "all"}, planned
    snakemake(tiny_run)
    with h5py.File(generated) as f:  # the same generator and poses give the same frames, bit for bit
        assert (f["frames"][()] == before).all() and '"crf": 28' in f.attrs["config"]
    write_config(tiny_run)
    snakemake(tiny_run)


def test_changing_the_dance_length_reruns_the_dance_and_its_renders_not_training(tiny_run):
    r = tiny_run / RESULTS
    generator = r / "models" / "target_woman" / "generator.pt"
    trained = generator.stat().st_mtime_ns
    write_config(tiny_run, choreo={"seconds": 2})
    try:
        planned = jobs_planned(snakemake(tiny_run, "--dry-run"))
        assert planned == {"choreo", "normalize_choreo", "render_choreo", "grid_choreo", "export_choreo", "all"}, \
            planned
        snakemake(tiny_run)
        assert "reusing the trained model" in (r / "logs" / "choreo.log").read_text()  # same training settings
        assert video_info(r / "choreo" / "target_woman" / "target_woman.mp4")[0] == 40
        assert video_info(r / "choreo" / "grid.mp4")[0] == 40
        assert generator.stat().st_mtime_ns == trained
    finally:
        write_config(tiny_run)
        snakemake(tiny_run)
    assert video_info(r / "choreo" / "grid.mp4")[0] == CHOREO_SECONDS * 20


def test_choreo_config_errors_are_clear_and_make_nothing(tmp_path):
    write_config(tmp_path, choreo={"source_poses": False})  # and no BVH files
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "choreo has nothing to learn from" in res.stderr, res.stderr[-2000:]
    missing = tmp_path / "salsa.bvh"
    write_config(tmp_path, choreo={"bvh": [str(missing)]})
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "BVH file" in res.stderr and str(missing) in res.stderr, res.stderr[-2000:]
    write_config(tmp_path, choreo={"seconds": 0})
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "seconds" in res.stderr, res.stderr[-2000:]
    write_config(tmp_path, choreo={"enabled": False, "source_poses": False})  # nothing asked: nothing to check
    planned = jobs_planned(snakemake(tmp_path, "--dry-run"))
    assert "choreo" not in planned and "render" in planned, planned
    assert not (tmp_path / RESULTS).exists()


def test_config_errors_are_clear_and_make_nothing(tmp_path):
    write_config(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["targets"][0]["video"] = str(tmp_path / "nowhere.mp4")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "does not exist" in res.stderr and "nowhere.mp4" in res.stderr
    cfg["targets"][0] = {"name": "../../etc", "video": str(real_data("video", "target_woman.mp4"))}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "does not match" in res.stderr and "../../etc" in res.stderr
    write_config(tmp_path, results="out {x}")  # braces are Snakemake's wildcards
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0 and "the path of results has a brace" in res.stderr and "out {x}" in res.stderr
    assert not (tmp_path / RESULTS).exists()


def _train_pid(workdir):
    """The `dancenow train` process that snakemake started in workdir (not the shell around it)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        is_shell = argv[0].endswith((b"sh", b"bash"))
        if cwd == workdir.resolve() and not is_shell and any(a.endswith(b"dancenow") for a in argv) and b"train" in argv:
            return int(proc.name)
    return None


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_training(tiny_run, tmp_path):
    """The workflow in the background, asked for a generator of 10^6 iterations; (snakemake, the train process),
    once training runs."""
    import shutil

    shutil.copytree(tiny_run / RESULTS / "videos", tmp_path / RESULTS / "videos")
    write_config(tmp_path, overrides={"train": ["train.iterations=1000000", "train.log_every=1"]})
    proc = snakemake(tmp_path, f"{RESULTS}/models/target_woman/generator.pt", wait=False)
    log = tmp_path / RESULTS / "logs" / "train" / "target_woman.log"
    deadline = time.time() + 300
    while not (log.exists() and "it 2/" in log.read_text()):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    return proc, _train_pid(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_background_workflow_stops_its_stages_within_seconds(tiny_run, tmp_path, sig):
    """Snakemake alone would let the stage train on after SIGTERM and never see SIGINT in the background."""
    proc, pid = start_training(tiny_run, tmp_path)
    t0 = time.time()
    os.kill(proc.pid, sig)
    out, _ = proc.communicate(timeout=60)
    while _alive(pid) and time.time() - t0 < 30:
        time.sleep(0.1)
    stopped = time.time() - t0
    print(f"{signal.Signals(sig).name}: everything stopped {stopped:.1f} s after the signal")
    assert proc.returncode != 0 and not _alive(pid) and stopped < lifetime.GRACE_S + 3, out[-3000:]
    assert re.search(rf"dancenow: {signal.Signals(sig).name}: stopping [12] running process\(es\) of the workflow", out)
    model = tmp_path / RESULTS / "models" / "target_woman"
    assert not (model / "generator.pt").exists() and not list(model.rglob("*.tmp"))


def test_a_stage_stops_when_its_workflow_is_killed(tiny_run, tmp_path):
    proc, pid = start_training(tiny_run, tmp_path)
    t0 = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    while _alive(pid) and time.time() - t0 < 30:
        time.sleep(0.1)
    print(f"the orphaned stage stopped {time.time() - t0:.1f} s after the workflow was killed")
    log = (tmp_path / RESULTS / "logs" / "train" / "target_woman.log").read_text()
    # typically about a second (POLL_S); at most GRACE_S more where the stage's cleanup hangs
    assert not _alive(pid) and time.time() - t0 < lifetime.POLL_S + lifetime.GRACE_S + 3, log[-3000:]
    assert "has ended: stopping" in log
    assert not (tmp_path / RESULTS / "models" / "target_woman" / "generator.pt").exists()


def test_sigkill_during_training_then_rerun_resumes(tiny_run, tmp_path):
    import shutil

    shutil.copytree(tiny_run / RESULTS / "videos", tmp_path / RESULTS / "videos")
    write_config(tmp_path, overrides={"train": ["train.iterations=120", "train.checkpoint_every=20"]})
    model = tmp_path / RESULTS / "models" / "target_woman"
    target = f"{RESULTS}/models/target_woman/generator.pt"
    proc = snakemake(tmp_path, target, wait=False)
    deadline = time.time() + 300
    while not (model / "work" / "latest.pt").exists():
        assert time.time() < deadline and proc.poll() is None, f"no checkpoint:\n{proc.communicate()[0][-3000:]}"
        time.sleep(0.2)
    pid = _train_pid(tmp_path)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert not (model / "generator.pt").exists()
    killed_at = torch.load(model / "work" / "latest.pt", weights_only=True)["meta"]["iteration"]
    assert 0 < killed_at < 120
    snakemake(tmp_path, target)
    log = (tmp_path / RESULTS / "logs" / "train" / "target_woman.log").read_text()
    assert f"resuming from iteration {killed_at}" in log, log[-2000:]
    assert torch.load(model / "generator.pt", weights_only=True)["meta"]["iteration"] == 120
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
