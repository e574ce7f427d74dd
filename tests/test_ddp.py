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
from dancenow import train
from dancenow.data import PoseFrameDataset

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
    G_ddp, ddp = train.load_generator(ddp_dir / "generator.pt")
    G_one, one = train.load_generator(one_dir / "generator.pt")
    assert ddp["iteration"] == one["iteration"] == ITERATIONS
    # the same samples every iteration: the same losses (rank 0 logs the mean over the ranks)
    for a, b in zip(ddp["history"], one["history"], strict=True):
        assert a.keys() == b.keys()
        np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-5, atol=1e-7)
    # The same parameters. Adam divides each gradient by its own running magnitude, so where the true gradient is 0
    # (a conv bias followed by InstanceNorm) or nearly so, rounding noise, which differs with the summation order,
    # becomes steps of up to +-lr. So: the generator's weights to float tolerance, every parameter within the
    # steps Adam can take, ...
    bound = 2 * ddp["train"]["lr"] * ITERATIONS
    for name in ("generator", "discriminator"):
        a, b = (torch.load(d / "work" / "latest.pt", weights_only=True)[name] for d in (ddp_dir, one_dir))
        for k in a:
            diff = (a[k] - b[k]).abs().max().item()
            assert diff < bound, (name, k, diff)
            if name == "generator" and k.endswith("weight"):
                assert diff < 1e-6, (k, diff)
    # ... and the same function, to float tolerance (the noisy biases are the ones InstanceNorm cancels)
    ds = PoseFrameDataset(*data)
    with torch.no_grad():
        for i in range(len(ds)):
            label = ds[i][0][None]
            torch.testing.assert_close(G_ddp(label), G_one(label), rtol=0, atol=1e-4)


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
