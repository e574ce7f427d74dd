"""Where a run stands. A stage's progress bars (`Bar`, a tqdm) also write their position every few seconds to the
file $DANCENOW_PROGRESS names (the workflow sets it to the rule's log + '.progress'); the workflow's `RunProgress`
reads them and prints one line for the whole run: jobs done, what runs and how far it is, an ETA.

The ETA is the work left, in seconds of the whole machine (a job on 1 of 2 cores for 10 s is 5 s of it), per job
not yet done: a training job's steps left in each phase at the step cost measured for that phase in this run
(before one is, the project's figures: dancenow.training.budget); another running job's units left at its measured
rate; a job not yet started, what a finished job of its rule cost in this run. Jobs of a rule that has not yet run
once are counted, not guessed. Where fewer jobs are left than cores, the cores left idle make it low."""

import contextlib
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tqdm import tqdm

ENV = "DANCENOW_PROGRESS"
REPORT_EVERY = 5.0  # seconds between a bar's reports
LINE_EVERY = 60.0  # seconds between the workflow's lines while nothing finishes


class Bar(tqdm):
    """tqdm that reports {desc, n, total, initial, unit, elapsed, phase} to $DANCENOW_PROGRESS: at start, every
    REPORT_EVERY seconds of updates, and at the end."""

    def __init__(self, *args, phase=None, **kwargs):
        self._report_to = os.environ.get(ENV)
        self._phase = phase
        self._reported = 0.0
        super().__init__(*args, **kwargs)
        self._report()

    def update(self, n=1):
        out = super().update(n)
        if self._report_to and time.monotonic() - self._reported >= REPORT_EVERY:
            self._report()
        return out

    def close(self):
        if not getattr(self, "_closed_report", False) and hasattr(self, "n"):
            self._closed_report = True
            self._report()
        super().close()

    def _report(self):
        if not self._report_to or self.disable:  # a disabled bar (another rank's) has no position to report
            return
        self._reported = time.monotonic()
        state = {"desc": self.desc, "n": self.n, "total": self.total, "initial": self.initial,
                 "unit": self.unit, "elapsed": time.time() - self.start_t, "phase": self._phase}
        tmp = f"{self._report_to}.{os.getpid()}.tmp"
        try:
            Path(tmp).write_text(json.dumps(state))
            os.replace(tmp, self._report_to)
        except OSError:  # a report is a courtesy: never a reason for a stage to fail
            pass


def read_report(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Job:
    """A job of the run: its rule, what it works on, its progress file, and for training its phase plan."""
    rule: str
    label: str
    report: Optional[str] = None
    plan: Optional[list] = None  # [(phase, iterations)] of a training job
    share: float = 1.0  # its threads / the workflow's cores
    started: Optional[float] = None
    finished: Optional[float] = None
    last: dict = field(default_factory=dict)


def minutes(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RunProgress:
    """The line of a whole run. `started(key)`, `finished(key)` as jobs start and end; `line()` says where the run
    stands. `jobs`: {key: Job}; `step_time(phase)`: the project's seconds per training step of the preset."""

    def __init__(self, jobs, step_time, clock=time.time):
        self.jobs = jobs
        self.step_time = step_time
        self.clock = clock
        self.t0 = clock()
        self.phase_rates = {}  # training phase -> seconds of the machine per step, measured in this run

    def started(self, key):
        if key in self.jobs:
            job = self.jobs[key]
            job.started = self.clock()
            if job.report:  # a report left by an earlier, killed run is not this job's
                with contextlib.suppress(OSError):
                    os.unlink(job.report)

    def finished(self, key):
        if key in self.jobs:
            job = self.jobs[key]
            job.finished = self.clock()
            job.started = job.started or job.finished
            if job.report:
                job.last = read_report(job.report) or job.last
                self._note_rate(job, job.last)
                with contextlib.suppress(OSError):
                    os.unlink(job.report)

    def _running(self):
        return [j for j in self.jobs.values() if j.started is not None and j.finished is None]

    def _state(self, job):
        state = read_report(job.report) if job.report and job.finished is None else None
        if state:
            job.last = state
        self._note_rate(job, job.last)
        return job.last

    def _note_rate(self, job, state):
        if job.plan and state and state.get("phase") and self._rate(state):
            self.phase_rates[state["phase"]] = self._rate(state) * job.share

    @staticmethod
    def _rate(state):
        """Seconds per unit of a bar's report, or None."""
        done = state.get("n", 0) - state.get("initial", 0)
        return state["elapsed"] / done if done > 0 and state.get("elapsed") else None

    def work_left(self, job):
        """Seconds of the whole machine the job still needs, or None where nothing measured says."""
        if job.finished is not None:
            return 0.0
        state = self._state(job) if job.started is not None else {}
        if job.plan:  # each phase's steps left at the step time measured for that phase in this run, else the table
            order = [p for p, _ in job.plan]
            current = order.index(state["phase"]) if state and state.get("phase") in order else 0
            left = 0.0
            for i, (phase, n) in enumerate(job.plan):
                todo = 0 if i < current else n - (state.get("n", 0) if i == current and state else 0)
                left += todo * (self.phase_rates.get(phase) or self.step_time(phase))
            return left
        if state and state.get("total") and self._rate(state):
            return (state["total"] - state["n"]) * self._rate(state) * job.share
        cost = [(j.finished - j.started) * j.share for j in self.jobs.values()
                if j.rule == job.rule and j.finished is not None]
        if not cost:
            return None
        return max(0.0, sum(cost) / len(cost) - (self.clock() - job.started if job.started else 0.0) * job.share)

    def line(self):
        done = sum(j.finished is not None for j in self.jobs.values())
        parts = [f"dancenow: {done} of {len(self.jobs)} jobs done, {minutes(self.clock() - self.t0)} in"]
        running = []
        for job in self._running():
            state = self._state(job)
            where = ""
            if state and state.get("total"):
                unit = "step" if job.plan else state.get("unit") or "unit"
                what = f"{state.get('phase')} " if job.plan and state.get("phase") else ""
                where = f" ({what}{unit} {state['n']} of {state['total']})"
            running.append(f"{job.label}{where}")
        if running:
            parts.append("running " + ", ".join(running))
        left = [self.work_left(j) for j in self.jobs.values() if j.finished is None]
        known = [s for s in left if s is not None]
        if left:
            untimed = len(left) - len(known)
            eta = f"about {minutes(sum(known))} left"
            if untimed:
                eta += f" + {untimed} job{'s' if untimed > 1 else ''} not yet timed"
            parts.append(eta)
        return "; ".join(parts)


class Printer:
    """Prints `progress.line()` to `stream` whenever a job ends and every `every` seconds while jobs run."""

    def __init__(self, progress, stream=sys.stderr, every=LINE_EVERY):
        self.progress, self.stream, self.every = progress, stream, every
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name="dancenow-progress", daemon=True).start()

    def print(self):
        with self._lock:
            print(self.progress.line(), file=self.stream, flush=True)

    def _loop(self):
        while True:
            time.sleep(self.every)
            if self.progress._running():
                self.print()


class SnakemakeEvents(logging.Handler):
    """Follows Snakemake's log events (JOB_INFO: a job starts; JOB_FINISHED) into a RunProgress and prints its line
    when a job ends."""

    def __init__(self, progress, printer, jobids):
        super().__init__(level=logging.INFO)
        self.progress, self.printer, self.jobids = progress, printer, jobids

    def emit(self, record):
        event = str(getattr(record, "event", ""))
        if event == "job_info" and getattr(record, "jobid", None) in self.jobids:
            self.progress.started(record.jobid)
        elif event == "job_finished" and getattr(record, "job_id", None) in self.jobids:
            self.progress.finished(record.job_id)
            self.printer.print()


def follow_workflow(workflow, preset, train_overrides, every=LINE_EVERY):
    """From a Snakefile's `onstart`: print the run's line as its jobs end and every `every` seconds. Training jobs'
    phase plans come from the preset and the config's train overrides."""
    from .conf import load, settings
    from .training.budget import step_seconds
    from .training.phases import phase_plan

    plan = phase_plan(settings(load([f"preset={preset}", *train_overrides]), "train"))
    dag = workflow.dag
    cores = max(1, int(workflow.cores or 1))
    jobs = {}
    for job in dag.needrun_jobs():
        if job.is_group() or job.rule.name == "all":
            continue
        label = " ".join([job.rule.name, *(str(v) for v in job.wildcards_dict.values())])
        log = str(job.log[0]) if job.log else None
        jobs[dag.jobid(job)] = Job(job.rule.name, label, report=f"{log}.progress" if log else None,
                                   plan=plan if job.rule.name.startswith("train") else None,
                                   share=min(1.0, max(1, job.threads) / cores))
    progress = RunProgress(jobs, lambda phase: step_seconds(preset, phase))
    printer = Printer(progress, every=every)
    logging.getLogger("snakemake.logging").addHandler(SnakemakeEvents(progress, printer, set(jobs)))
    return progress
