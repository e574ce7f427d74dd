import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dancenow.compare import ABLATION

validate(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
config.setdefault("launcher", "local")

RESULTS = config["results"]
PRESET = config["preset"]
SOURCE = config["source"]["name"]
TARGETS = [t["name"] for t in config["targets"]]
VIDEOS = {config["source"]["name"]: config["source"]["video"], **{t["name"]: t["video"] for t in config["targets"]}}
SYNTH_PERFORMERS = ("dancer", "target_a", "target_b")
HOLDOUT = config.get("holdout", 0.0)
CHOREO = config.get("choreo", {"enabled": False})

if len(VIDEOS) != 1 + len(TARGETS):
    raise WorkflowError("config: the source and every target need distinct names")


def is_demo_video(path):
    parts = os.path.normpath(path).split(os.sep)
    return len(parts) == 2 and parts[0] == "demo" and parts[1][:-4] in SYNTH_PERFORMERS and path.endswith(".mp4")


for _name, _video in VIDEOS.items():
    if not is_demo_video(_video) and not os.path.isfile(_video):
        raise WorkflowError(f"config: the video of '{_name}' does not exist: {_video} "
                            f"(paths are relative to {os.getcwd()})")

if CHOREO["enabled"]:
    if not CHOREO["source_poses"] and not CHOREO["bvh"]:
        raise WorkflowError("config: choreo has nothing to learn from: set choreo.source_poses: true and/or list "
                            "BVH files in choreo.bvh (or choreo.enabled: false)")
    for _bvh in CHOREO["bvh"]:
        if not os.path.isfile(_bvh):
            raise WorkflowError(f"config: the BVH file in choreo.bvh does not exist: {_bvh} "
                                f"(paths are relative to {os.getcwd()})")


def video_of(wildcards):
    return VIDEOS[wildcards.name]


def overrides(stage, extra=()):
    """Hydra overrides a stage gets from config.yaml (then `extra`); as a rule's params, changing them reruns just
    that stage."""
    return " ".join(f"'{o}'" for o in [*config.get("overrides", {}).get(stage, []), *extra])


def hydra_list(items):
    """A Hydra list value: [a,b,c] (quote the whole override in the shell)."""
    return "[" + ",".join(items) + "]"


def optional_input(name):
    """A param: the path of the rule's input `name`, or null (Hydra's None) when the rule has no such input."""
    return lambda wildcards, input: input.get(name, "null")


def evaluation_outputs():
    """What `all` asks of evaluation: the metrics of every target (with holdout > 0), the ablation (if asked)."""
    if not HOLDOUT:
        return []
    return [f"{RESULTS}/evaluate/metrics.html"] + ([f"{RESULTS}/ablation/ablation.html"] if config.get("ablation") else [])


def choreo_outputs():
    """What `all` asks of the choreography (if enabled): every target's performance of the dance and the grid."""
    if not CHOREO["enabled"]:
        return []
    return [f"{RESULTS}/choreo/grid.mp4", *expand(f"{RESULTS}/choreo/{{target}}/{{target}}.mp4", target=TARGETS)]


def dancenow(stage):
    """The shell command of a stage: `dancenow <stage> preset=... launcher=... <config overrides>`. The launcher
    stays a placeholder: switching profiles changes where stages run, not the rule's code (no rerun)."""
    return f"dancenow {stage} preset={PRESET} launcher={{config[launcher]}} threads={{threads}} {{params.overrides}}"


wildcard_constraints:
    name="[A-Za-z0-9_-]+",
    target="[A-Za-z0-9_-]+",
