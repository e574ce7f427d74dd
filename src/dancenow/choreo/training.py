"""The choreography network of a stage run: trained on the sources' motion features, or the one saved at
`choreo.model` reused when it was trained with the same training settings, seed and source files (a sha256 of them
is stored with it)."""

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import torch

from ..errors import UserError
from ..io.atomic import save_torch
from ..io.weights import torch_load_error
from . import model as model_mod

log = logging.getLogger(__name__)

TRAIN_KEYS = ("hidden", "layers", "window", "batch_size", "iterations", "lr", "auto_condition", "select_every",
              "select_seconds", "temperature")  # temperature: the model selection's free runs use it


def training_key(c, seed, sources, source_sha256):
    """sha256 of the training settings, the seed, the fps and the sources' contents (in order)."""
    key = {"train": {k: c[k] for k in TRAIN_KEYS}, "seed": int(seed), "fps": float(c["fps"]),
           "sources": [[kind, sha] for (kind, _, _), sha in zip(sources, source_sha256)]}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def load_cached(path, key):
    """(model, history) of the model file at `path` if it was trained under `key`, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("key") != key:
            log.info("model %s was trained with other settings or sources: training anew", path)
            return None
        cfg = saved["config"]
        net = model_mod.ChoreoNet(saved["dim"], cfg["hidden"], cfg["layers"], cfg["cell"])
        net.load_state_dict(saved["state_dict"])
    except Exception as e:  # an unreadable or foreign file is retrained over, not fatal
        log.warning("model %s is not a usable choreo model (%s): training anew", path, torch_load_error(e))
        return None
    net.eval()
    return net, {"loss": list(saved["loss"]), "config": cfg, "iteration": saved["iteration"],
                 "checks": saved["checks"]}


def train_or_reuse(c, seed, sources, source_sha256, features):
    key = training_key(c, seed, sources, source_sha256)
    cached = load_cached(c["model"], key)
    if cached is not None:
        log.info("reusing the trained model %s (same training settings and sources)", c["model"])
        return cached[0], cached[1], True
    cfg = model_mod.ChoreoConfig(hidden=c["hidden"], layers=c["layers"], window=c["window"],
                                 batch_size=c["batch_size"], iterations=c["iterations"], lr=c["lr"],
                                 auto_condition=c["auto_condition"], select_every=c["select_every"],
                                 select_seconds=c["select_seconds"], select_temperature=c["temperature"], seed=seed)
    if max(len(f) for f in features) < cfg.window + 1:
        raise UserError(f"choreo: no source has the {cfg.window + 1} frames of a training window at "
                        f"{c['fps']} fps (longest: {max(len(f) for f in features)}); lower choreo.window")
    log.info("training the choreography network: %d iterations, %d x %d %s", cfg.iterations, cfg.layers,
             cfg.hidden, cfg.cell)
    net, history = model_mod.train(features, c["fps"], cfg)
    save_torch({"key": key, "config": dataclasses.asdict(cfg), "dim": net.dim, "state_dict": net.state_dict(),
                "loss": [float(x) for x in history["loss"]], "iteration": history["iteration"],
                "checks": history.get("checks", [])}, c["model"])
    log.info("training loss %.4f -> %.4f; saved %s", history["loss"][0], history["loss"][-1], c["model"])
    return net, history, False
