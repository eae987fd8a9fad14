"""Lesson 07's training curves, drawn by the lesson's own cell: the marker where fine-tuning really started."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from PIL import Image
from support import lesson_cell, run_cell

from helpers import runs, training
from helpers.config import load_config


def history(epochs: list[int], start: float) -> dict[str, list[float]]:
    n = len(epochs)
    return {"epoch": [float(e) for e in epochs],
            "accuracy": list(np.linspace(start, start + 0.1, n)), "val_accuracy": list(np.linspace(start, 0.9, n)),
            "loss": list(np.linspace(1.0, 0.5, n)), "val_loss": list(np.linspace(1.1, 0.6, n))}


def draw(tmp_path: Path, monkeypatch, transfer: dict, finetune: dict) -> dict[str, object]:
    """Run lesson 07's curves cell on these logs (as training.read_log would return them)."""
    import matplotlib.pyplot as plt

    logs = {"transfer": transfer, "finetune": finetune}
    monkeypatch.setattr(training, "read_log", lambda cfg, phase: logs[phase])
    monkeypatch.setattr(runs, "read_record", lambda cfg, phase: {"phase": phase, "run": "3f2a"})
    monkeypatch.setattr(plt, "show", lambda: None)
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "d", build_dir=tmp_path / "b")
    return run_cell(lesson_cell("07", "finetune_log = training.read_log(cfg"), {"cfg": cfg})


def test_fine_tuning_starts_after_the_kept_epoch_and_later_transfer_epochs_are_faded(
        tmp_path: Path, monkeypatch) -> None:
    """Transfer ran 8 epochs and kept epoch 3; fine-tuning ran as epochs 4-6 (0-based 3-5)."""
    ns = draw(tmp_path, monkeypatch, history(list(range(8)), 0.5), history([3, 4, 5], 0.8))
    for ax in ns["fig"].axes:
        marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(marker) == 1 and marker[0].get_xdata()[0] == 3.5, "between the kept epoch 3 and epoch 4"
        faded = [line for line in ax.get_lines() if line.get_alpha() == 0.25]
        assert [list(line.get_xdata()) for line in faded] == [[4, 5, 6, 7, 8]] * 2
        solid_x = sorted(x for line in ax.get_lines() if line not in faded + marker for x in line.get_xdata())
        assert solid_x == sorted([1, 2, 3] * 2 + [4, 5, 6] * 2), "kept transfer epochs, then fine-tuning"
        assert all(float(t).is_integer() for t in ax.get_xticks()), "whole epochs only"


def test_when_the_last_transfer_epoch_was_kept_nothing_is_faded(tmp_path: Path, monkeypatch) -> None:
    ns = draw(tmp_path, monkeypatch, history(list(range(4)), 0.5), history([4, 5], 0.8))
    for ax in ns["fig"].axes:
        assert not [line for line in ax.get_lines() if line.get_alpha() == 0.25 and len(line.get_xdata())]
        marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert marker[0].get_xdata()[0] == 4.5


def test_the_saved_curves_record_the_run_they_were_drawn_from(tmp_path: Path, monkeypatch) -> None:
    """Issue 10's run identity, carried by the PNG itself (its Description text)."""
    ns = draw(tmp_path, monkeypatch, history(list(range(4)), 0.5), history([2, 3], 0.8))
    with Image.open(ns["curves_png"]) as png:
        assert json.loads(png.text["Description"]) == {"phase": "finetune", "run": "3f2a"}
