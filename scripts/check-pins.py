"""`make lint`: the pins of pyproject.toml and environment.yml (the clusters' and the rules' conda env, with the test
extra) are the same. Exits 1 and names the differences otherwise."""

import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def pip_list(env_file):
    deps = yaml.safe_load((REPO / env_file).read_text())["dependencies"]
    return [d for entry in deps if isinstance(entry, dict) for d in entry.get("pip", [])]


project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
expected = {
    "environment.yml": [*project["dependencies"], *project["optional-dependencies"]["test"], "-e ."],
}
bad = False
for env_file, want in expected.items():
    got = pip_list(env_file)
    for what, items in (("missing", [d for d in want if d not in got]), ("not in pyproject.toml",
                                                                          [d for d in got if d not in want])):
        if items:
            bad = True
            print(f"{env_file}: {what}: {', '.join(items)}", file=sys.stderr)
sys.exit(1 if bad else 0)
