"""A stage ends with its workflow: cleanly, or GRACE_S later where its cleanup hangs."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from dancenow import lifetime

STAGE = textwrap.dedent("""
    import sys, time
    from dancenow import lifetime
    lifetime.GRACE_S = 2.0
    lifetime.die_with_workflow()
    try:
        print("working", file=sys.stderr, flush=True)  # inside the try: a SIGTERM right after it still cleans up
        while True:
            time.sleep(0.05)
    finally:
        print("cleaning up", file=sys.stderr, flush=True)
        if sys.argv[1] == "hangs":
            def stuck_cleanup():
                while True:
                    time.sleep(1)
            stuck_cleanup()
""")


def stage_outliving_its_workflow(cleanup):
    """(exit status, seconds from the workflow's end to the stage's, the stage's stderr)."""
    workflow = subprocess.Popen(["sleep", "600"])  # stands for the snakemake process
    env = dict(os.environ, **{lifetime.ENV: f"{workflow.pid}:{lifetime._start_time(workflow.pid)}"})
    stage = subprocess.Popen([sys.executable, "-c", STAGE, cleanup], env=env, stderr=subprocess.PIPE, text=True)
    assert stage.stderr.readline() == "working\n"
    workflow.kill()
    workflow.wait()
    t0 = time.time()
    try:
        _, err = stage.communicate(timeout=30)
    finally:
        stage.kill()
    return stage.returncode, time.time() - t0, err


def test_a_stage_cleans_up_and_ends_when_its_workflow_ends():
    code, took, err = stage_outliving_its_workflow("quick")
    assert code == 128 + signal.SIGTERM and took < lifetime.POLL_S + 1.0, (code, took, err)
    assert "has ended: stopping" in err and "cleaning up" in err and "Timeout" not in err


def test_a_stage_whose_cleanup_hangs_ends_after_the_grace_time_with_its_stacks_in_the_log():
    code, took, err = stage_outliving_its_workflow("hangs")
    assert code == 1 and 2.0 <= took < 2.0 + lifetime.POLL_S + 1.5, (code, took, err)
    assert "cleaning up" in err and "Timeout (0:00:02)!" in err and "stuck_cleanup" in err, err


def test_sigterm_from_outside_also_ends_a_hanging_cleanup():
    stage = subprocess.Popen([sys.executable, "-c", STAGE, "hangs"], stderr=subprocess.PIPE, text=True,
                             env={k: v for k, v in os.environ.items() if k != lifetime.ENV})
    assert stage.stderr.readline() == "working\n"
    t0 = time.time()
    stage.send_signal(signal.SIGTERM)
    try:
        _, err = stage.communicate(timeout=30)
    finally:
        stage.kill()
    assert stage.returncode == 1 and time.time() - t0 < 2.0 + 1.5 and "stuck_cleanup" in err, err
