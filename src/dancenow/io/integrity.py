"""Whether a file the stages wrote is still what they wrote: HDF5 files carry Fletcher-32 checksums on every
dataset (h5.dataset, h5.frames_dataset), torch checkpoints are zip archives with a CRC-32 per member. A truncated
file, overwritten bytes or a file that is not what its name says is found here, before a stage uses it."""

import json
import os
import zipfile
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (frames are Blosc-compressed)

CHECKED = ".checked.json"  # in the workflow's results folder: what was found intact, by size and modification time


def problem(path):
    """None when `path` (.h5 or .pt) reads back whole, else what is wrong with it, in a few words."""
    path = Path(path)
    try:
        if path.suffix == ".pt":
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            return f"member {bad} fails its CRC-32" if bad else None
        with h5py.File(path, "r") as f:
            return _datasets_problem(f)
    except (OSError, zipfile.BadZipFile, RuntimeError, KeyError, ValueError) as e:
        return str(e).splitlines()[0] or type(e).__name__


def _datasets_problem(f):
    found = []
    f.visititems(lambda name, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    for d in found:
        try:
            if d.chunks and d.ndim:
                step = max(1, d.chunks[0])
                for i in range(0, d.shape[0], step):
                    d[i:i + step]
            else:
                d[()]
        except OSError as e:
            return f"'{d.name.lstrip('/')}' cannot be read back ({str(e).splitlines()[0]})"
    return None


def remove_damaged(folder, dry_run=False, log=print):
    """Delete every .h5 and .pt under the workflow's results `folder` that fails `problem`, so that the workflow
    makes it again (a damaged file is newer than its inputs: Snakemake alone would keep it). Files found intact are
    remembered by size and modification time in folder/.checked.json and not read again until they change.
    Returns the paths found damaged."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    checked_path = folder / CHECKED
    try:
        checked = json.loads(checked_path.read_text())
    except (OSError, ValueError):
        checked = {}
    damaged, intact = [], {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".h5", ".pt") and p.is_file()):
        rel = str(path.relative_to(folder))
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns]
        if checked.get(rel) == stamp:
            intact[rel] = stamp
            continue
        why = problem(path)
        if why is None:
            intact[rel] = stamp
            continue
        damaged.append(path)
        if dry_run:
            log(f"dancenow: {path} is damaged ({why}): a run (not a dry run) deletes it and makes it again")
        else:
            log(f"dancenow: {path} is damaged ({why}): deleted, the workflow makes it again")
            path.unlink()
    if not dry_run and intact != checked:
        tmp = checked_path.with_name(f".{CHECKED}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(intact, sort_keys=True))
            os.replace(tmp, checked_path)
        except OSError:  # a read-only or full results folder: its stages say so; this only saves time
            tmp.unlink(missing_ok=True)
    return damaged
