"""launcher=slurm against the real single-node cluster of scripts/slurm-cluster.sh (started before pytest in CI):
the stages as Slurm jobs through submitit give what they give locally."""

import os
import re
import signal
import subprocess
import sys
import time

import h5py
import hdf5plugin  # noqa: F401  (frames are Blosc-compressed)
import numpy as np
import pytest
import torch

from conftest import REPO, RESULTS, on_slurm, real_data, run_stage, snakemake, write_config

pytestmark = pytest.mark.usefixtures("slurm_cluster")


def job_id(stderr):
    found = re.search(r"runs as Slurm job (\d+)", stderr)
    assert found, stderr[-3000:]
    return found.group(1)


def sacct_request(job):
    """What Slurm job `job` asked for, as sacct reads it back: (memory in MB, CPUs, time limit). The accounting
    database may take a few seconds to hold the request of a job that has just ended: asked again until it does."""
    for _ in range(30):
        out = subprocess.run(["sacct", "-j", job, "-X", "-n", "-P", "-o", "ReqMem,ReqCPUS,Timelimit"],
                             capture_output=True, text=True, check=True).stdout
        mem, cpus, limit = (out.strip().splitlines() or ["||"])[0].split("|")
        found = re.fullmatch(r"([\d.]+)([KMGT])[nc]?", mem)
        if found and cpus and limit:
            number, unit = found.groups()
            return round(float(number) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}[unit]), int(cpus), limit
        time.sleep(1)
    raise AssertionError(f"sacct has no request of job {job}: {out!r}")


def train_args(data, out, iterations, *extra):
    frames, poses = data
    return ["preset=tiny", f"train.frames={frames}", f"train.poses={poses}", f"train.output={out}/generator.pt",
            f"train.workdir={out}/work", f"train.iterations={iterations}", "threads=1", *extra]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """frames.h5 of target_woman.mp4 at the tiny preset's size: 65 frames."""
    d = tmp_path_factory.mktemp("clip")
    run_stage("extract", "preset=tiny", f"extract.input={real_data('video', 'target_woman.mp4')}",
              f"extract.output={d}/frames.h5", f"extract.audio={d}/audio.m4a")
    return d / "frames.h5"


def test_pose_sharded_over_two_tasks_equals_one_pass(clip, tmp_path):
    # 65 frames in chunks of 20: shards of 40 and 25 frames (a split at 32 would change the keypoints)
    args = ["preset=tiny", f"pose.input={clip}", "pose.chunk_frames=20"]
    run_stage("pose", *args, f"pose.output={tmp_path}/one.h5")
    res = run_stage("pose", *args, f"pose.output={tmp_path}/two.h5",
                    *on_slurm(tmp_path, "pose", "resources.pose.tasks_per_node=2"))
    assert "(1 x 2 tasks)" in res.stderr
    rank1 = (tmp_path / "submitit").glob(f"pose-*/{job_id(res.stderr)}_1_log.err")
    assert "dancenow.pose[rank 1] INFO" in next(rank1).read_text()  # the second task estimated its shard
    assert (tmp_path / "two.h5").read_bytes() == (tmp_path / "one.h5").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.h5", "submitit", "two.h5"]  # no parts left


def test_remote_errors_fail_the_command_with_the_error_and_the_log(tmp_path):
    res = run_stage("pose", f"pose.input={tmp_path}/none.h5", f"pose.output={tmp_path}/p.h5",
                    *on_slurm(tmp_path, "pose"), check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    message = res.stderr.split("dancenow pose: error: ")[-1]
    assert f"frames file not found: {tmp_path}/none.h5" in message
    log = re.search(r"its log: (\S+_0_log\.err)", message)
    assert log and os.path.isfile(log.group(1)), message

    with h5py.File(tmp_path / "empty.h5", "w"):  # HDF5, but no frames: a KeyError in the job, i.e. a bug
        pass
    res = run_stage("pose", f"pose.input={tmp_path}/empty.h5", f"pose.output={tmp_path}/p.h5",
                    *on_slurm(tmp_path, "pose"), check=False)
    message = res.stderr.split("dancenow pose: error: ")[-1]
    assert res.returncode == 2 and re.search(r"Slurm job \d+ failed: KeyError: .*frames", message), message
    assert re.search(r"its log: \S+_0_log\.err", message)
    assert not (tmp_path / "p.h5").exists()


def test_a_slurm_waiter_whose_workflow_ends_cancels_its_job(small_target, tmp_path, slurm_cluster):
    from dancenow import lifetime

    workflow = subprocess.Popen(["sleep", "600"])  # stands for the snakemake process that started the stage
    env = dict(os.environ, **{lifetime.ENV: f"{workflow.pid}:{lifetime._start_time(workflow.pid)}"})
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "dancenow.cli", "train",
                                 *train_args(small_target, tmp_path, 10 ** 6), *on_slurm(tmp_path, "train")],
                                stderr=f, env=env)
    deadline = time.time() + 120
    while "it 10/" not in err.read_text():
        assert proc.poll() is None and time.time() < deadline, err.read_text()[-3000:]
        time.sleep(0.5)
    job = job_id(err.read_text())
    workflow.kill()
    workflow.wait()
    try:
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and f"cancelled Slurm job {job}" in err.read_text()
    deadline = time.time() + 30
    while "CANCELLED" not in (state := subprocess.run(["sacct", "-n", "-X", "-o", "State", "-j", job],
                                                       capture_output=True, text=True).stdout):
        assert time.time() < deadline, state
        time.sleep(1)


def test_scancel_fails_the_command_promptly(small_target, tmp_path):
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "dancenow.cli", "train",
                                 *train_args(small_target, tmp_path, 10 ** 6), *on_slurm(tmp_path, "train")],
                                stderr=f)
    deadline = time.time() + 120
    while "it 10/" not in err.read_text():  # the job runs and trains
        assert proc.poll() is None and time.time() < deadline, err.read_text()[-3000:]
        time.sleep(0.5)
    job = job_id(err.read_text())
    subprocess.run(["scancel", job], check=True)
    t0 = time.time()
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    print(f"the command ended {time.time() - t0:.1f} s after scancel")
    message = err.read_text().split("dancenow train: error: ")[-1]
    assert proc.returncode == 2 and f"Slurm job {job} was cancelled" in message, message
    assert re.search(r"its log: \S+_0_log\.err", message)
    state = subprocess.run(["sacct", "-n", "-X", "-o", "State", "-j", job], capture_output=True, text=True).stdout
    assert state.strip().startswith("CANCELLED"), state


def test_time_limit_requeues_and_resumes_as_an_uninterrupted_run(small_target, tmp_path):
    # Slurm checks time limits every ~30 s and signals up to 30 s early: with a 1 minute limit and a 20 s warning
    # the signal comes 10 to 45 s into a job. The run is sized to this machine's speed: a minute of training, so
    # that the first job is always signalled, and a few requeues do the rest (machines here differed 6x: 2,400
    # steps took about a minute on one, and 20 requeues did only 1,355 of them on another).
    extra = ("train.log_every=50", "train.checkpoint_every=100000",  # only the signal makes a checkpoint
             "train.background=none", "train.upsample=transpose")  # the cheapest steps: more done per requeue
    timing = run_stage("train", *train_args(small_target, tmp_path / "timing", 200, *extra)).stderr
    seconds_per_step = float(np.median([float(s) for s in re.findall(r"([\d.]+) s/it", timing)[1:]]))
    iterations = max(200, int(round(60 / seconds_per_step, -2)))
    reference = subprocess.Popen([sys.executable, "-m", "dancenow.cli", "train",
                                  *train_args(small_target, tmp_path / "reference", iterations, *extra)],
                                 stderr=subprocess.PIPE, text=True)
    res = run_stage("train", *train_args(small_target, tmp_path / "slurm", iterations, *extra),
                    *on_slurm(tmp_path, "train", "resources.train.runtime=1", "slurm.signal_delay_s=20",
                              "slurm.max_num_timeout=40"))
    _, reference_err = reference.communicate(timeout=300)
    assert reference.returncode == 0, reference_err[-3000:]
    stopped = [int(i) for i in re.findall(r"told to stop: saved iteration (\d+)", res.stderr)]
    resumed = [int(i) for i in re.findall(r"resuming from iteration (\d+)", res.stderr)]
    print(f"{iterations} iterations at {seconds_per_step:.3f} s each: stopped at {stopped}, resumed from {resumed}")
    assert stopped and resumed == stopped and 0 < stopped[0] < iterations, res.stderr[-3000:]
    assert res.stderr.count("this job is timed-out") == len(stopped)  # submitit's handler requeued it each time

    ref, got = (torch.load(d / "generator.pt", weights_only=True) for d in (tmp_path / "reference", tmp_path / "slurm"))
    assert got["meta"]["iteration"] == iterations
    assert got["meta"]["history"] == ref["meta"]["history"]
    assert all(torch.equal(got["generator"][k], v) for k, v in ref["generator"].items())


@pytest.mark.slow
def test_tiny_workflow_as_slurm_jobs_equals_the_local_run(tiny_run, tmp_path):
    """The driver itself as a Slurm job (profiles/slurm/submit-driver.sh), every stage as a job of its own, sized
    for the test cluster with --set-resources (every rule, the `use rule` copies too)."""
    cpus = {"train": 2}  # as many threads as the local run's rules had (choreo: 1): the same float sums and bytes
    rules = ("extract", "pose", "normalize", "check", "train", "render", "grid", "evaluate", "compare", "choreo",
             "normalize_choreo", "render_choreo", "grid_choreo")
    sizes = [f"{rule}:{k}={v}" for rule in rules for k, v in (("cpus_per_task", cpus.get(rule, 1)), ("mem_mb", 2048))]
    write_config(tmp_path, export=False, overrides={stage: ["slurm.poll_s=5"] for stage in (  # export: local run
        "extract", "pose", "normalize", "check", "train", "render", "grid", "evaluate", "compare", "choreo")})
    driver_log = tmp_path / "driver.log"
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")
    res = subprocess.run(["sbatch", "--wait", "--parsable", f"--output={driver_log}", f"--chdir={REPO}",
                          str(REPO / "profiles" / "slurm" / "submit-driver.sh"), "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
                          "--set-resources", *sizes],
                         env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, driver_log.read_text()[-6000:]
    logs = list((tmp_path / RESULTS / "logs").rglob("*.log"))
    assert len(logs) == 15 and all("runs as Slurm job" in p.read_text() for p in logs)  # 4 of them the choreo's
    for log, asked in (("train/target_woman.log", (2048, 2)), ("choreo/target_woman/render.log", (2048, 1))):
        assert sacct_request(job_id((tmp_path / RESULTS / "logs" / log).read_text()))[:2] == asked, log

    local, slurm = tiny_run / RESULTS, tmp_path / RESULTS
    for f in ("videos/dancer_man/frames.h5", "videos/dancer_man/poses.h5", "videos/target_woman/frames.h5",
              "videos/target_woman/poses.h5", "transfer/target_woman/normalized.h5",
              "evaluate/target_woman/metrics.json", "choreo/dance.h5", "choreo/target_woman/normalized.h5"):
        assert (slurm / f).read_bytes() == (local / f).read_bytes(), f
    ref, got = (torch.load(r / "models/target_woman/generator.pt", weights_only=True) for r in (local, slurm))
    assert got["meta"]["history"] == ref["meta"]["history"]
    assert all(torch.equal(got["generator"][k], v) for k, v in ref["generator"].items())
    for f in ("transfer/target_woman/generated.h5", "choreo/target_woman/generated.h5"):
        with h5py.File(local / f) as a, h5py.File(slurm / f) as b:
            assert (a["frames"][()] == b["frames"][()]).all(), f
    res = snakemake(tmp_path, "--dry-run", profile="slurm")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout


def test_set_resources_sizes_the_job_and_neither_it_nor_the_profile_reruns(tmp_path):
    """`--set-resources` is what a rule's Slurm job asks for (read back from sacct); switching sizes or profiles
    (launcher=slurm to local) then finds nothing to do: resources are no rerun trigger."""
    write_config(tmp_path, overrides={"extract": ["slurm.poll_s=2"]})
    target = f"{RESULTS}/videos/target_woman/frames.h5"
    snakemake(tmp_path, "--set-resources", "extract:mem_mb=1500", "extract:cpus_per_task=2", "extract:runtime=7",
              "--", target, profile="slurm")  # `--`: the target is not one more resource
    log = (tmp_path / RESULTS / "logs" / "extract" / "target_woman.log").read_text()
    assert sacct_request(job_id(log)) == (1500, 2, "00:07:00"), log[-3000:]
    for profile in ("slurm", "local"):
        res = snakemake(tmp_path, "--dry-run", target, profile=profile)
        assert "Nothing to be done" in res.stdout + res.stderr, (profile, res.stdout)
