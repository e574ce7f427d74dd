"""Where a run stands: the stages' bars report to a file, the workflow's line adds them up into jobs done and an ETA."""

import io
import json
import os
import time

import pytest

from dancenow import progress
from dancenow.progress import Bar, Job, RunProgress


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def report(path, **state):
    path.write_text(json.dumps({"desc": "", "n": 0, "total": None, "initial": 0, "elapsed": 0.0, "phase": None,
                                **state}))


def test_a_bar_reports_its_position_to_the_file_the_workflow_names(tmp_path, monkeypatch):
    path = tmp_path / "train.log.progress"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setattr(progress, "REPORT_EVERY", 0.0)
    with Bar(total=10, initial=2, desc="train main", phase="main", file=io.StringIO()) as bar:
        assert json.loads(path.read_text())["n"] == 2  # at start: a stale report of an earlier run is replaced
        for _ in range(5):
            time.sleep(0.01)
            bar.update(1)
        state = json.loads(path.read_text())
        assert (state["n"], state["total"], state["initial"], state["phase"]) == (7, 10, 2, "main")
        assert state["elapsed"] >= 0.04
    assert list(tmp_path.iterdir()) == [path]  # no temporary left
    for _ in Bar(range(4), desc="extract", file=io.StringIO()):  # an iterated bar reports too, at the end at least
        pass
    assert json.loads(path.read_text())["n"] == 4


def test_without_the_variable_a_bar_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    for _ in Bar(range(3), file=io.StringIO()):
        pass
    assert not os.listdir(tmp_path)


def test_the_line_counts_jobs_and_adds_measured_times(tmp_path):
    clock = Clock()
    plan = [("main", 100), ("face", 20)]
    jobs = {1: Job("extract", "extract a", report=str(tmp_path / "1")),
            2: Job("extract", "extract b", report=str(tmp_path / "2")),
            3: Job("train", "train a", report=str(tmp_path / "3"), plan=plan),
            4: Job("train", "train b", report=str(tmp_path / "4"), plan=plan),
            5: Job("grid", "grid", report=str(tmp_path / "5"))}
    run = RunProgress(jobs, lambda phase: {"main": 0.5, "face": 0.25}[phase], clock=clock)
    # nothing measured yet: the trainings at the project's step times, extract and grid not yet timed
    assert run.line() == ("dancenow: 0 of 5 jobs done, 0 s in; about 1 min 50 s left + 3 jobs not yet timed")
    run.started(1)
    clock.t += 10
    report(tmp_path / "1", desc="extract", unit="frame", n=50, total=100, elapsed=10.0)  # 0.2 s a frame: 10 s to go
    assert "running extract a (frame 50 of 100)" in run.line()
    assert run.work_left(jobs[1]) == pytest.approx(10.0)
    clock.t += 10
    run.finished(1)
    assert not (tmp_path / "1").exists()  # the finished job's report is gone
    assert run.work_left(jobs[2]) == pytest.approx(20.0)  # the other extract: as long as the first took
    run.started(2)
    clock.t += 5
    assert run.work_left(jobs[2]) == pytest.approx(15.0)
    run.finished(2)
    run.started(3)
    clock.t += 30
    report(tmp_path / "3", desc="train main", n=60, total=100, elapsed=30.0, phase="main")  # 0.5 s a step
    line = run.line()
    assert line.startswith("dancenow: 2 of 5 jobs done, 55 s in; running train a (main step 60 of 100)")
    assert run.work_left(jobs[3]) == pytest.approx(40 * 0.5 + 20 * 0.25)  # main measured, face from the table
    report(tmp_path / "3", desc="train face", n=10, total=20, elapsed=2.0, phase="face")  # 0.2 s a face step
    assert run.work_left(jobs[3]) == pytest.approx(10 * 0.2)
    assert run.work_left(jobs[4]) == pytest.approx(100 * 0.5 + 20 * 0.2)  # the next: each phase as measured
    assert line.endswith("+ 1 job not yet timed")  # grid
    run.finished(3)
    run.started(4)
    run.finished(4)
    run.started(5)
    run.finished(5)
    assert run.line() == f"dancenow: 5 of 5 jobs done, {progress.minutes(clock.t - 1000.0)} in"


def test_jobs_side_by_side_count_their_share_of_the_cores(tmp_path):
    """Two trainings on 1 of 2 cores each: 0.6 s a step each is 0.3 s of the machine; a 1-core render that took 40 s
    cost 20."""
    clock = Clock()
    plan = [("main", 100)]
    jobs = {1: Job("train", "train a", report=str(tmp_path / "1"), plan=plan, share=0.5),
            2: Job("train", "train b", report=str(tmp_path / "2"), plan=plan, share=0.5),
            3: Job("render", "render a", share=0.5),
            4: Job("render", "render b", share=0.5),
            5: Job("grid", "grid", share=1.0)}
    run = RunProgress(jobs, lambda phase: 0.4, clock=clock)
    assert run.work_left(jobs[1]) == pytest.approx(100 * 0.4)  # the table's step time is the whole machine's
    run.started(1)
    run.started(2)
    clock.t += 30
    report(tmp_path / "1", desc="train main", n=50, total=100, elapsed=30.0, phase="main")  # 0.6 s a step
    report(tmp_path / "2", desc="train main", n=40, total=100, elapsed=30.0, phase="main")  # 0.75 s a step
    assert run.work_left(jobs[1]) == pytest.approx(50 * 0.3)
    assert run.work_left(jobs[2]) == pytest.approx(60 * 0.375)
    run.finished(1)
    run.finished(2)
    run.started(3)
    clock.t += 40
    run.finished(3)
    assert run.work_left(jobs[4]) == pytest.approx(20.0)
    run.started(4)
    clock.t += 10
    assert run.work_left(jobs[4]) == pytest.approx(15.0)
    assert run.line().endswith("about 15 s left + 1 job not yet timed")
