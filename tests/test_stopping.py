"""benchmarks.stopping: its reading of early-stopping rules off a record, and its tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import stopping


def keras_early_stopping(losses: list[float], patience: int, min_delta: float = 0.0) -> int:
    """The epochs Keras' own EarlyStopping lets a training run, fed ``losses`` one epoch at a time."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta,
                                             restore_best_weights=True)
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            return epoch + 1
    return len(losses)


FLAT = [1.0, 0.8202, 0.8213, 0.8207, 0.8203, 0.8249, 0.8269, 0.8190, 0.8260, 0.8199, 0.8301]


@pytest.mark.parametrize(("patience", "min_delta"), [(3, 0.0), (2, 0.0), (3, 0.001), (4, 0.0005), (1, 0.0)])
def test_early_stopping_stops_where_keras_stops(patience: int, min_delta: float) -> None:
    result = stopping.early_stopping(FLAT, patience, min_delta)
    assert result is not None
    assert result[1] == keras_early_stopping(FLAT, patience, min_delta)


def test_the_kept_epoch_is_the_lowest_loss_run_and_a_short_record_has_no_answer() -> None:
    # 0.8190 (epoch 8) never comes: patience 3 stops at epoch 5, keeping epoch 2 (0.8202).
    assert stopping.early_stopping(FLAT, 3) == (1, 5)
    # With min_delta 0.0015, 0.8190 is no improvement on 0.8202, but it is the lowest loss the checkpoint saw.
    assert stopping.early_stopping(FLAT, 9, min_delta=0.0015) == (7, 11)
    assert stopping.early_stopping(FLAT[:4], 5) is None
    assert stopping.early_stopping(FLAT[:4], 5, max_epochs=3) == (1, 3)


def record(n: int) -> dict[str, list[float]]:
    """A constant-rate run of ``n`` epochs whose losses fall for 3 epochs and then rise."""
    losses = [1.0 - 0.1 * min(e, 3) + 0.01 * max(e - 3, 0) for e in range(n)]
    return {key: list(losses) for key in ("val_loss", "val_plain_loss", "ema_val_loss", "ema_val_plain_loss")} | {
        "val_accuracy": [0.5 + 0.01 * e for e in range(n)], "ema_val_accuracy": [0.6 + 0.01 * e for e in range(n)]}


def test_read_rules_scores_each_rule_on_its_own_weights() -> None:
    rules = stopping.read_rules(record(40), max_epochs=40)
    course = rules["val loss, patience 10 (the course)"]
    assert (course["kept_epoch"], course["epochs"], course["val_accuracy"]) == (4, 14, 0.53)
    ema = rules["EMA weights, val loss, patience 10"]
    assert ema["val_accuracy"] == 0.63, "a rule on the average's loss reads the average's accuracy"
    assert rules["val loss, min_delta 0.005, patience 15"]["epochs"] == 19
    assert stopping.all_rules_stopped(record(19), 40) and not stopping.all_rules_stopped(record(18), 40)
    with pytest.raises(ValueError, match="ends before"):
        stopping.read_rules(record(12), max_epochs=40)


def rows() -> list[dict[str, object]]:
    return [{"seed": seed, "run": run, "rule": rule, "val_accuracy": acc, "epochs": 20}
            for seed, run, rule, acc in [(1, 1, "a", 0.90), (1, 2, "a", 0.94), (2, 1, "a", 0.95), (2, 2, "a", 0.96),
                                         (1, 1, "b", 0.92), (1, 2, "b", 0.92), (2, 1, "b", 0.93), (2, 2, "b", 0.94)]]


def test_summary_gives_the_mean_the_spread_between_runs_of_one_split_and_the_lowest_run() -> None:
    summary = stopping.summarise(rows())
    assert summary["a"]["mean"] == pytest.approx(0.9375)
    assert summary["a"]["run_range"] == pytest.approx(0.04)       # seed 1: 0.90 against 0.94
    assert summary["b"]["run_range"] == pytest.approx(0.01)
    assert summary["a"]["lowest"] == 0.90 and summary["b"]["n"] == 4
    lines = stopping.table(rows()).splitlines()
    assert lines[0].startswith("| rule | seed 1 | seed 2 | mean | between runs (max - min) |")
    assert lines[2].startswith("| a | 0.920 | 0.955 | 0.938 | 0.040 |")


def test_merge_joins_reports(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"s{seed}.json"
        path.write_text(json.dumps({"rows": [r for r in rows() if r["seed"] == seed]}))
        paths.append(path)
    merged = stopping.merge(paths)
    assert merged["summary"] == stopping.summarise(rows())
    with pytest.raises(ValueError, match="same run"):
        stopping.merge([paths[0], paths[0]])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"rows": [], "image_size": 224}))
    with pytest.raises(ValueError, match="different settings"):
        stopping.merge([paths[0], other])
