"""The OpenMP wait policy chosen at start: spinning on idle cores, sleeping on busy ones, the user's setting kept."""

import os
import subprocess
import sys

import pytest

from dancenow import openmp

SHOW = "import os, dancenow; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"


def test_idle_cores_spin_and_busy_or_unknown_ones_sleep():
    assert openmp.decide(0.05)[0] == {"GOMP_SPINCOUNT": openmp.SPIN_COUNT}
    assert openmp.decide(0.6)[0] == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert openmp.decide(None)[0] == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert "60% busy" in openmp.decide(0.6)[1]


def test_busy_fraction_counts_only_the_cores_sampled_and_steal_as_busy():
    # (busy, total) jiffies per cpu: cpu 0 fully busy, cpu 1 a quarter busy; cpu 2 was not sampled the second time
    before = {0: (100, 1000), 1: (0, 1000), 2: (0, 0)}
    after = {0: (200, 1100), 1: (25, 1100)}
    assert openmp.busy_fraction(before, after) == pytest.approx((1.0 + 0.25) / 2)
    assert openmp.busy_fraction({}, {}) is None
    times = openmp.cpu_times(os.sched_getaffinity(0))
    assert set(times) == os.sched_getaffinity(0)
    assert all(0 <= busy <= total for busy, total in times.values())


def show(env):
    res = subprocess.run([sys.executable, "-c", SHOW], capture_output=True, text=True, env=env, check=True)
    return res.stdout.split()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", openmp.CHOSEN)}
    return {**env, **extra}


@pytest.fixture
def busy_cores():
    """A busy loop on every core of this process: the load of another job."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in os.sched_getaffinity(0)]
    yield
    for p in loops:
        p.kill()
        p.wait()


def test_a_process_started_beside_another_job_sleeps_and_does_not_keep_an_inherited_choice(busy_cores):
    assert show(clean_env()) == ["PASSIVE", "None"]
    # what an idle parent (the workflow) chose and marked is chosen again in the child, from the load now
    assert show(clean_env(GOMP_SPINCOUNT=openmp.SPIN_COUNT, **{openmp.CHOSEN: "1"})) == ["PASSIVE", "None"]


def test_the_users_setting_wins(busy_cores):
    assert show(clean_env(GOMP_SPINCOUNT="500")) == ["None", "500"]
    assert show(clean_env(OMP_WAIT_POLICY="ACTIVE")) == ["ACTIVE", "None"]
