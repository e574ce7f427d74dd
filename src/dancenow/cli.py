"""`dancenow <command> [hydra overrides]`: one command per workflow stage, and the one place that imports a stage."""

import importlib
import logging
import os
import sys

from omegaconf import OmegaConf

from . import conf, launch, lifetime
from .errors import StorageError, UserError
from .io.atomic import storage_error

COMMANDS = ("synth", "extract", "pose", "normalize", "check", "train", "render", "grid", "export", "evaluate",
            "compare", "choreo")

USAGE = f"""usage: dancenow <command> [key=value ...] [--cfg job] [--help]

commands: {', '.join(COMMANDS)}
Overrides use Hydra syntax, e.g. `dancenow train preset=tiny train.iterations=50`.
`dancenow <command> --help` lists the command's keys; --cfg job prints the composed config and exits."""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, args = argv[0], argv[1:]
    show = "--cfg" in args
    overrides = [a for a in args if a not in ("--cfg", "-h", "--help") and not (show and a in ("job", "all"))]
    launch.setup_logging(command)
    lifetime.die_with_workflow()
    try:
        if "-h" in args or "--help" in args:
            print(conf.help_text(command, overrides))
            return 0
        cfg = conf.load(overrides)
        if show:
            print(OmegaConf.to_yaml(cfg, resolve=False))
            return 0
        stage = importlib.import_module(f"dancenow.stages.{command}")
        launch.run(command, stage.run, cfg, resumable=getattr(stage, "RESUMABLE", False))
    except UserError as e:
        print(f"dancenow {command}: error: {e}", file=sys.stderr)
        if isinstance(e, StorageError):
            leave(2)
        return 2
    except OSError as e:  # a write outside atomic_path (a work folder, a log) to a full or read-only disk
        why = storage_error(e)
        if why is None:
            raise
        print(f"dancenow {command}: error: {why}", file=sys.stderr)
        leave(2)
    return 0


def leave(status):
    """Exit now, without the exit handlers (see errors.StorageError)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
