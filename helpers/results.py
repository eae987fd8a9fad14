"""``build/results.json``: what a run of the course measured.

Lessons and the lesson runner each add their part with :func:`update_results`;
nested dictionaries are merged, so nobody overwrites somebody else's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.config import Config


def results_path(cfg: Config) -> Path:
    """Where the results file lives."""
    return cfg.build_dir / "results.json"


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_results(cfg: Config) -> dict[str, Any]:
    """The results recorded so far (empty when there are none)."""
    path = results_path(cfg)
    return json.loads(path.read_text()) if path.exists() else {}


def update_results(cfg: Config, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the results file and return the whole.

    The file belongs to one profile: results from another profile are replaced.
    """
    old = read_results(cfg)
    if old.get("profile") != cfg.profile:
        old = {}  # results of another profile are not mixed with these
    merged = _merge(old, {"profile": cfg.profile, **values})
    path = results_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return merged


#: What a complete run (lessons 01-07) records, as dotted paths.
REQUIRED_KEYS: tuple[str, ...] = (
    "profile", "backbone", "image_size", "test_accuracy",
    *(f"phases.{phase}.{key}" for phase in ("transfer", "finetune")
      for key in ("epochs", "seconds", "best_val_accuracy")),
)


def missing_keys(results: dict[str, Any]) -> list[str]:
    """The entries of :data:`REQUIRED_KEYS` that ``results`` lacks."""
    missing = []
    for dotted in REQUIRED_KEYS:
        node: Any = results
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(dotted)
                break
            node = node[part]
    return missing
