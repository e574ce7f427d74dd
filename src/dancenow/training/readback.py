"""What the training loop reads back from the device, and when: reading a value computed on a GPU makes the host
wait until the GPU has run everything queued before it, after which the GPU idles while the host queues the next
step. So the loop reads nothing back in an ordinary iteration: the losses are summed on the device and read at log
lines and checkpoints, and the ranks' vote on stopping is read one iteration late.
"""

import torch
import torch.distributed as dist


class LossWindow:
    """The losses of the steps since the last log line, summed on the device (float64, in step order: the sums a
    host would make of the values read step by step).

    With several ranks each rank sums its own; `agree` replaces every rank's sums by their mean over the ranks, the
    sum of the per-step means (all ranks call it, at the same iteration)."""

    def __init__(self, names, device, saved=None):
        """`saved`: a window as `state` returned it (a resumed run's), or None."""
        saved = saved or {}
        self.names, self.steps = tuple(names), int(saved.get("steps", 0))
        self.sums = torch.tensor([float(saved.get(k, 0.0)) for k in self.names], dtype=torch.float64, device=device)

    def add(self, losses):
        self.sums += torch.stack([losses[k] for k in self.names]).double()
        self.steps += 1

    def agree(self, world):
        if world > 1:
            dist.all_reduce(self.sums)
            self.sums /= world

    def state(self):
        """{loss: sum, ..., "steps": n}, read back: what a checkpoint keeps to go on with this window."""
        return dict(zip(self.names, self.sums.tolist())) | {"steps": self.steps}

    def means(self):
        """{loss: mean over the window's steps}, read back; the window starts again empty."""
        out = {k: v / max(1, self.steps) for k, v in zip(self.names, self.sums.tolist())}
        self.sums.zero_()
        self.steps = 0
        return out


class StopVote:
    """Whether any of the ranks was told to stop, the same answer on every rank: each iteration's votes are summed
    across the ranks on the device and copied to the host without waiting; the answer given at an iteration is the
    previous iteration's vote, whose copy has landed by then (on a GPU this waits for that vote alone, not for the
    step queued after it). So all ranks stop after the same iteration, one after the one in which the first of them
    was told."""

    def __init__(self, device):
        self.device, self.pending = device, None

    def __call__(self, stop):
        vote = torch.full((1,), float(stop), device=self.device)  # a fill on the device: no copy from the host
        dist.all_reduce(vote)
        if self.device.type == "cuda":
            host, landed = torch.empty(1, pin_memory=True), torch.cuda.Event()
            host.copy_(vote, non_blocking=True)
            landed.record()
        else:
            host, landed = vote, None
        previous, self.pending = self.pending, (host, landed)
        if previous is None:
            return False
        host, landed = previous
        if landed is not None:
            landed.synchronize()
        return bool(host[0] > 0)
