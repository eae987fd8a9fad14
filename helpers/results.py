"""``build/results.json``: what a run of the course measured.

Lessons and the lesson runner each add their part with :func:`update_results`;
nested dictionaries are merged, so nobody overwrites somebody else's numbers.
The file belongs to one run identity (:func:`helpers.runs.run_identity`:
profile, backbone, image size, split, seed, archive, training run), recorded in it as
``identity``: numbers of another identity are dropped, never mixed in.

It also records, as ``runs``, the run id of every phase's record
(:func:`helpers.runs.phase_runs`) when it was written. A phase that starts
again (:func:`helpers.runs.start_clean`) gets a new run id and retires the
phases built on it, so its old numbers, theirs and lesson 07's choice
(:data:`CHOICE_RESULTS`) no longer count: :func:`read_results` leaves them
out, and the next :func:`update_results` removes them from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.config import Config
from helpers.files import write_text_atomic
from helpers.runs import PHASES, phase_runs, phase_runs_in, recorded_identity, run_identity

#: What lesson 07 records about its choice; a phase of ``PHASES`` that starts again retires them.
CHOICE_RESULTS: tuple[str, ...] = ("chosen", "test_accuracy", "test_images")
#: Where the file keeps the phases' run ids (internal: readers never see it).
_RUNS_KEY = "runs"


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

    Results of another profile, backbone, image size, split, seed, archive or
    training run do not count: a lesson that compares with them would compare two runs.
    Nor do the numbers of a phase trained again since, or retired with the
    phase it was built on, nor lesson 07's choice after any of them.
    """
    current = _current(_read(cfg), run_identity(cfg), phase_runs(cfg))
    current.pop(_RUNS_KEY, None)
    return current


def _current(recorded: dict[str, Any], identity: dict[str, object],
             runs_now: dict[str, str | None]) -> dict[str, Any]:
    """``recorded`` less what no longer counts: all of it for another identity, else the retired phases."""
    if recorded_identity(recorded.get("identity")) != identity:
        return {}
    return _without_retired(recorded, runs_now)


def _without_retired(recorded: dict[str, Any], runs_now: dict[str, str | None]) -> dict[str, Any]:
    """``recorded`` less the numbers of phases whose records changed since, and then the choice too."""
    stamped = recorded.get(_RUNS_KEY) if isinstance(recorded.get(_RUNS_KEY), dict) else {}
    retired = [name for name in PHASES if stamped.get(name) != runs_now.get(name)]
    if not retired:
        return dict(recorded)
    current = {key: value for key, value in recorded.items() if key not in CHOICE_RESULTS}
    if isinstance(current.get("phases"), dict):
        current["phases"] = {name: value for name, value in current["phases"].items() if name not in retired}
    return current


def update_results(cfg: Config, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into the results file and return the whole.

    The file belongs to one run identity: results of another profile, backbone,
    split, seed, archive or training run are replaced, not mixed with these, and numbers of
    retired phases (see :func:`read_results`) are removed.
    """
    identity, runs_now = run_identity(cfg), phase_runs(cfg)   # read once: they look at the disk
    merged = _merge(_current(_read(cfg), identity, runs_now),
                    {"profile": cfg.profile, **values, "identity": identity})
    merged[_RUNS_KEY] = runs_now
    path = results_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    merged.pop(_RUNS_KEY)
    return merged


def results_in(build_dir: Path) -> dict[str, Any]:
    """The results file of ``build_dir`` as a tool shows it: its own run, less retired numbers.

    For the instructor tools, which know a build folder but not the run's
    configuration: the profile and backbone of the file's identity name the records
    to compare with. Returns ``{}`` when there is no file.

    Raises:
        ValueError: when the file is not valid JSON.
    """
    path = Path(build_dir) / "results.json"
    if not path.exists():
        return {}
    recorded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(recorded, dict):
        return {}
    identity = recorded.get("identity") if isinstance(recorded.get("identity"), dict) else {}
    runs_now = phase_runs_in(build_dir, str(identity.get("profile")), str(identity.get("backbone")))
    current = _without_retired(recorded, runs_now)
    current.pop(_RUNS_KEY, None)
    return current


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
