"""Write to a temporary name next to the final one and rename: a killed job never leaves a half file."""

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path in the same folder; on success rename it to `final`, on any error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
