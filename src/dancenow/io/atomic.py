"""Write to a temporary name next to the final one and rename: a killed job never leaves a half file; a full or
read-only disk is one line that names the folder."""

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path

from ..errors import StorageError, UserError

FULL = 1 << 20  # a folder with less free space than this is taken for full when a write to it failed


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path in the same folder; on success rename it to `final`, on any error delete it."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final)
        yield tmp
        os.replace(tmp, final)
    except BaseException as e:
        written = tmp.stat().st_size if tmp.is_file() else 0
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        _raise_as_storage_error(e, final, written)


@contextlib.contextmanager
def atomic_dir(final):
    """Yield a new temporary folder next to `final`; on success it replaces `final` (an older one is deleted), on any
    error it is deleted."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        yield tmp
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as e:
        written = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else 0
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_as_storage_error(e, final / "x", written)


def _raise_as_storage_error(e, final, written):
    """Re-raise a failed write's error `e` as a StorageError where the disk is the cause, else as it is."""
    why = storage_error(e, final, written)
    if why is None:
        raise e
    raise why from None


def _errno(e):
    """The errno of an OSError, also where h5py's message carries it ("errno = 28")."""
    if getattr(e, "errno", None):
        return e.errno
    found = re.search(r"errno = (\d+)", str(e))
    return int(found.group(1)) if found else None


def _size(n):
    return f"{n / 2**20:.1f} MB" if n < 2**30 else f"{n / 2**30:.1f} GB"


def storage_error(e, final=None, written=0):
    """A StorageError for a write of `final` (by default the file the error names) that failed on a full or read-only
    disk (or a folder not the user's to write), None for any other failure. Writers whose errors lose the errno
    (ffmpeg through a pipe) are judged by the folder's free space."""
    if isinstance(e, UserError) or not isinstance(e, Exception):
        return None
    if final is None:
        named = getattr(e, "filename", None) or re.search(r"filename = '([^']+)'", str(e))
        if not named:
            return None
        final = named if isinstance(named, (str, os.PathLike)) else named.group(1)
    folder = Path(final).parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    code = _errno(e)
    try:
        st = os.statvfs(existing)
        free, readonly = st.f_bavail * st.f_frsize, bool(st.f_flag & os.ST_RDONLY)
    except OSError:
        free, readonly = None, False
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or (readonly and code is None):
        why = "it is on a read-only disk" if readonly or code == errno.EROFS else "permission denied"
        return StorageError(f"cannot write in {folder}: {why}; choose a results folder you can write to")
    if code in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < FULL and code in (None, errno.EPIPE)):
        left = f"{_size(free)} free" if free is not None else "full"
        return StorageError(f"no space left in {folder} ({left}): {Path(final).name} needs more than the "
                         f"{_size(written)} written; free some space, or choose another results folder")
    return None


def save_torch(obj, path):
    """torch.save to a temporary name, fsync, rename: the final name only ever holds a complete file."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # to a file object: the archive's inner name does not depend on the temporary name
        f.flush()
        os.fsync(f.fileno())


def remove_stale_temporaries(final):
    """Delete the temporaries of `final` that killed writers left behind (those whose process is gone)."""
    final = Path(final)
    for p in final.parent.glob(f".{final.name}.*.tmp"):
        pid = p.name[len(final.name) + 2:-len(".tmp")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            alive = int(pid) != os.getpid()
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            p.unlink(missing_ok=True)
