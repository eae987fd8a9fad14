"""benchmarks.recipes: the tables it prints and the mirrored batches it trains on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import recipes


def rows() -> list[dict[str, object]]:
    return [{"seed": seed, "run": run, "setting": setting, "val_accuracy": acc}
            for seed, run, setting, acc in [(1, 0, "a", 0.90), (1, 1, "a", 0.92), (2, 0, "a", 0.94), (2, 1, "a", 0.96),
                                            (1, 0, "b", 0.80), (1, 1, "b", 0.80), (2, 0, "b", 0.80), (2, 1, "b", 0.84)]]


def test_summary_and_table_average_over_runs_then_over_all_runs() -> None:
    summary = recipes.summarise(rows(), "setting")
    assert summary["a"]["mean"] == pytest.approx(0.93) and summary["a"]["n"] == 4
    assert summary["b"]["std"] == pytest.approx(np.std([0.8, 0.8, 0.8, 0.84], ddof=1))
    table = recipes.per_seed_table(rows(), "setting").splitlines()
    assert table[0] == "| setting | seed 1 | seed 2 | mean | std | runs |"
    assert table[2].startswith("| a | 0.910 | 0.950 | 0.930 |") and table[2].endswith("| 4 |")


def test_merge_joins_the_rows_of_single_seed_reports(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"seed{seed}.json"
        mine = [r for r in rows() if r["seed"] == seed]
        path.write_text(json.dumps({"head": {"rows": mine},
                                    "finetune": {"rows": [{**r, "learning_rate": 1e-4} for r in mine]}}))
        paths.append(path)
    merged = recipes.merge(paths)
    assert len(merged["head"]["rows"]) == 8
    assert merged["finetune"]["summary"]["0.0001"]["n"] == 8


def test_mirrored_batches_show_each_example_or_its_mirror_with_even_odds() -> None:
    x = np.arange(200 * 2, dtype="float32").reshape(200, 2)
    mirror = -x
    y = np.eye(2, dtype="float32")[np.arange(200) % 2]
    dataset = recipes.mirrored_batches(x, mirror, y, 32, seed=0)     # one dataset, read for two epochs
    epochs = [np.concatenate([b.numpy() for b, _ in dataset]) for _ in range(2)]
    for served in epochs:
        keys = sorted(tuple(np.abs(v)) for v in served)
        assert keys == sorted(tuple(v) for v in x), "every example once per epoch, as itself or its mirror"
        assert 0.35 < np.mean(served[:, 1] < 0) < 0.65
    assert not np.array_equal(epochs[0], epochs[1]), "a new order (and new mirrors) every epoch"
