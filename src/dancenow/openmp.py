"""How torch's OpenMP threads wait between parallel regions, chosen once at start from the load on this process's
cores (libgomp reads the setting when torch loads it, so it cannot change later).

Measured on 2 cores, quick preset, seconds per training step (benchmarks/step_time.py): idle, threads that sleep at
once (OMP_WAIT_POLICY=PASSIVE) 0.91 s, threads that spin 10,000 times first 0.49 s; with a second training on the
cores, sleeping 0.90 s, spinning 1.81 s (official pix2pixHD under libgomp's default, 300,000 spins, 5.2x slower
than dancenow there: benchmarks/pix2pixhd_side_by_side.py). So: spin on
idle cores, sleep on busy ones. A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. What this module chose is marked
(CHOSEN), so that a process started later (a stage the workflow runs) chooses again from the load at its own start
instead of inheriting the choice.
"""

import os
import sys
import time

SPIN_COUNT = "10000"
BUSY = 0.3  # mean busy fraction of this process's cores above which they count as taken by another job
SAMPLE_SECONDS = 0.2
CHOSEN = "DANCENOW_OPENMP_CHOSEN"


def cpu_times(cpus):
    """{cpu: (busy jiffies, total jiffies)} of the given cpus from /proc/stat (Linux); {} elsewhere."""
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3].isdigit()]
    except OSError:
        return {}
    out = {}
    for name, *values in lines:
        cpu = int(name[3:])
        if cpu in cpus:
            v = [int(x) for x in values[:8]]  # user nice system idle iowait irq softirq steal
            out[cpu] = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v))
    return out


def busy_fraction(before, after):
    """Mean busy fraction of the cpus over two cpu_times samples (None if nothing was measured)."""
    busy = [(after[c][0] - before[c][0]) / (after[c][1] - before[c][1])
            for c in before if c in after and after[c][1] > before[c][1]]
    return sum(busy) / len(busy) if busy else None


def decide(busy):
    """(environment to set, why) for a measured busy fraction of our cores (None: unknown, keep sleeping)."""
    if busy is not None and busy < BUSY:
        why = f"the cores were idle at start ({busy:.0%} busy): idle threads spin {int(SPIN_COUNT):,} times first"
        return {"GOMP_SPINCOUNT": SPIN_COUNT}, why
    why = "unknown load" if busy is None else f"{busy:.0%} busy"
    return {"OMP_WAIT_POLICY": "PASSIVE"}, f"the cores were in use at start ({why}): idle threads sleep at once"


def choose(environ=os.environ):
    """Set the wait policy in `environ` unless the user set one; return a line saying what and why."""
    if environ.pop(CHOSEN, None):
        environ.pop("OMP_WAIT_POLICY", None)
        environ.pop("GOMP_SPINCOUNT", None)
    if "torch" in sys.modules:
        return "OpenMP wait policy: torch was loaded before dancenow, with the environment's"
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return (f"OpenMP wait policy as set: OMP_WAIT_POLICY={environ.get('OMP_WAIT_POLICY', 'unset')}, "
                f"GOMP_SPINCOUNT={environ.get('GOMP_SPINCOUNT', 'unset')}")
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    before = cpu_times(cpus)
    if before:
        time.sleep(SAMPLE_SECONDS)
    settings, why = decide(busy_fraction(before, cpu_times(cpus)) if before else None)
    environ.update(settings, **{CHOSEN: "1"})
    return f"OpenMP: {why} (set OMP_WAIT_POLICY or GOMP_SPINCOUNT to choose)"
