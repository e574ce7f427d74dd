"""Write to a temporary name next to the final one and rename: a killed job never leaves a half file."""

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path in the same folder; on success rename it to `final`, on any error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):  # left by a killed earlier run
        stale.unlink(missing_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

