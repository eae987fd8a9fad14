"""Lesson 07's answer for every test photo, kept per run, so that two training runs of one split can be compared.

Lesson 07 writes the chosen model's prediction for each test photo beside the
final model (:func:`write_test_predictions`; :func:`helpers.runs.start_clean`
retires the file with that model). :func:`runs_of_this_split` then finds every
run of the same split on record: this build folder's, and those that
``make accuracy`` trained in folders of their own
(:func:`helpers.runs.accuracy_run_dir`). Runs of another split, backbone, size
or profile are left out: their test photos are other photos.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.config import Config
from helpers.errors import FlowersError
from helpers.files import write_text_atomic
from helpers.runs import accuracy_run_dirs, predictions_path, read_record, recorded_identity, run_identity

#: The columns of a predictions file.
COLUMNS = ("file", "true", "predicted", "confidence")


@dataclass(frozen=True)
class RunPredictions:
    """One training run's answers on the test photos of a split."""

    label: str                 # "this run (run 1)" or the folder, relative to the build folder
    training_run: int
    files: tuple[str, ...]
    true: np.ndarray
    predicted: np.ndarray
    #: The predicted class's probability for each photo (lesson 10 orders the mistakes by it).
    confidence: np.ndarray | None = None

    @property
    def correct(self) -> int:
        """How many test photos this run got right."""
        return int((self.true == self.predicted).sum())

    @property
    def accuracy(self) -> float:
        """The share of test photos this run got right."""
        return self.correct / len(self.true)


def write_test_predictions(cfg: Config, files: Sequence[str], true: Sequence[int], predicted: Sequence[int],
                           confidence: Sequence[float]) -> Path:
    """Write the final model's answer for every test photo (class indices, in the test generator's order).

    Call it after :func:`helpers.runs.start_clean` has recorded the ``final``
    phase: the file belongs to that run. Returns the file's path.
    """
    if not len(files) == len(true) == len(predicted) == len(confidence):
        raise ValueError("files, true, predicted and confidence must have one entry per test photo")
    path = predictions_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    # repr keeps every digit, so ordering by the confidence read back is lesson 07's order exactly
    writer.writerows((str(name), int(t), int(p), repr(float(c)))
                     for name, t, p, c in zip(files, true, predicted, confidence))
    write_text_atomic(path, text.getvalue())
    return path


def read_test_predictions(path: Path, label: str, training_run: int) -> RunPredictions:
    """The predictions file at ``path``.

    Raises:
        FlowersError: when it is missing or damaged (an interrupted run, say).
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        files = tuple(r["file"] for r in rows)
        true = np.array([int(r["true"]) for r in rows])
        predicted = np.array([int(r["predicted"]) for r in rows])
        confidence = np.array([float(r["confidence"]) for r in rows])
    except OSError:
        raise FlowersError(f"No test predictions at {path}: run lesson 07 for that run first.") from None
    except (KeyError, TypeError, ValueError):
        raise FlowersError(f"The test predictions at {path} are damaged (an interrupted run?): run lesson 07 "
                           f"for that run again.") from None
    if not rows:
        raise FlowersError(f"The test predictions at {path} are empty: run lesson 07 for that run again.")
    return RunPredictions(label, training_run, files, true, predicted, confidence)


def _same_split(identity: object, cfg: Config) -> bool:
    """Whether a recorded identity is this split's (any training run)."""
    if not isinstance(identity, dict):
        return False
    mine = {k: v for k, v in run_identity(cfg).items() if k != "training_run"}
    theirs = {k: v for k, v in recorded_identity(identity).items() if k != "training_run"}
    return mine == theirs


def runs_of_this_split(cfg: Config) -> list[RunPredictions]:
    """This run's test predictions, then those of every other run of this split that ``make accuracy`` trained.

    The other runs are looked for where :func:`helpers.runs.accuracy_run_dirs`
    says (beside this run's folder when ``make accuracy`` runs the lesson).
    A folder is used only when its final model's record names this split
    (backbone, size, profile, seed, archive) and its predictions file is
    readable; the others are left out.

    Raises:
        FlowersError: when this run has no predictions yet (run lesson 07 first).
    """
    this = read_test_predictions(predictions_path(cfg), f"this run (run {cfg.run})", cfg.run)
    found = [this]
    for folder in accuracy_run_dirs(cfg):
        other = cfg.replace(build_dir=folder)
        record = read_record(other, "final")
        if folder.resolve() == Path(cfg.build_dir).resolve() or not _same_split(record.get("identity"), cfg):
            continue
        run = int(recorded_identity(record["identity"]).get("training_run", 1))
        try:
            found.append(read_test_predictions(predictions_path(other), _label(folder, cfg.build_dir), run))
        except FlowersError:
            continue
        if found[-1].files != this.files:         # the same split lists the same test photos
            found.pop()
    return found


def _label(folder: Path, build_dir: Path) -> str:
    """A run folder as the lesson names it: relative to the build folder, or ``accuracy/seed-S/run-R``."""
    try:
        return folder.relative_to(build_dir).as_posix()
    except ValueError:                     # a sibling run folder of make accuracy
        return Path(*folder.parts[-3:]).as_posix()


def compare(a: RunPredictions, b: RunPredictions) -> dict[str, int]:
    """How far two runs of one split are apart: in photos right, and in photos they answer differently.

    Returns :func:`answer_gap` of the two runs.
    """
    if a.files != b.files:
        raise ValueError("the two runs were scored on different test photos")
    return answer_gap(a.predicted, a.predicted == a.true, b.predicted, b.predicted == b.true)


def answer_gap(predicted_a: Sequence[int], right_a: Sequence[bool], predicted_b: Sequence[int],
               right_b: Sequence[bool]) -> dict[str, int]:
    """Two runs' answers on the same photos (class per photo, right or not per photo), compared.

    Returns ``{"apart": |right_a - right_b|, "disagree": photos with different answers,
    "only_a": photos only ``a`` got right, "only_b": photos only ``b`` got right}``.
    """
    pa, pb = np.asarray(predicted_a), np.asarray(predicted_b)
    ra, rb = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    return {"apart": abs(int(ra.sum()) - int(rb.sum())), "disagree": int((pa != pb).sum()),
            "only_a": int((ra & ~rb).sum()), "only_b": int((rb & ~ra).sum())}
