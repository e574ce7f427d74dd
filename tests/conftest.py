import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SLURM_START_HINT = "bash scripts/slurm-cluster.sh install && bash scripts/slurm-cluster.sh start"


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


@pytest.fixture(scope="session")
def small_target(tmp_path_factory):
    """frames.h5 and poses.h5 of 12 real frames at 64x64: training steps of a few ms."""
    d = tmp_path_factory.mktemp("small_target")
    run_stage("extract", f"extract.input={real_data('video', 'target_woman.mp4')}", f"extract.output={d}/frames.h5",
              f"extract.audio={d}/audio.m4a", "preset_size.height=64", "preset_size.width=64", "extract.max_frames=12")
    run_stage("pose", f"pose.input={d}/frames.h5", f"pose.output={d}/poses.h5")
    return d / "frames.h5", d / "poses.h5"


# ---- two test workers (`make test`: pytest -n 2 --dist loadgroup) -----------------------------------------------

def pytest_collection_modifyitems(items):
    """The tests of the Slurm cluster and of the tiny workflow run on one worker, one after another: they wait on the
    cluster's queue and on timings (a time limit, a prompt scancel) that jobs of the other worker would delay, and
    share the tiny run, which each worker would otherwise make again. The rest fill the other core meanwhile."""
    for item in items:
        if {"slurm_cluster", "tiny_run"} & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group("cluster"))


# ---- the Slurm cluster of scripts/slurm-cluster.sh (started before pytest in CI) ---------------------------------

def _cluster_answers():
    """(ok, why). `scontrol ping` first: sinfo takes ~9 s to give up on a stopped controller."""
    try:
        for cmd in (["scontrol", "ping"], ["sinfo", "-h", "-p", "debug", "-o", "%T"]):
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            if res.returncode != 0 or not res.stdout.strip():
                why = ((res.stderr or res.stdout).strip().splitlines() or ["no output"])[0]
                return False, f"`{' '.join(cmd)}`: {why}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture(scope="session")
def slurm_cluster():
    """The cluster must answer `sinfo` (partition debug); otherwise fail under CI and skip elsewhere."""
    ok, why = _cluster_answers()
    if not ok:
        msg = f"no Slurm cluster answers ({why}); run: {SLURM_START_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def on_slurm(tmp_path, stage, *overrides):
    """Overrides that run `stage` as a Slurm job that fits the test cluster, with its files under tmp_path."""
    return ["launcher=slurm", f"slurm.folder={tmp_path}/submitit", "slurm.poll_s=2", f"resources.{stage}.mem_mb=2048",
            f"resources.{stage}.cpus_per_task=1", *overrides]


# ---- the whole workflow, tiny preset, on the real clips ----------------------------------------------------------

def snakemake(workdir, *args, profile="local", check=True, wait=True):
    """`snakemake --profile profiles/<profile>` on workdir/config.yaml (two cores for the local profile)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles" / profile), "--snakefile",
           str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
           *(["--cores", "2"] if profile == "local" else []), *args]
    if not wait:  # as a shell starts a job in the background (`&`): SIGINT ignored, in a process group of its own
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
    return res


CHOREO_SECONDS = 3  # the tiny run's made-up dance (learnt from the source's poses)
# The workflow tests' results folder and videos have names a filesystem allows and a shell or Hydra would not.
RESULTS = "résultats (été), l'an=1 [tänzer]"
VIDEOS = "vidéos d'été (1), a=b"


def workflow_video(name):
    """A real clip through a symbolic link whose folder and file names have spaces, accents, quotes, brackets, `,`,
    `=`, `$` and a backslash."""
    folder = Path(tempfile.gettempdir()) / f"dancenow-tests-{os.getuid()}" / VIDEOS
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / f"{name} ($1) \\ ü.mp4"
    try:
        link.symlink_to(real_data("video", f"{name}.mp4"))
    except FileExistsError:  # made before, or by the other test worker just now
        pass
    return str(link)


def write_config(workdir, **extra):
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = {"preset": "tiny", "results": RESULTS, "holdout": 0.2,
           "source": {"name": "dancer_man", "video": workflow_video("dancer_man")},
           "targets": [{"name": "target_woman", "video": workflow_video("target_woman")}],
           "choreo": {"seconds": CHOREO_SECONDS}, **extra}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny workflow through profiles/local (shared by the workflow and the Slurm tests)."""
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir)
    t = time.time()
    res = snakemake(workdir)
    print(f"tiny workflow: {time.time() - t:.1f} s")
    (workdir / "snakemake.stderr").write_text(res.stderr)  # for the progress line's test
    return workdir
