"""Training pairs for pix2pixHD: (label map, real frame) of one target person, float CHW in [-1,1]."""

import os

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .errors import UserError
from .io import h5
from .labels import MIN_CONFIDENCE, draw_labels


def to_tensor(img):
    """uint8 HWC RGB -> float32 CHW in [-1,1]."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def to_image(t):
    """float CHW in [-1,1] -> uint8 HWC RGB."""
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


class PoseFrameDataset(Dataset):
    """Frames of frames.h5 paired with label maps drawn from poses.h5, for the frames where a person was found.

    The poses are read into memory at once (they are small); frames.h5 is opened lazily by whichever process reads
    the first item, so every DataLoader worker gets its own HDF5 handle.
    """

    def __init__(self, frames_path, poses_path, indices=None):
        self.frames_path = str(frames_path)
        with h5.open_input(frames_path, "frames") as f:
            if "frames" not in f or f["frames"].ndim != 4 or f["frames"].shape[3] != 3:
                raise UserError(f"{frames_path} has no 'frames' dataset of RGB frames [N,H,W,3]")
            self.n_frames, self.height, self.width = f["frames"].shape[:3]
            self.video_sha256 = str(f.attrs.get("video_sha256", ""))
        poses = h5.read_poses(poses_path)
        missing = [k for k in h5.POSE_PARTS if k not in poses]
        if missing:
            raise UserError(f"{poses_path} is not a poses.h5: it lacks {', '.join(missing)}")
        n_poses = len(poses["body"])
        if n_poses != self.n_frames:
            raise UserError(f"{poses_path} has {n_poses} frames of poses but {frames_path} has {self.n_frames} "
                            f"frames: the poses must come from these frames")
        attrs = poses["attrs"]
        if "height" in attrs and (int(attrs["height"]), int(attrs["width"])) != (self.height, self.width):
            raise UserError(f"{poses_path} was estimated on {int(attrs['width'])}x{int(attrs['height'])} frames "
                            f"but {frames_path} holds {self.width}x{self.height} frames")
        self.poses = {k: np.asarray(poses[k]) for k in h5.POSE_PARTS}
        person = (self.poses["body"][:, :, 2] >= MIN_CONFIDENCE).any(axis=1)
        if indices is None:
            indices = np.flatnonzero(person)
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise UserError(f"{poses_path} has no frame with a person in it: nothing to train on")
        if self.indices.min() < 0 or self.indices.max() >= self.n_frames:
            raise UserError(f"frame indices out of range 0..{self.n_frames - 1}")
        self.n_without_person = int((~person).sum())
        self._file, self._pid = None, None

    def __len__(self):
        return len(self.indices)

    def _frames(self):
        if self._file is None or self._pid != os.getpid():  # first use in this process (or a forked worker)
            self._file, self._pid = h5py.File(self.frames_path, "r"), os.getpid()
        return self._file["frames"]

    def label(self, i):
        """Label map (uint8 HWC) of dataset item i."""
        return draw_labels(self.poses, int(self.indices[i]), self.height, self.width)

    def __getitem__(self, i):
        frame = self._frames()[int(self.indices[i])]
        return to_tensor(self.label(i)), to_tensor(frame)

    def close(self):
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __getstate__(self):  # spawned workers reopen the file themselves
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None
        return state


class ShuffleSampler(Sampler):
    """An endless stream of dataset indices, a fresh permutation per epoch drawn from (seed, epoch) alone.

    `start` skips that many samples, so a resumed run draws exactly what the uninterrupted run would have. For DDP,
    each of `world_size` ranks takes every world_size-th sample.
    """

    def __init__(self, n, seed, start=0, rank=0, world_size=1):
        self.n, self.seed, self.start, self.rank, self.world_size = n, int(seed), int(start), rank, world_size

    def __iter__(self):
        pos = self.start * self.world_size + self.rank
        while True:
            epoch, offset = divmod(pos, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            while offset < self.n:
                yield int(perm[offset])
                offset += self.world_size
                pos += self.world_size
            # pos now points into the next epoch

    def __len__(self):  # endless; DataLoader only asks for it in messages
        return 2 ** 62
