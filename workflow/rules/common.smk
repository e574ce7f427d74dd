import os
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dancenow.conf import stage_resources, variant_names
from dancenow.conf.quoting import override as hydra_override
from dancenow.io.integrity import remove_damaged
from dancenow.lifetime import mark_workflow, stop_jobs_on_signals
from dancenow.progress import follow_workflow
from dancenow.synth.body import PERFORMERS

# Every optional key gets its default from the schema (nested ones too: their parents default to {}).
validate(config, "../schemas/config.schema.yaml", set_default=True)

RESULTS = config["results"]
PRESET = config["preset"]
SOURCE = config["source"]["name"]
TARGETS = [t["name"] for t in config["targets"]]
# The targets' trainings side by side, the cores shared: on 2 cores two 1-thread trainings made 13 % more steps
# than one 2-thread training at a time (0.66 s a step each vs 0.38 s; README, Benchmarks)
TRAIN_THREADS = max(1, workflow.cores // max(1, len(TARGETS)))
# The choreography network on the cores the trainings leave, at least one, so that it runs beside other jobs. Asking
# for every core held it back until both were free, after the evaluations: its two threads made 1.3x the speed of one
# while the other jobs waited.
CHOREO_THREADS = max(1, workflow.cores - TRAIN_THREADS * len(TARGETS))
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


# Any other character a filesystem allows works in these paths (the rules quote them for Hydra and the shell).
for _what, _path in [
    ("results", RESULTS),
    *VIDEOS.items(),
    *(("choreo.bvh", b) for b in CHOREO["bvh"]),
]:
    if "{" in _path or "}" in _path:
        raise WorkflowError(
            f"config: the path of {_what} has a brace, which Snakemake reads as a wildcard: {_path} "
            "(rename it, or point to it through a symbolic link without braces)"
        )

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


def only_looking(argv):
    """Whether snakemake was asked to show, not run (a dry run, the report, a graph, a listing, the linter): it is not
    yet known to the workflow object while the Snakefile is read."""
    looks = (
        "--dry-run",
        "--dryrun",
        "--report",
        "--dag",
        "--rulegraph",
        "--filegraph",
        "--summary",
        "--detailed-summary",
        "--lint",
        "--list",
        "--list-rules",
        "--list-target-rules",
        "--d3dag",
    )
    return any(
        a.split("=")[0] in looks or (a[:1] == "-" and a[1:2] != "-" and "n" in a[1:])
        for a in argv[1:]
    )


# A damaged intermediate (truncated, overwritten bytes) is newer than its inputs: delete it so that it is made again
# (rule all asks for the ones a rule makes; what depends on them is then older than they are, and is remade too).
DAMAGED = remove_damaged(
    RESULTS,
    dry_run=only_looking(sys.argv),
    log=lambda line: print(line, file=sys.stderr),
)


# The stages this process starts stop when it ends; once it runs jobs, SIGTERM, SIGINT and SIGHUP stop them at once.
mark_workflow()


onstart:
    stop_jobs_on_signals()
    follow_workflow(workflow, PRESET, config["overrides"]["train"])


def video_of(wildcards):
    return VIDEOS[wildcards.name]


def overrides(stage, extra=()):
    """Hydra overrides a stage gets from config.yaml (then `extra`); as a rule's params, changing them reruns just
    that stage."""
    return " ".join(shlex.quote(o) for o in [*config["overrides"][stage], *extra])


def paths(keys):
    """A stage's paths as overrides, {key: a path, a list of paths or None (null)}: each path quoted for Hydra, then
    the whole override for the shell, so that any name a filesystem allows works (spaces, accents, brackets).
    """
    return " ".join(
        shlex.quote(hydra_override(key, value)) for key, value in keys.items()
    )


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


def export_outputs():
    """What `all` asks of the export (if enabled): every target's pose video and OpenPose JSON, of the source's dance
    and of the made-up one."""
    if not config["export"]:
        return []
    dances = ["", "choreo/"] if CHOREO["enabled"] else [""]
    return [
        f"{RESULTS}/export/{dance}{target}/{what}"
        for dance in dances
        for target in TARGETS
        for what in ("pose.mp4", "openpose")
    ]


def resources_of(stage):
    """A rule's resources: what its stage's Slurm job asks for (nodes, tasks_per_node, gpus_per_node,
    cpus_per_task, mem_mb, runtime; defaults: the package's resources.<stage>) and where the stage runs
    (launcher: local | slurm, from the config; profiles/slurm sets slurm). Resources are no rerun trigger:
    `--set-resources train:mem_mb=65536` or another profile changes the next job, not what is up to date.
    """
    return {**STAGE_RESOURCES[stage], "launcher": config["launcher"]}


def dancenow(stage, extra=""):
    """The shell command of a stage: `DANCENOW_PROGRESS=<log>.progress dancenow <stage> preset=... launcher=...
    threads=... resources.<stage>.*=... <extra> <config overrides> <paths>`, its output to the rule's log, its
    progress bars' position to <log>.progress (the run's progress line: dancenow.progress); every rule has the
    params `overrides` and `paths`. Launcher and resources stay placeholders filled from the rule's resources:
    switching profiles or resources changes where and how big the stage's job is, not the rule's code (no rerun).
    """
    asked = " ".join(
        f"resources.{stage}.{k}={{resources.{k}}}" for k in STAGE_RESOURCES[stage]
    )
    return (
        f"DANCENOW_PROGRESS={{log:q}}.progress dancenow {stage} preset={PRESET}"
        f" launcher={{resources.launcher}} threads={{threads}} {asked} {extra} {{params.overrides}} {{params.paths}} > {{log:q}} 2>&1"
    )


wildcard_constraints:
    name="[A-Za-z0-9_-]+",
    target="[A-Za-z0-9_-]+",
    variant="|".join(VARIANTS),
