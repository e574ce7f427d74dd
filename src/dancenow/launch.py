"""Where a stage runs: `launcher=local` runs it in this process; `launcher=slurm` runs it as a Slurm job through
submitit, with the resources of `resources.<stage>` and the cluster settings of `slurm:`.

With Slurm this process submits the job and waits for it: it copies the job's log to its own stderr as the log
grows, cancels the job if it is itself interrupted, and turns a failure into one UserError that quotes the remote
error and names the job's log. Every task of the job runs the same stage code as a local run, as rank SLURM_PROCID
of SLURM_NTASKS (exported the way torchrun does: see dancenow.distributed).

Training is resumable: on Slurm's warning signal before a time limit or preemption it stops after a completed
iteration and saves; submitit then requeues the job, which resumes from that checkpoint.
"""

import copy
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import distributed
from .conf import section
from .errors import UserError

log = logging.getLogger(__name__)


def run(stage, run_stage, cfg, resumable=False):
    """Run `stage` (its function `run_stage(cfg)`) where `cfg.launcher` says. A `resumable` stage honours
    distributed.STOP: on Slurm's warning it saves and its job is requeued."""
    if cfg.launcher == "local":
        run_here(run_stage, cfg)
    else:
        run_on_slurm(stage, run_stage, cfg, resumable)


def setup_logging(stage, rank=""):
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s dancenow.{stage}{rank} %(levelname)s %(message)s",
                        stream=sys.stderr)


def setup_threads(cfg):
    import cv2

    from . import OPENMP_POLICY

    if int(cfg.threads) != 1:
        log.info(OPENMP_POLICY)
    if cfg.threads:
        cv2.setNumThreads(int(cfg.threads))
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(cfg.threads))


def run_here(run_stage, cfg):
    setup_threads(cfg)
    run_stage(cfg)


# ---- inside the job --------------------------------------------------------------------------------------------

class StageJob:
    """What every task of a Slurm job runs: the stage, in-process. A UserError comes back as the job's result."""

    def __init__(self, stage, run_stage, cfg):
        self.stage, self.run_stage, self.cfg = stage, run_stage, cfg

    def __call__(self):
        import submitit

        env = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        setup_logging(self.stage, f"[rank {env.rank}]" if env.world_size > 1 else "")
        logging.getLogger("submitit").propagate = False  # it prints its own: warnings to stderr, the rest to stdout
        try:
            run_here(self.run_stage, self.cfg)
        except UserError as e:
            return str(e)
        return None


class ResumableStageJob(StageJob):
    """A stage that stops cleanly when distributed.STOP is set. submitit's handler of Slurm's warning signal would
    checkpoint and requeue at once, wherever the training loop is; this job's handler only sets STOP, and once every
    rank has stopped after the same iteration and rank 0 has saved it, submitit's handler runs: on rank 0 it calls
    checkpoint(), requeues the job and exits; on the other ranks it returns, and they exit."""

    def __call__(self):
        import submitit

        sig = getattr(signal, "SIG" + submitit.JobEnvironment.USR_SIG)
        requeue = signal.signal(sig, lambda *_: distributed.STOP.set())
        try:
            return super().__call__()
        except distributed.Stopped:
            requeue(sig, None)
            sys.exit(0)  # no result file: the requeued job writes it

    def checkpoint(self):
        import submitit

        return submitit.helpers.DelayedSubmission(self)  # the stage itself resumes from what it saved


# ---- this side: submit and wait --------------------------------------------------------------------------------

def run_on_slurm(stage, run_stage, cfg, resumable):
    import submitit
    from submitit.core.utils import FailedJobError

    s, r = section(cfg, "slurm"), section(cfg, "resources")[stage]
    folder = Path(s["folder"]).resolve() / f"{stage}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        executor = submitit.AutoExecutor(folder, cluster="slurm", slurm_max_num_timeout=s["max_num_timeout"])
    except RuntimeError as e:
        raise UserError(f"launcher=slurm needs Slurm's commands on PATH ({e}); use launcher=local here") from None
    executor.update_parameters(
        name=f"dancenow-{stage}", nodes=r["nodes"], tasks_per_node=r["tasks_per_node"],
        gpus_per_node=r["gpus_per_node"] or None, cpus_per_task=r["cpus_per_task"], slurm_mem=f"{r['mem_mb']}MB",
        timeout_min=r["runtime"], slurm_partition=s["partition"], slurm_account=s["account"],
        slurm_qos=s["qos"], slurm_constraint=s["constraint"], slurm_setup=s["setup"] or None,
        slurm_signal_delay_s=s["signal_delay_s"], slurm_additional_parameters=s["additional"] or None)
    job_cfg = copy.deepcopy(cfg)
    job_cfg.threads = r["cpus_per_task"]  # "all cores" in a job means the job's cores
    job_class = ResumableStageJob if resumable else StageJob
    try:
        job = executor.submit(job_class(stage, run_stage, job_cfg))
    except FailedJobError as e:
        raise UserError(f"Slurm refused the {stage} job: {str(e).strip()}") from None
    log_path = job.task(0).paths.stderr
    log.info("%s runs as Slurm job %s (%d x %d tasks); its log: %s", stage, job.job_id, r["nodes"],
             r["tasks_per_node"], log_path)
    results = wait(job, log_path, s["poll_s"])
    errors = [res for res in results if res]
    if errors:
        raise UserError(f"{errors[0]}\n(Slurm job {job.job_id}; its log: {log_path})")


def wait(job, log_path, poll_s):
    """The results of every task of `job`, once it has ended; meanwhile its log is copied to stderr. If this process
    is interrupted (Ctrl-C, SIGTERM: see lifetime.die_with_workflow), the job is cancelled."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    offset, polled, queued = 0, -poll_s, ""
    try:
        while not job.done():
            offset = copy_log(log_path, offset)
            if time.monotonic() - polled >= poll_s:
                job.get_info(mode="force")  # sacct: notices a job that ended without a result
                queued = log_queue_state(job.job_id, queued)
                polled = time.monotonic()
            time.sleep(1)
    except BaseException:
        if not job.done():
            job.cancel(check=False)
            log.warning("cancelled Slurm job %s", job.job_id)
        raise
    copy_log(log_path, offset)
    state = job.state
    if state.startswith("CANCELLED") and not job.task(0).paths.result_pickle.exists():
        raise UserError(f"Slurm job {job.job_id} was cancelled ({state}) before it finished; its log: {log_path}")
    try:
        return job.results()
    except FailedJobError as e:
        raise UserError(f"Slurm job {job.job_id} failed: {remote_error(str(e))}\nits log: {log_path}") from None
    except UncompletedJobError:
        raise UserError(f"Slurm job {job.job_id} ended without a result (state {job.state}); its log: {log_path}") \
            from None


def log_queue_state(job_id, last):
    """Log the job's state in squeue, with the reason while it is pending, when it changed; the new one."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True).stdout.strip()
    state, _, reason = out.partition(" ")
    if out and out != last:
        log.info("Slurm job %s: %s%s", job_id, state, f" ({reason})" if reason not in ("", "None") else "")
    return out or last


def copy_log(path, offset):
    """Copy what was appended to `path` since `offset` to stderr; the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset
    sys.stderr.write(data.decode(errors="replace"))
    sys.stderr.flush()
    return offset + len(data)


def remote_error(message):
    """The exception line of the traceback quoted in a submitit FailedJobError."""
    trace = re.search(r"trace:\n-+\n(.*?)\n-+\n", message, re.S)
    lines = [line for line in (trace.group(1) if trace else message).splitlines() if line.strip()]
    return lines[-1] if lines else message
