"""`dancenow <stage> [hydra overrides]`: one command per workflow stage."""

import sys

from omegaconf import OmegaConf

from . import config as config_mod
from . import launch
from .errors import UserError

# stage name -> module whose `run(cfg)` performs it
STAGES = {
    "synth": "dancenow.synth",
    "extract": "dancenow.extract",
    "pose": "dancenow.pose.stage",
    "normalize": "dancenow.normalize",
    "train": "dancenow.train",
    "render": "dancenow.render",
    "grid": "dancenow.grid",
    "evaluate": "dancenow.evaluate",
    "compare": "dancenow.compare",
    "choreo": "dancenow.choreo.stage",
}

USAGE = f"""usage: dancenow <stage> [key=value ...] [--cfg]

stages: {', '.join(STAGES)}
Overrides use Hydra syntax, e.g. `dancenow train preset=tiny train.iterations=50`.
--cfg prints the composed config and exits."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        print(USAGE, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    stage, overrides = argv[0], argv[1:]
    launch.setup_logging(stage)
    try:
        show = "--cfg" in overrides
        cfg = config_mod.load([o for o in overrides if o != "--cfg"])
        if show:
            print(OmegaConf.to_yaml(cfg, resolve=False))
            return 0
        launch.run(stage, STAGES[stage], cfg)
    except UserError as e:
        print(f"dancenow {stage}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
