"""The typed config as a user meets it: wrong values refused while composing (exit 2, one line, nothing written,
no Slurm job), every command's keys in --help, the Hydra tree found by a non-editable install, variants and resources
read from the package."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO, real_data, run_stage
from dancenow import conf
from dancenow.errors import UserError


@pytest.mark.parametrize("stage, override, message", [
    ("train", "train.iterations=abc", "train.iterations must be an integer >= 0, not 'abc'"),
    ("render", "render.crf=abc", "render.crf must be an integer >= 0 and <= 51, not 'abc'"),
    ("extract", "extract.height=0", "extract.height must be an integer >= 8, even, not 0"),
    ("extract", "threads=-3", "threads must be an integer >= 0, not -3"),
    ("render", "render.crf=99", "render.crf must be an integer >= 0 and <= 51, not 99"),
    ("extract", "extract.max_frames=-1", "extract.max_frames must be"),
    ("pose", "pose.backend=posenet", "pose.backend must be one of mediapipe, openpose, not 'posenet'"),
    ("normalize", "normalize.ankle_percentile=50", "normalize.ankle_percentile must be a number >= 0 and < 50"),
    ("choreo", "choreo.bvh=salsa.bvh", "choreo.bvh must be a list ([a,b]), not 'salsa.bvh'"),
    ("train", "train.iteratons=5", "there is no config key train.iteratons"),
])
def test_a_wrong_value_is_refused_before_any_work(tmp_path, stage, override, message):
    paths = {"train": [f"train.frames={tmp_path}/f.h5", f"train.poses={tmp_path}/p.h5",
                       f"train.output={tmp_path}/out/g.pt", f"train.workdir={tmp_path}/out/work"],
             "render": [f"render.poses={tmp_path}/p.h5", f"render.checkpoint={tmp_path}/g.pt",
                        f"render.output={tmp_path}/out/g.h5", f"render.video={tmp_path}/out/g.mp4"],
             "extract": [f"extract.input={real_data('video', 'target_woman.mp4')}",
                         f"extract.output={tmp_path}/out/f.h5", f"extract.audio={tmp_path}/out/a.m4a"],
             }.get(stage, [])
    # launcher=slurm: the refusal comes before anything is submitted (no submitit folder)
    res = run_stage(stage, *paths, override, "launcher=slurm", f"slurm.folder={tmp_path}/submitit", check=False)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dancenow {stage}: error: {message}"), res.stderr
    assert list(tmp_path.iterdir()) == []


def test_typed_values_are_converted_and_ranges_hold_for_every_section():
    cfg = conf.load(["train.iterations=12", "render.crf=0", "pose.scales=[0.5,1]", "slurm.poll_s=2"])
    assert cfg.train.iterations == 12 and cfg.render.crf == 0 and list(cfg.pose.scales) == [0.5, 1.0]
    for override in ("pose.scales=[1,-2]", "resources.train.mem_mb=0", "synth.width=65", "train.face.crop=4",
                     "normalize.min_confidence=1.5", "extract.fit=stretch"):
        with pytest.raises(UserError, match=override.split("=")[0].replace(".", r"\.") + " must be"):
            conf.load([override])


def test_help_lists_the_keys_of_a_command_with_their_meaning():
    res = subprocess.run([sys.executable, "-m", "dancenow.cli", "extract", "--help"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "extract.input=???" in out and "any video OpenCV reads" in out
    assert "extract.fit=person  (one of person, pad, crop) person: the region the person moves in" in out
    assert "resources.extract.mem_mb=8192" in out and "train.iterations" not in out
    res = subprocess.run([sys.executable, "-m", "dancenow.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "commands: synth, extract, pose" in res.stderr


def test_variants_and_resources_come_from_the_package():
    assert conf.variant_names() == ["frame", "temporal", "temporal_face"]
    switches = {v: (conf.load([f"variant={v}"]).train.temporal, conf.load([f"variant={v}"]).train.face.enabled)
                for v in conf.variant_names()}
    assert switches == {"frame": (False, False), "temporal": (True, False), "temporal_face": (True, True)}
    cfg = conf.load()
    assert conf.stage_resources() == conf.section(cfg, "resources")
    assert conf.stage_resources()["train"]["gpus_per_node"] == 1 and conf.stage_resources()["extract"]["gpus_per_node"] == 0


@pytest.mark.slow
def test_a_non_editable_install_finds_its_config_from_another_folder(tmp_path):
    """`pip install .` into a fresh venv (the dependencies from this environment), then `dancenow train --cfg job`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(source)], check=True, cwd=tmp_path)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    *map(str, wheels.glob("dancenow-*.whl"))], check=True, cwd=tmp_path)
    deps = sysconfig.get_paths()["purelib"]  # this environment's packages; its editable dancenow is not on the path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=deps)
    where = subprocess.run([str(py), "-c", "import dancenow; print(dancenow.__file__)"], capture_output=True,
                           text=True, cwd=elsewhere, env=env, check=True).stdout
    assert Path(where).is_relative_to(venv), where
    res = subprocess.run([str(venv / "bin" / "dancenow"), "train", "preset=tiny", "--cfg", "job"], capture_output=True,
                         text=True, cwd=elsewhere, env=env)
    assert res.returncode == 0, res.stderr
    assert "train:" in res.stdout and "iterations: 30" in res.stdout and "ngf: 8" in res.stdout


NASTY = ["my vidéo (1).mp4", "tänzer, o'neil=1.mp4", "a b/c\\d\\'e\\", "${x} $y \\${z}", "[x],{y}:z", '"dq" é\t漢',
         "null", "'", "\\", "", " lead and trail "]


@pytest.mark.parametrize("value", NASTY)
def test_any_path_survives_hydra_quoted_and_bare(value):
    from dancenow.conf.quoting import override

    assert conf.settings(conf.load([override("extract.input", value)]), "extract")["input"] == value
    assert conf.settings(conf.load([override("grid.targets", [value, "b"])]), "grid")["targets"] == [value, "b"]
    if value and not (value[0] == value[-1] and value[0] in "'\"" and len(value) > 1):  # as typed by hand
        assert conf.settings(conf.load([f"extract.input={value}"]), "extract")["input"] == value


def test_bare_values_of_other_keys_keep_hydra_syntax():
    cfg = conf.load(["train.vgg_weights=null", "render.audio='my song.m4a'", "extract.fit=crop", "train.iterations=5"])
    assert cfg.train.vgg_weights is None and cfg.render.audio == "my song.m4a"
    assert cfg.extract.fit == "crop" and cfg.train.iterations == 5
    with pytest.raises(UserError, match="extract.fit must be one of"):
        conf.load(["extract.fit=my crop"])
