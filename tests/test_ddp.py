"""DDP training: 2 gloo ranks with batch 1 each train as 1 process with batch 2 on the same samples.

The ranks are two `dancenow train` processes with torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, ...), or
the two tasks of one Slurm job, for which the launcher exports the same variables.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import on_slurm, run_stage
from dancenow.models.checkpoint import load_performer
from dancenow.io import poses as poses_io
from dancenow.generation import generate

ITERATIONS = 4


def train_args(data, out, batch_size):
    frames, poses = data
    return ["preset=tiny", f"train.frames={frames}", f"train.poses={poses}", f"train.output={out}/generator.pt",
            f"train.workdir={out}/work", f"train.iterations={ITERATIONS}", "train.log_every=1",
            f"train.batch_size={batch_size}", "threads=1"]


@pytest.fixture(scope="module")
def one_process(small_target, tmp_path_factory):
    """The reference: one process, batch 2."""
    out = tmp_path_factory.mktemp("one_process")
    run_stage("train", *train_args(small_target, out, 2))
    return out


def assert_trains_alike(ddp_dir, one_dir, data):
    """Both phases (the temporally smoothed generator, then the face GAN) train alike."""
    P_ddp, ddp = load_performer(ddp_dir / "generator.pt")
    P_one, one = load_performer(one_dir / "generator.pt")
    assert ddp["iteration"] == one["iteration"] == ITERATIONS
    assert [h["phase"] for h in ddp["history"]] == ["main"] * ITERATIONS + ["face"] * 10  # tiny: 10 face iterations
    # the same samples every iteration: the same losses (rank 0 logs the mean over the ranks). The face GAN works on
    # the output of the main generator, which differs by rounding noise (see below): a looser tolerance there.
    for a, b in zip(ddp["history"], one["history"], strict=True):
        assert a.keys() == b.keys() and a["phase"] == b["phase"]
        keys = [k for k in a if k != "phase"]
        main = a["phase"] == "main"  # different samples would differ by percents there
        np.testing.assert_allclose([a[k] for k in keys], [b[k] for k in keys], rtol=5e-4 if main else 3e-2,
                                   atol=1e-6 if main else 2e-3)
    # The same parameters. Adam divides each gradient by its own running magnitude, so where the true gradient is 0
    # (a conv bias followed by InstanceNorm) or nearly so, rounding noise, which differs with the summation order,
    # becomes steps of up to +-lr. So: every parameter within the steps Adam can take, ...
    latest = [torch.load(d / "work" / "latest.pt", weights_only=True) for d in (ddp_dir, one_dir)]
    pairs = [("main G", *(c["done"]["main"] for c in latest), ITERATIONS),
             *((f"face {n}", *(c["nets"][n] for c in latest), 10) for n in ("F", "FD"))]
    for name, a, b, steps in pairs:
        bound = 2 * ddp["lr"] * steps
        for k in a:
            diff = (a[k] - b[k]).abs().max().item()
            assert diff < bound, (name, k, diff)
    # ... and the same function, to a few levels of 255 (measured with resize upsampling and the plate: 0.95 on
    # average on the first frame, 8 at its worst pixel, 1.0 on average over the sequence, 2.0 with the face GAN,
    # which trains on the main generator's slightly different frames)
    poses = poses_io.read_poses(data[1])
    n = len(poses["body"])
    with_face = [np.stack(list(generate(P, poses, range(n), 64, 64, "cpu"))).astype(int) for P in (P_ddp, P_one)]
    for P in (P_ddp, P_one):
        P.face = None
    main_only = [np.stack(list(generate(P, poses, range(n), 64, 64, "cpu"))).astype(int) for P in (P_ddp, P_one)]
    first = np.abs(main_only[0][0] - main_only[1][0])  # the first frame (no previous output) ...
    assert first.mean() < 2 and first.max() <= 10
    assert np.abs(main_only[0] - main_only[1]).mean() < 4  # ... then each output fed into the next amplifies it
    assert np.abs(with_face[0] - with_face[1]).mean() < 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_of_batch_1_train_as_one_process_of_batch_2(small_target, one_process, tmp_path):
    port = str(free_port())
    ranks = [subprocess.Popen([sys.executable, "-m", "dancenow.cli", "train", *train_args(small_target, tmp_path, 1)],
                              stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], errs[0][-3000:] + errs[1][-3000:]
    assert "batch 1 x 2 ranks" in errs[0] and "it 1/" not in errs[1]  # rank 0 alone logs
    assert_trains_alike(tmp_path, one_process, small_target)


@pytest.mark.usefixtures("slurm_cluster")
def test_two_tasks_of_a_slurm_job_train_as_one_process_of_batch_2(small_target, one_process, tmp_path):
    res = run_stage("train", *train_args(small_target, tmp_path, 1),
                    *on_slurm(tmp_path, "train", "resources.train.tasks_per_node=2"))
    assert "batch 1 x 2 ranks" in res.stderr
    assert_trains_alike(tmp_path, one_process, small_target)


RANK_SCRIPT = """
import torch, torch.distributed as dist
from dancenow.training.readback import LossWindow, StopVote
dist.init_process_group("gloo")
rank, cpu = dist.get_rank(), torch.device("cpu")
vote = StopVote(cpu)
answers = [vote(rank == 1 and it >= 3) for it in range(1, 7)]
window = LossWindow(("G", "D"), cpu, {"G": 1.0, "D": 0.0, "steps": 1})  # as resumed from a checkpoint
window.add({"G": torch.tensor(2.0 * (rank + 1)), "D": torch.tensor(float(rank))})
window.agree(2)
print(answers, window.state())
dist.destroy_process_group()  # (without it gloo may abort one rank at exit)
"""


def test_ranks_agree_to_stop_one_iteration_after_the_first_is_told_and_on_the_mean_losses():
    """Rank 1 alone is told to stop in iteration 3: both ranks answer "stop" from iteration 4 on (the vote is read one
    iteration late, so that the host need not wait for the step queued after it). Each rank's summed losses become
    their mean over the ranks, as every rank must hold the window rank 0 saves."""
    port = str(free_port())
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                                                  MASTER_PORT=port))
             for r in range(2)]
    outs = [p.communicate(timeout=120) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], outs
    expected = "[False, False, False, True, True, True] {'G': 4.0, 'D': 0.5, 'steps': 2}"
    assert [out.strip() for out, _ in outs] == [expected, expected]
