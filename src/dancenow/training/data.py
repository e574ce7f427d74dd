"""Training samples for pix2pixHD and EDN: label maps and real frames of one target person."""

import itertools
import os
from pathlib import Path

import cv2
import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..errors import UserError
from ..face import face_boxes
from ..images import to_tensor
from ..io import h5
from ..io.atomic import atomic_path
from ..io.poses import POSE_PARTS, read_poses
from ..keypoints import has_person
from ..labels import STYLE as LABEL_STYLE
from ..labels import draw_labels


class PoseFrameDataset(Dataset):
    """Frames of frames.h5 paired with label maps drawn from poses.h5: the training samples of one target person.

    An item is a dict of uint8 CHW tensors (`images.to_device` makes them float in [-1,1]): `label` and `real` of
    frame t; with `temporal`, also `label_prev` and `real_prev` of frame t-1 (EDN's temporal smoothing trains on consecutive pairs); with
    `face_crop` (a size in pixels), `face_box`: the top-left corner of the face crop of frame t (see dancenow.face).

    Items are the frames in `frames` (default: all) that have a person, and for `temporal` a person in the
    previous frame too, and for `face_crop` a face. `scale` > 1 makes samples at 1/scale of the stored size (the
    coarse phase of coarse-to-fine training): frames area-averaged, label maps drawn from scaled keypoints.

    The poses are read into memory at once (they are small); frames.h5 is opened lazily by whichever process reads
    the first item, so every DataLoader worker gets its own HDF5 handle. With `label_cache` (a path) the label maps
    are drawn once into that HDF5 file and read back like the frames: drawing them costs twice a cached read.
    """

    def __init__(self, frames_path, poses_path, frames=None, label_cache=None, temporal=False, scale=1,
                 face_crop=None, poses_sha256=None, limb_width=0.0):
        self.frames_path = str(frames_path)
        with h5.open_input(frames_path, "frames") as f:
            if "frames" not in f or f["frames"].ndim != 4 or f["frames"].shape[3] != 3:
                raise UserError(f"{frames_path} has no 'frames' dataset of RGB frames [N,H,W,3]")
            self.n_frames, self.stored_height, self.stored_width = f["frames"].shape[:3]
            self.video_sha256 = str(f.attrs.get("video_sha256", ""))
        poses = read_poses(poses_path)
        n_poses = len(poses["body"])
        if n_poses != self.n_frames:
            raise UserError(f"{poses_path} has {n_poses} frames of poses but {frames_path} has {self.n_frames} "
                            f"frames: the poses must come from these frames")
        attrs = poses["attrs"]
        if (int(attrs["height"]), int(attrs["width"])) != (self.stored_height,
                                                                                  self.stored_width):
            raise UserError(f"{poses_path} was estimated on {int(attrs['width'])}x{int(attrs['height'])} frames "
                            f"but {frames_path} holds {self.stored_width}x{self.stored_height} frames")
        self.scale, self.temporal = int(scale), bool(temporal)
        self.height, self.width = self.stored_height // self.scale, self.stored_width // self.scale
        self.poses = {k: np.asarray(poses[k]) for k in POSE_PARTS}
        if self.scale > 1:  # pixel centres: x' = (x + 0.5) / scale - 0.5, confidence unchanged
            for k in POSE_PARTS:
                xy = self.poses[k][..., :2]
                self.poses[k] = np.concatenate([(xy + 0.5) / self.scale - 0.5, self.poses[k][..., 2:]], axis=-1)
        person = has_person(self.poses["body"])
        self.n_without_person = int((~person).sum())
        allowed = np.zeros(self.n_frames, bool)
        allowed[np.arange(self.n_frames) if frames is None else np.asarray(frames, np.int64)] = True
        usable = allowed & person
        if self.temporal:
            usable[1:] &= usable[:-1].copy()
            usable[0] = False
        self.face_crop, self.limb_width = face_crop, float(limb_width)
        if face_crop is not None:
            self.boxes, has_face = face_boxes(self.poses, face_crop, self.height, self.width)
            usable &= has_face
        self.indices = np.flatnonzero(usable)
        if len(self.indices) == 0:
            need = " and a person in the frame before" if self.temporal else ""
            raise UserError(f"{poses_path} has no frame with a person{need} in it among the training frames: "
                            f"nothing to train on")
        self.poses_sha256 = poses_sha256 or h5.sha256_file(poses_path)  # a caller with several datasets hashes once
        self.labels_path = None
        if label_cache is not None:
            self.labels_path = str(cache_label_maps(self.poses, self.poses_sha256, self.height, self.width,
                                                    label_cache, self.limb_width))
        self._file, self._labels, self._pid = None, None, None

    def __len__(self):
        return len(self.indices)

    def _open(self):
        if self._file is None or self._pid != os.getpid():  # first use in this process (or a forked worker)
            self._file, self._pid = h5py.File(self.frames_path, "r"), os.getpid()
            self._labels = h5py.File(self.labels_path, "r") if self.labels_path else None

    def frame(self, t):
        """Stored frame t (uint8 HWC) at this dataset's size."""
        self._open()
        img = self._file["frames"][t]
        if self.scale > 1:
            img = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return img

    def label_of(self, t):
        """Label map (uint8 HWC) of frame t at this dataset's size."""
        if self.labels_path:
            self._open()
            return self._labels["frames"][t]
        return draw_labels(self.poses, t, self.height, self.width, self.limb_width)

    def label(self, i):
        """Label map (uint8 HWC) of dataset item i."""
        return self.label_of(int(self.indices[i]))

    def __getitem__(self, i):
        t = int(self.indices[i])
        item = {"label": to_tensor(self.label_of(t)), "real": to_tensor(self.frame(t))}
        if self.temporal:
            item["label_prev"], item["real_prev"] = to_tensor(self.label_of(t - 1)), to_tensor(self.frame(t - 1))
        if self.face_crop is not None:
            item["face_box"] = torch.from_numpy(self.boxes[t])
        return item

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


def cache_label_maps(poses, poses_sha256, height, width, path, limb_width=0.0):
    """Draw every frame's label map into `path` (a frames-layout HDF5 file) unless it already holds those of
    this poses.h5 at this size in this drawing style. Returns the path."""
    path = Path(path)
    key = f"{poses_sha256}:{height}x{width}:{LABEL_STYLE}:limbs={float(limb_width):g}"
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
            ds[i] = draw_labels(poses, i, height, width, limb_width)
        f.attrs["poses_key"] = key
    return path


def resident_bytes(ds):
    """Bytes of the frames and label maps `resident_batches` keeps of `ds` (uint8)."""
    return 2 * len(frames_used(ds)) * 3 * ds.height * ds.width


def frames_used(ds):
    """The frames whose images and label maps the items of `ds` read (with temporal pairs, each one's previous)."""
    return np.unique(np.concatenate([ds.indices, ds.indices - 1]) if ds.temporal else ds.indices)


def resident_batches(ds, sampler, batch_size, device):
    """The batches a DataLoader over `ds` draws with `sampler` (same keys, values and order), from every frame and
    label map the dataset uses, copied to `device` once as uint8 [N,3,H,W]: in the training loop a batch is an index
    into them, with no reading, decoding or copying per sample on the host. A batch's rows go to the device from
    pinned memory without waiting (a plain copy from the host would wait for the GPU to finish the previous step);
    the face boxes stay on the host, which slices the crops."""
    used = frames_used(ds)
    row = np.full(ds.n_frames, -1, np.int64)
    row[used] = np.arange(len(used))
    store = {k: torch.empty((len(used), 3, ds.height, ds.width), dtype=torch.uint8, device=device)
             for k in ("label", "real")}
    for r, t in enumerate(used.tolist()):
        store["label"][r] = to_tensor(ds.label_of(t))
        store["real"][r] = to_tensor(ds.frame(t))
    ds.close()
    order = iter(sampler)
    pinned = device.type == "cuda"

    def rows_on_device(rows):
        rows = torch.from_numpy(rows)
        return (rows.pin_memory() if pinned else rows).to(device, non_blocking=pinned)

    while True:
        t = ds.indices[np.fromiter(itertools.islice(order, batch_size), np.int64, batch_size)]
        rows = rows_on_device(row[t])
        batch = {"label": store["label"][rows], "real": store["real"][rows]}
        if ds.temporal:
            prev = rows_on_device(row[t - 1])
            batch["label_prev"], batch["real_prev"] = store["label"][prev], store["real"][prev]
        if ds.face_crop is not None:
            batch["face_box"] = torch.from_numpy(ds.boxes[t])
        yield batch


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
