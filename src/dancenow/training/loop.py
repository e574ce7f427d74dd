"""One phase's training loop: steps, loss logging (log lines, TensorBoard, the checkpoint's history), sample
images, periodic checkpoints and stopping when told to.

DDP: with several ranks every rank trains the networks wrapped in DistributedDataParallel on its own batch_size
samples of the same (seed, epoch) stream; rank 0 alone logs and writes files; the logged losses are the means over
the ranks. When dancenow.distributed.STOP is set (the Slurm launcher sets it on Slurm's warning before a time limit
or preemption), every rank stops after the same completed iteration (with several ranks, the one after), rank 0
saves and Stopped is raised. An ordinary iteration reads nothing back from the device (see readback).
"""

import sys
import time

import torch
from torch.utils.data import DataLoader

from ..distributed import STOP, Stopped, rank_and_size
from ..images import to_device
from ..progress import Bar
from .data import ShuffleSampler, resident_batches, resident_bytes
from .phases import global_frozen, n_params, set_learning_rate, wrap
from .readback import LossWindow, StopVote


def train_phase(phase, start, window, c, seed, device, world, is_main, info, writer, history, save):
    """Iterations start+1 .. phase.iterations of one phase: steps, loss logging, samples, checkpoints, stopping.
    `window`: the losses summed since the last log line of a resumed run (LossWindow.state; None: a fresh one)."""
    ds = phase.dataset
    sample_item = phase.batch(to_device({k: v[None] for k, v in ds[len(ds) // 2].items()}, device))
    ds.close()  # workers open their own handles
    sampler = ShuffleSampler(len(ds), seed, start * c["batch_size"], rank_and_size()[0], world)
    if on_device(c["data_on_device"], ds, device):
        info("phase %s: its %.2f GiB of frames and label maps copied to %s (train.data_on_device)", phase.name,
             resident_bytes(ds) / 2**30, device)
        batches = resident_batches(ds, sampler, c["batch_size"], device)
    else:
        batches = iter(DataLoader(ds, batch_size=c["batch_size"], drop_last=True, num_workers=c["num_workers"],
                                  sampler=sampler, pin_memory=device.type == "cuda",
                                  generator=torch.Generator().manual_seed(seed)))
    window = LossWindow(phase.losses, device, window)
    vote = StopVote(device) if world > 1 else None
    decaying = round(c["lr_decay"] * phase.iterations)
    info("phase %s: %d samples, %d iterations%s, networks %s", phase.name, len(ds), phase.iterations,
         f" (the last {decaying} at a linearly falling learning rate)" if decaying else "",
         ", ".join(f"{k} {n_params(m):.2f}M" for k, m in phase.nets.items()))
    for m in phase.nets.values():
        m.train()
    wrap(phase, c, start + 1, world, device)
    bar = Bar(total=phase.iterations, initial=start, desc=f"train {phase.name}", phase=phase.name, unit="it", dynamic_ncols=True,
               disable=not is_main, mininterval=0.5 if sys.stderr.isatty() else 30)  # batch logs: rarely
    t0, t0_it = time.perf_counter(), start
    try:
        for it in range(start + 1, phase.iterations + 1):
            if it > start + 1 and global_frozen(phase, c, it - 1) != global_frozen(phase, c, it):
                info("iteration %d: the global generator trains too from now on", it)
                wrap(phase, c, it, world, device)
            batch = phase.batch(to_device(next(batches), device))
            set_learning_rate(phase, c, it, world)
            window.add(phase.step(phase, batch))
            stop = vote(STOP.is_set()) if vote else STOP.is_set()
            bar.update(1)
            log_line = it % c["log_every"] == 0
            checkpoint = it % c["checkpoint_every"] == 0 and it < phase.iterations
            stopping = stop and it < phase.iterations
            if log_line or checkpoint or stopping:
                window.agree(world)
            if log_line:
                entry = window.means()
                history.append({"phase": phase.name, "iteration": it, **entry})
                sec = (time.perf_counter() - t0) / max(1, it - t0_it)
                t0, t0_it = time.perf_counter(), it
                info("%s it %d/%d  %s  %.3f s/it", phase.name, it, phase.iterations,
                     "  ".join(f"{k} {v:.4f}" for k, v in entry.items()), sec)
                if writer:
                    for k, v in entry.items():
                        writer.add_scalar(f"{phase.name}/{k}", v, phase.offset + it)
                    writer.add_scalar(f"{phase.name}/sec_per_iteration", sec, phase.offset + it)
            if writer and it % c["sample_every"] == 0:
                with torch.no_grad():
                    images = phase.sample(phase, sample_item)
                grid = (torch.cat([x[0].float() for x in images], dim=2).clamp(-1, 1) + 1) / 2
                writer.add_image(f"{phase.name}: label | generated | real", grid.cpu(), phase.offset + it)
            if is_main and checkpoint:
                save(it, window.state())
                if writer:
                    writer.flush()
            if stopping:
                if is_main:
                    save(it, window.state())
                info("told to stop: saved iteration %d of phase %s", it, phase.name)
                raise Stopped(it)
    finally:
        bar.close()


def on_device(setting, ds, device):
    """Whether the phase's batches are drawn from a copy of its data on the device (train.data_on_device; null: on
    a GPU when the copy takes at most a quarter of its memory)."""
    if setting is not None:
        return setting
    return device.type == "cuda" and resident_bytes(ds) <= torch.cuda.get_device_properties(device).total_memory / 4


def tb_writer(logdir, start):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir), purge_step=start)  # forget what a killed run logged after `start`
