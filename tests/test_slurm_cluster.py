"""submitit against the real single-node Slurm cluster of scripts/slurm-cluster.sh (started before pytest in CI)."""

import os
import subprocess
import sys
import time

import cloudpickle
import pytest

submitit = pytest.importorskip("submitit")

# The job's python cannot import this test module: send the functions below by value, not by reference.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.usefixtures("slurm_cluster")


def executor(tmp_path, **params):
    """A fresh submitit folder per test: job ids restart at 1 on a fresh cluster, so old result files must not exist."""
    ex = submitit.AutoExecutor(folder=tmp_path / "submitit")
    assert ex.cluster == "slurm"
    ex.update_parameters(slurm_partition="debug", timeout_min=5, **params)
    return ex


def add(a, b):
    return a + b


def rank():
    return submitit.JobEnvironment().global_rank


def visible_devices():
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def sleep_long():
    time.sleep(600)


def test_round_trip_returns_value(tmp_path):
    job = executor(tmp_path, slurm_gres="gpu:1").submit(add, 2, 40)
    assert job.result() == 42  # (job.state may still say UNKNOWN here: submitit reads the result file first)


def test_two_tasks_get_both_ranks(tmp_path):
    job = executor(tmp_path, nodes=1, tasks_per_node=2).submit(rank)
    assert sorted(job.results()) == [0, 1]


def test_gres_gpu_sets_cuda_visible_devices(tmp_path):
    job = executor(tmp_path, slurm_gres="gpu:1").submit(visible_devices)
    devices = job.result()
    assert devices is not None and devices != ""
    assert len(devices.split(",")) == 1


def test_scancel_makes_result_raise_promptly(tmp_path):
    job = executor(tmp_path).submit(sleep_long)
    deadline = time.time() + 30
    while job.state not in ("RUNNING", "COMPLETED", "FAILED") and time.time() < deadline:
        time.sleep(0.5)
    subprocess.run(["scancel", job.job_id], check=True)
    t0 = time.time()
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        job.result()
    assert time.time() - t0 < 60
