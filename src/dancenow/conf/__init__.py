"""The Hydra tree shipped in the package (this folder): composing a command's config from overrides, its sections,
and what the workflow reads of it (each stage's Slurm resources, the ablation variants)."""

import dataclasses
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import UserError
from . import quoting, schema

HERE = Path(__file__).resolve().parent
ConfigStore.instance().store(name="dancenow_schema", node=schema.Config)


def load(overrides=()):
    """The composed config of `overrides` (`key=value`, `preset=tiny`, `variant=frame`), every key typed and within
    its rule; a UserError of one line that names the key otherwise. A bare path (a string key's value) may hold
    any character: it is quoted for Hydra here."""
    overrides = [quoting.bare_strings(o) for o in overrides]
    try:
        with initialize_config_dir(config_dir=str(HERE), version_base="1.3", job_name="dancenow"):
            cfg = compose(config_name="dancenow", overrides=list(overrides))
        values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except (HydraException, OmegaConfBaseException) as e:
        raise UserError(explain(e)) from None
    bad = schema.violations(values)
    if bad:
        path, value, what = bad[0]
        raise UserError(f"{path} must be {what}, not {value!r}")
    return cfg


def explain(error):
    """One line for a composition error: the key and what it must be when the cause is a value of the wrong type."""
    cause = error
    while cause is not None and getattr(cause, "full_key", None) is None:
        cause = cause.__cause__
    key = getattr(cause, "full_key", None)
    found = key and schema.schema_of(key)
    if found and getattr(cause, "value", None) is not None:
        return f"{key} must be {schema.describe(*found)}, not {cause.value!r}"
    if key and not found:
        return f"there is no config key {key} (see `dancenow <command> --help`)"
    return f"bad config override: {str(error).splitlines()[0]}"


def section(cfg, name):
    """A stage's section as a plain dict with every value resolved; a missing required key is a UserError."""
    try:
        return OmegaConf.to_container(cfg[name], resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:
        raise UserError(f"config of stage '{name}': {e}".splitlines()[0]) from None


def settings(cfg, name):
    """Another stage's section, for its settings (evaluate's and extract's pose estimator): a plain dict whose paths,
    which this stage does not set, stay missing ('???')."""
    return OmegaConf.to_container(cfg[name], resolve=True, throw_on_missing=False)


def stage_resources():
    """{stage: {nodes, tasks_per_node, gpus_per_node, cpus_per_task, mem_mb, runtime}}: the defaults of what each
    stage's Slurm job asks for."""
    return dataclasses.asdict(schema.Resources())


def variant_names():
    """The ablation variants (config group `variant`), in EDN's order: each adds a part to the one before."""
    order = ["frame", "temporal", "temporal_face"]
    found = {p.stem for p in (HERE / "variant").glob("*.yaml")}
    return [v for v in order if v in found] + sorted(found - set(order))


def help_text(stage, overrides=()):
    """Every key of a command (its section, then the common keys) with its value under `overrides` (the preset's
    unless told otherwise), what it must be and what it means."""
    values = OmegaConf.to_container(load(overrides), resolve=True, throw_on_missing=False)
    preset = next((o.split("=", 1)[1] for o in overrides if o.startswith("preset=")), "quick")
    lines = [f"usage: dancenow {stage} [key=value ...] [--cfg job]", "",
             f"keys (Hydra overrides; values with preset={preset}; ??? = required):"]

    def walk(cls, values, prefix):
        for name, tp, meta, is_section in schema.fields(cls):
            if is_section:
                walk(tp, values[name], f"{prefix}{name}.")
            else:
                shown = OmegaConf.to_yaml({"v": values[name]}).strip()[3:]
                lines.append(f"  {prefix}{name}={shown}  ({schema.describe(tp, meta)}) {meta['help']}")

    walk(typing_section(stage), values[stage], f"{stage}.")
    lines += ["", "common keys:", "  preset=quick  (tiny | demo | quick | paper) the sizes of the stages",
              "  variant=null  (frame | temporal | temporal_face) EDN's ablation variants of train"]
    common = [(n, t, m) for n, t, m, is_section in schema.fields(schema.Config) if not is_section]
    for name, tp, meta in common:
        lines.append(f"  {name}={values[name]}  ({schema.describe(tp, meta)}) {meta['help']}")
    walk(schema.Slurm, values["slurm"], "slurm.")
    walk(schema.StageResources, values["resources"][stage], f"resources.{stage}.")
    return "\n".join(lines)


def typing_section(stage):
    """The dataclass of a command's section."""
    return next(t for n, t, _, _ in schema.fields(schema.Config) if n == stage)
