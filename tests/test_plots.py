"""The training curves: both phases on one axis, the marker where fine-tuning really started."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from helpers import plots  # noqa: E402


def history(epochs: list[int], start: float) -> dict[str, list[float]]:
    n = len(epochs)
    return {"epoch": [float(e) for e in epochs],
            "accuracy": list(np.linspace(start, start + 0.1, n)), "val_accuracy": list(np.linspace(start, 0.9, n)),
            "loss": list(np.linspace(1.0, 0.5, n)), "val_loss": list(np.linspace(1.1, 0.6, n))}


def test_fine_tuning_starts_after_the_kept_epoch_and_later_transfer_epochs_are_faded(tmp_path: Path) -> None:
    """Transfer ran 8 epochs and kept epoch 3; fine-tuning ran as epochs 4-6 (0-based 3-5)."""
    transfer, finetune = history(list(range(8)), 0.5), history([3, 4, 5], 0.8)
    fig = plots.training_curves(transfer, finetune, path=tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    for ax in fig.axes:
        marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(marker) == 1 and marker[0].get_xdata()[0] == 3.5, "between the kept epoch 3 and epoch 4"
        faded = [line for line in ax.get_lines() if line.get_alpha() == 0.25]
        assert [list(line.get_xdata()) for line in faded] == [[4, 5, 6, 7, 8]] * 2
        solid_x = sorted(x for line in ax.get_lines() if line not in faded + marker for x in line.get_xdata())
        assert solid_x == sorted([1, 2, 3] * 2 + [4, 5, 6] * 2), "kept transfer epochs, then fine-tuning"
        assert all(float(t).is_integer() for t in ax.get_xticks()), "whole epochs only"


def test_transfer_alone_has_no_marker() -> None:
    fig = plots.training_curves(history(list(range(4)), 0.5))
    for ax in fig.axes:
        assert not [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert all(line.get_alpha() is None for line in ax.get_lines())


def test_the_saved_curves_record_the_run_they_were_drawn_from(tmp_path: Path) -> None:
    """Issue 10's run identity, carried by the PNG itself (its Description text)."""
    import json

    from PIL import Image

    source = {"phase": "finetune", "run": "3f2a", "identity": {"seed": 42, "backbone": "inception_v3"}}
    plots.training_curves(history(list(range(4)), 0.5), history([2, 3], 0.8), path=tmp_path / "c.png", source=source)
    with Image.open(tmp_path / "c.png") as png:
        assert json.loads(png.text["Description"]) == source
