import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dancenow.conf import stage_resources, variant_names
from dancenow.synth.body import PERFORMERS

# Every optional key gets its default from the schema (nested ones too: their parents default to {}).
validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
PRESET = config["preset"]
SOURCE = config["source"]["name"]
TARGETS = [t["name"] for t in config["targets"]]
VIDEOS = {
    config["source"]["name"]: config["source"]["video"],
    **{t["name"]: t["video"] for t in config["targets"]},
}
HOLDOUT = config["holdout"]
CHOREO = config["choreo"]
# The ablation's variants (`dancenow train variant=<name>`) and what each stage's Slurm job asks for by default,
# {stage: {nodes, tasks_per_node, gpus_per_node, cpus_per_task, mem_mb, runtime}}: both from the package.
VARIANTS = variant_names()
STAGE_RESOURCES = stage_resources()

if len(VIDEOS) != 1 + len(TARGETS):
    raise WorkflowError("config: the source and every target need distinct names")


def demo_performer(path):
    """The performer whose demo video `path` is (demo/<performer>.mp4, made by the synth rule), or None."""
    parts = os.path.normpath(path).split(os.sep)
    if len(parts) == 2 and parts[0] == "demo" and path.endswith(".mp4"):
        return parts[1][:-4] if parts[1][:-4] in PERFORMERS else None
    return None


for _name, _video in VIDEOS.items():
    _performer = demo_performer(_video)
    if _performer is None and not os.path.isfile(_video):
        raise WorkflowError(
            f"config: the video of '{_name}' does not exist: {_video} "
            f"(paths are relative to {os.getcwd()})"
        )
    if _performer is not None and _performer not in config["synth_seconds"]:
        raise WorkflowError(
            f"config: synth_seconds has no length for the demo video {_video}: add {_performer}: <seconds>"
        )

if CHOREO["enabled"]:
    if not CHOREO["source_poses"] and not CHOREO["bvh"]:
        raise WorkflowError(
            "config: choreo has nothing to learn from: set choreo.source_poses: true and/or list "
            "BVH files in choreo.bvh (or choreo.enabled: false)"
        )
    for _bvh in CHOREO["bvh"]:
        if not os.path.isfile(_bvh):
            raise WorkflowError(
                f"config: the BVH file in choreo.bvh does not exist: {_bvh} "
                f"(paths are relative to {os.getcwd()})"
            )


def video_of(wildcards):
    return VIDEOS[wildcards.name]


def overrides(stage, extra=()):
    """Hydra overrides a stage gets from config.yaml (then `extra`); as a rule's params, changing them reruns just
    that stage."""
    return " ".join(f"'{o}'" for o in [*config["overrides"][stage], *extra])


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
    ablation = [f"{RESULTS}/ablation/ablation.html"] if config["ablation"] else []
    return [f"{RESULTS}/evaluate/metrics.html", *ablation]


def choreo_outputs():
    """What `all` asks of the choreography (if enabled): every target's performance of the dance and the grid."""
    if not CHOREO["enabled"]:
        return []
    return [
        f"{RESULTS}/choreo/grid.mp4",
        *expand(f"{RESULTS}/choreo/{{target}}/{{target}}.mp4", target=TARGETS),
    ]


def resources_of(stage):
    """A rule's resources: what its stage's Slurm job asks for (nodes, tasks_per_node, gpus_per_node,
    cpus_per_task, mem_mb, runtime; defaults: the package's resources.<stage>) and where the stage runs
    (launcher: local | slurm, from the config; profiles/slurm sets slurm). Resources are no rerun trigger:
    `--set-resources train:mem_mb=65536` or another profile changes the next job, not what is up to date.
    """
    return {**STAGE_RESOURCES[stage], "launcher": config["launcher"]}


def dancenow(stage):
    """The shell command of a stage: `dancenow <stage> preset=... launcher=... threads=... resources.<stage>.*=...
    <config overrides>`. Launcher and resources stay placeholders filled from the rule's resources: switching
    profiles or resources changes where and how big the stage's job is, not the rule's code (no rerun).
    """
    asked = " ".join(
        f"resources.{stage}.{k}={{resources.{k}}}" for k in STAGE_RESOURCES[stage]
    )
    return (
        f"dancenow {stage} preset={PRESET} launcher={{resources.launcher}} threads={{threads}} {asked}"
        " {params.overrides}"
    )


wildcard_constraints:
    name="[A-Za-z0-9_-]+",
    target="[A-Za-z0-9_-]+",
    variant="|".join(VARIANTS),
