import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def real_data(*parts):
    """Path of a file in ../shared/data; a missing file fails the test under CI and skips it elsewhere."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        msg = f"real test data missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run_stage(stage, *overrides, check=True):
    """Run `dancenow <stage>` as a user would, in a subprocess. Returns the CompletedProcess."""
    res = subprocess.run([sys.executable, "-m", "dancenow.cli", stage, *overrides], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise AssertionError(f"dancenow {stage} failed ({res.returncode}):\n{res.stderr[-4000:]}")
    return res
