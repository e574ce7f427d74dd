"""A full or read-only disk under the outputs: one line that names the folder, nothing left behind."""

import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import real_data, run_stage, snakemake, write_config


@contextlib.contextmanager
def small_disk(size="1m"):
    """A tmpfs of `size` (mounting needs root: the CI machine is)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    where = Path(tempfile.mkdtemp(prefix="dancenow-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
        where.rmdir()


def extract_into(folder):
    return run_stage("extract", f"extract.input={real_data('video', 'dancer_man.mp4')}", "preset=tiny",
                     "extract.fit=pad", f"extract.output={folder}/frames.h5", f"extract.audio={folder}/audio.m4a",
                     check=False)


def error_line(res):
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    return res.stderr.strip().splitlines()[-1]


def test_a_full_disk_is_one_line_and_leaves_nothing():
    with small_disk("1m") as disk:
        line = error_line(extract_into(disk / "results"))
        assert line == (f"dancenow extract: error: no space left in {disk}/results (0.0 MB free): frames.h5 needs "
                        "more than the 1.0 MB written; free some space, or choose another results folder")
        assert [p.name for p in (disk / "results").iterdir()] == []


def test_a_full_disk_under_a_checkpoint_is_one_line(small_target, tmp_path):
    frames, poses = small_target
    with small_disk("64k") as disk:
        res = run_stage("train", "preset=tiny", f"train.frames={frames}", f"train.poses={poses}",
                        "train.iterations=2", "train.face.enabled=false", f"train.workdir={tmp_path}/work",
                        f"train.output={disk}/generator.pt", check=False)
        line = error_line(res)
        assert line.startswith(f"dancenow train: error: no space left in {disk} (") and "generator.pt needs" in line
        assert list(disk.iterdir()) == []


def test_a_read_only_disk_is_one_line():
    with small_disk("1m") as disk:
        (disk / "results").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for folder in (disk / "results", disk / "results" / "new"):
            assert error_line(extract_into(folder)) == (f"dancenow extract: error: cannot write in {folder}: it is "
                                                        "on a read-only disk; choose a results folder you can write to")
        assert list((disk / "results").iterdir()) == []


def test_the_workflow_on_a_full_disk_ends_in_that_line(tmp_path):
    """The real pair's extracts into a results folder on a 1 MB disk: each log holds the one line, no final file."""
    with small_disk("1m") as disk:
        write_config(tmp_path, results=str(disk / "results"))
        res = snakemake(tmp_path, check=False)
        assert res.returncode != 0
        out = res.stdout + res.stderr
        assert "Bus error" not in out and "Segmentation fault" not in out and "core dumped" not in out
        logs = list((disk / "results" / "logs" / "extract").glob("*.log"))
        assert logs, out[-3000:]
        for log in logs:
            text = log.read_text()
            assert "Traceback" not in text and re.search(
                rf"dancenow extract: error: no space left in {re.escape(str(disk))}/results/videos/\w+ \(0\.\d MB free\): "
                r"frames\.h5 needs more than the \d\.\d MB written", text), text[-2000:]
        assert not list((disk / "results").rglob("*.h5")) and not list((disk / "results").rglob("*.tmp"))
