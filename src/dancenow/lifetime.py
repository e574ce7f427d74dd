"""A stage lives only as long as the workflow that started it.

Snakemake waits for running jobs when it gets SIGTERM, ignores SIGINT when started in the background, and leaves
its jobs running when it is killed: a stage would finish and write its outputs after the workflow is gone, a second
writer beside the user's rerun. So the workflow marks itself in the environment (`mark_workflow`) and, once it
runs jobs, stops them on SIGTERM, SIGINT and SIGHUP (`stop_jobs_on_signals`); every stage it starts watches it and
stops when it is gone (`die_with_workflow`). A stage stops by SystemExit on SIGTERM: its temporaries are deleted,
a Slurm waiter cancels its job. A stage whose cleanup hangs still ends GRACE_S later, its threads' stacks in its log.
"""

import faulthandler
import os
import signal
import sys
import threading

ENV = "DANCENOW_WORKFLOW"  # "pid:start time" of the snakemake process that runs the stages
POLL_S = 1.0
GRACE_S = 10.0  # seconds a stopping stage may take to clean up


def _start_time(pid):
    """The start time of process `pid` (clock ticks since boot), None when there is no such process or it has
    ended (a zombie its parent has not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return None if fields[0] in (b"Z", b"X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def mark_workflow():
    """In the snakemake process: the stages it starts will watch it."""
    os.environ[ENV] = f"{os.getpid()}:{_start_time(os.getpid())}"


def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parent = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def stop_jobs_on_signals(log=lambda line: print(line, file=sys.stderr, flush=True)):
    """In the snakemake process, once it runs jobs: SIGTERM, SIGINT or SIGHUP sends SIGTERM to every process it
    started (and theirs), then interrupts the scheduler, which cancels the rest and exits."""

    def stop(signum, frame):
        jobs = _descendants(os.getpid())
        log(f"dancenow: {signal.Signals(signum).name}: stopping {len(jobs)} running process(es) of the workflow")
        for pid in jobs:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)


def _end_within_grace():
    """Arm faulthandler's watchdog: a C thread that needs neither the GIL nor any lock Python code could hold, so it
    fires even where the cleanup hangs in a library; it prints every thread's stack to stderr and exits (status 1)."""
    faulthandler.dump_traceback_later(GRACE_S, exit=True)


def _on_sigterm(*_):
    _end_within_grace()
    sys.exit(128 + signal.SIGTERM)


def die_with_workflow():
    """In a stage: SIGTERM exits through SystemExit (finally blocks run; at most GRACE_S); started by the workflow,
    the stage SIGTERMs itself within POLL_S of the workflow's end."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    mark = os.environ.get(ENV, "")
    pid, _, started = mark.partition(":")
    if not pid.isdigit() or int(pid) == os.getpid():
        return

    def watch():
        while str(_start_time(int(pid))) == started:  # None once it has ended
            threading.Event().wait(POLL_S)
        _end_within_grace()  # also where the main thread never gets back to Python to run the handler
        print(f"dancenow: the workflow that started this stage (pid {pid}) has ended: stopping", file=sys.stderr,
              flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="dancenow-workflow-watch", daemon=True).start()
