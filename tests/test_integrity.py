"""Bit rot: a damaged intermediate is found and named before a stage uses it, and the workflow makes it again."""

import re
import shutil

import h5py
import numpy as np
import pytest
import torch

from conftest import RESULTS, run_stage, snakemake
from dancenow.errors import UserError
from dancenow.io import integrity
from dancenow.io import poses as poses_io
from dancenow.models.checkpoint import read_checkpoint, write_checkpoint


def overwrite_inside(path, dataset, data=b"\xff" * 16, chunk=0):
    """Overwrite bytes in the middle of a stored chunk of `dataset`, as a failing disk would."""
    with h5py.File(path, "r") as f:
        d = f[dataset]
        if d.chunks:
            info = d.id.get_chunk_info(chunk)
            where, size = info.byte_offset, info.size
        else:
            where, size = d.id.get_offset(), d.id.get_storage_size()
    with open(path, "r+b") as f:
        f.seek(where + size // 2)
        f.write(data)


def test_overwritten_bytes_in_poses_fail_their_checksum_through_the_stage(small_target, tmp_path):
    _, poses = small_target
    damaged = tmp_path / "poses.h5"
    shutil.copy(poses, damaged)
    overwrite_inside(damaged, "body")
    assert "body" in integrity.problem(damaged) and integrity.problem(poses) is None
    res = run_stage("normalize", f"normalize.source={damaged}", f"normalize.target={poses}",
                    f"normalize.output={tmp_path}/out/normalized.h5", f"normalize.plot={tmp_path}/out/n.png",
                    check=False)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"dancenow normalize: error: source poses file {damaged} is damaged (")
    assert last.endswith("delete it; the workflow makes it again") and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_truncated_frames_file_is_named_by_the_stage(small_target, tmp_path):
    frames, _ = small_target
    damaged = tmp_path / "frames.h5"
    damaged.write_bytes(frames.read_bytes()[: frames.stat().st_size * 2 // 3])
    res = run_stage("pose", f"pose.input={damaged}", f"pose.output={tmp_path}/poses.h5", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"frames file {damaged} is" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "poses.h5").exists()


@pytest.mark.parametrize("value", [np.nan, 1e38, -np.inf])
def test_keypoints_no_camera_makes_are_refused_where_they_are_read(small_target, tmp_path, value):
    """A file without checksums (written by another tool, or before they existed) is checked by its values."""
    _, poses = small_target
    foreign = tmp_path / "poses.h5"
    shutil.copy(poses, foreign)
    with h5py.File(foreign, "r+") as f:
        body = f["body"][()]
        body[5, 4, 0] = value
        del f["body"]
        f.create_dataset("body", data=body)  # no fletcher32: only the value check can see it
    assert integrity.problem(foreign) is None
    with pytest.raises(UserError, match="poses file .* is damaged: 'body' keypoint 4 of frame 5 is "
                       + re.escape(f"[{value:.4g}, ")):
        poses_io.read_poses(foreign)
    body[5, 4, 0] = 10.0
    body[6, 2, 2] = 7.0  # a confidence above 1
    with h5py.File(foreign, "r+") as f:
        del f["body"]
        f.create_dataset("body", data=body)
    with pytest.raises(UserError, match=r"'body' keypoint 2 of frame 6 .*confidence 0-1"):
        poses_io.read_poses(foreign)


def test_a_checkpoint_with_overwritten_bytes_fails_its_crc(tmp_path):
    path = tmp_path / "generator.pt"
    write_checkpoint(path, meta={}, generator={"w": torch.arange(4096, dtype=torch.float32)})
    assert integrity.problem(path) is None and read_checkpoint(path)["generator"]["w"][5] == 5
    data = bytearray(path.read_bytes())
    at = data.find(torch.arange(4096, dtype=torch.float32).numpy().tobytes()[4000:4016])
    assert at > 0
    data[at:at + 4] = b"\x00\x00\x80\x7f"  # one weight becomes +inf
    path.write_bytes(bytes(data))
    assert "CRC" in integrity.problem(path)
    with pytest.raises(UserError, match=r"generator.pt is damaged \(member .* fails its CRC-32\)"):
        read_checkpoint(path)


def test_the_workflow_makes_a_damaged_intermediate_again(tiny_run, tmp_path):
    """frames.h5 truncated after the run is newer than its video: the dry run names it and leaves it; the run
    deletes it and extracts it again, to the same bytes (what depends on it is then older, and is remade: omitted
    here)."""
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    frames = work / RESULTS / "videos" / "dancer_man" / "frames.h5"
    intact = frames.read_bytes()
    frames.write_bytes(intact[: len(intact) // 2])
    named = f"{RESULTS}/videos/dancer_man/frames.h5 is damaged ("
    dry = snakemake(work, "--dry-run")
    assert named in dry.stderr and "a run (not a dry run) deletes it" in dry.stderr
    assert frames.stat().st_size == len(intact) // 2
    run = snakemake(work, "--omit-from", "pose")
    assert named in run.stderr and "deleted, the workflow makes it again" in run.stderr
    assert frames.read_bytes() == intact
    again = snakemake(work, "--dry-run", "--omit-from", "pose")
    assert "damaged" not in again.stderr
