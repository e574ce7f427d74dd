"""JSON results (metrics.json, normalization stats): NumPy values made JSON-safe, written atomically."""

import json
from pathlib import Path

import numpy as np

from .atomic import atomic_path


def json_safe(x):
    """Plain Python of nested dicts, lists and NumPy scalars; nan and inf (no shared keypoint, identical frames) as
    null, so the file stays valid JSON."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def write_json(path, obj):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")
