"""What a stage may ask of the job it runs in: its rank among the job's tasks, a process group over them, and
whether the job has been told to stop.

Ranks come from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), which the Slurm
launcher exports in every task of a job; without them a stage is rank 0 of 1.
"""

import contextlib
import os
import threading

# Set by the Slurm launcher when Slurm warns that the job is about to hit its time limit or be preempted. A stage
# that can resume polls it between units of work, saves a consistent state and raises Stopped.
STOP = threading.Event()


class Stopped(Exception):
    """The stage saved its state at `iteration` and stopped because STOP was set: run it again to resume."""

    def __init__(self, iteration):
        super().__init__(f"stopped at iteration {iteration}; the next run resumes from there")
        self.iteration = iteration


def rank_and_size():
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def local_rank():
    return int(os.environ.get("LOCAL_RANK", 0))


@contextlib.contextmanager
def process_group(backend, timeout=None):
    """torch.distributed over the tasks of the job (env:// initialization); yields (rank, world_size). A single
    task gets no process group."""
    rank, size = rank_and_size()
    if size == 1:
        yield 0, 1
        return
    import torch.distributed as dist

    dist.init_process_group(backend, rank=rank, world_size=size, **({"timeout": timeout} if timeout else {}))
    try:
        yield rank, size
    finally:
        dist.destroy_process_group()


def barrier():
    """Wait until every task of the job gets here (inside process_group, with several tasks)."""
    import torch.distributed as dist

    dist.barrier()
