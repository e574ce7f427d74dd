"""The commands of `dancenow`: one module per command, each a `run(cfg)` that only the CLI imports."""
