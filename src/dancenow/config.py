"""The Hydra tree in config/: composing a stage's config from overrides."""

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def config_dir():
    """config/ of the checkout, or DANCENOW_CONFIG_DIR."""
    return Path(os.environ.get("DANCENOW_CONFIG_DIR", ROOT / "config")).resolve()


def load(overrides=()):
    """Compose the full config with Hydra overrides (`key=value`, `preset=tiny`)."""
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name="dancenow"):
            cfg = compose(config_name="dancenow", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise UserError(f"bad config override: {e}") from None
    return cfg


def section(cfg, name):
    """A stage's section as a plain dict with every value resolved; a missing required key is a UserError."""
    try:
        out = OmegaConf.to_container(cfg[name], resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as e:
        raise UserError(f"config of stage '{name}': {e}".splitlines()[0]) from None
    return out
