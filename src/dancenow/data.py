"""Training pairs for pix2pixHD: (label map, real frame) of one target person, float CHW in [-1,1]."""

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .errors import UserError
from .io import h5
from .io.atomic import atomic_path
from .labels import MIN_CONFIDENCE, draw_labels


def to_tensor(img):
    """uint8 HWC RGB -> float32 CHW in [-1,1]. In NumPy: a small torch op would wake torch's thread pool, which
    costs a scheduler time slice per op on a busy machine (3 ms each, measured)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / np.float32(127.5) - 1)


def to_image(t):
    """float CHW in [-1,1] -> uint8 HWC RGB."""
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


class PoseFrameDataset(Dataset):
    """Frames of frames.h5 paired with label maps drawn from poses.h5, for the frames where a person was found.

    The poses are read into memory at once (they are small); frames.h5 is opened lazily by whichever process reads
    the first item, so every DataLoader worker gets its own HDF5 handle. With `label_cache` (a path) the label maps
    are drawn once into that HDF5 file and read back like the frames: drawing them costs twice a cached read.
    """

    def __init__(self, frames_path, poses_path, indices=None, label_cache=None):
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
        self.poses_sha256 = h5.sha256_file(poses_path)
        self.labels_path = None
        if label_cache is not None:
            self.labels_path = str(cache_label_maps(self.poses, self.poses_sha256, self.height, self.width,
                                                    label_cache))
        self._file, self._labels, self._pid = None, None, None

    def __len__(self):
        return len(self.indices)

    def _open(self):
        if self._file is None or self._pid != os.getpid():  # first use in this process (or a forked worker)
            self._file, self._pid = h5py.File(self.frames_path, "r"), os.getpid()
            self._labels = h5py.File(self.labels_path, "r") if self.labels_path else None

    def _frames(self):
        self._open()
        return self._file["frames"]

    def label(self, i):
        """Label map (uint8 HWC) of dataset item i."""
        if self.labels_path:
            self._open()
            return self._labels["frames"][int(self.indices[i])]
        return draw_labels(self.poses, int(self.indices[i]), self.height, self.width)

    def __getitem__(self, i):
        frame = self._frames()[int(self.indices[i])]
        return to_tensor(self.label(i)), to_tensor(frame)

    def close(self):
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
            if self._labels is not None:
                self._labels.close()
        self._file, self._labels, self._pid = None, None, None

    def __getstate__(self):  # spawned workers reopen the files themselves
        state = self.__dict__.copy()
        state["_file"], state["_labels"], state["_pid"] = None, None, None
        return state


def cache_label_maps(poses, poses_sha256, height, width, path):
    """Draw every frame's label map into `path` (a frames-layout HDF5 file) unless it already holds those of
    this poses.h5 at this size. Returns the path."""
    path = Path(path)
    key = f"{poses_sha256}:{height}x{width}"
    if path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("poses_key") == key:
                    return path
        except OSError:
            pass
    n = len(poses["body"])
    with atomic_path(path) as tmp, h5.create(tmp) as f:
        ds = h5.frames_dataset(f, n, height, width)
        for i in range(n):
            ds[i] = draw_labels(poses, i, height, width)
        f.attrs["poses_key"] = key
    return path


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
