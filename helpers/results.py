"""``build/results.json``: what a run of the course measured.

Lessons and the lesson runner each add their part with :func:`update_results`;
nested dictionaries are merged, so nobody overwrites somebody else's numbers.
A phase that starts again removes its old numbers, and those of what was built
on it, with :func:`forget_results`.
The file belongs to one run identity (:func:`helpers.data.run_identity`:
profile, backbone, image size, split, seed, archive), recorded in it as
``identity``: numbers of another identity are dropped, never mixed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helpers.config import Config
from helpers.data import run_identity
from helpers.files import write_text_atomic


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


def _read(cfg: Config) -> dict[str, Any]:
    path = results_path(cfg)
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:  # damaged (it is written whole, so only by hand): start afresh
        return {}


def read_results(cfg: Config) -> dict[str, Any]:
    """The results this run identity has recorded so far (empty when there are none).

    Results of another profile, backbone, image size, split, seed or archive
    do not count: a lesson that compares with them would compare two runs.
    """
    return _of_identity(_read(cfg), run_identity(cfg))


def _of_identity(recorded: dict[str, Any], identity: dict[str, object]) -> dict[str, Any]:
    return recorded if recorded.get("identity") == identity else {}


def update_results(cfg: Config, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the results file and return the whole.

    The file belongs to one run identity: results of another profile, backbone,
    split, seed or archive are replaced, not mixed with these.
    """
    identity = run_identity(cfg)            # read once: it looks at the split on disk
    merged = _merge(_of_identity(_read(cfg), identity), {"profile": cfg.profile, **values, "identity": identity})
    path = results_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def forget_results(cfg: Config, keys: Iterable[str]) -> list[str]:
    """Remove entries, given as dotted paths (``"phases.finetune"``, ``"chosen"``), from this run's results.

    A phase that starts again calls this (through ``training.start_clean``) for
    its own numbers and those of everything built on it, so the file never shows
    a number of a model that is gone. Results of another run identity are left
    alone (the next :func:`update_results` replaces them). Returns the paths removed.
    """
    results = read_results(cfg)
    removed = []
    for dotted in keys:
        *parents, last = dotted.split(".")
        node: Any = results
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            del node[last]
            removed.append(dotted)
    if removed:
        write_text_atomic(results_path(cfg), json.dumps(results, indent=2, sort_keys=True) + "\n")
    return removed


#: What a complete run (lessons 01-07) records, as dotted paths.
REQUIRED_KEYS: tuple[str, ...] = (
    "profile", "backbone", "image_size", "chosen", "test_accuracy",
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
