"""Every picture of the course, drawn with matplotlib."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def training_curves(transfer: dict[str, list[float]], finetune: dict[str, list[float]] | None = None,
                    path: Path | None = None, source: dict | None = None):  # noqa: ANN201 - matplotlib Figure
    """Accuracy and loss of both phases, with a "start fine-tuning" marker.

    ``transfer`` and ``finetune`` are histories as read from the CSV logs
    (keys ``epoch``, ``accuracy``, ``val_accuracy``, ``loss``, ``val_loss``).
    Epochs are numbered from 1. Fine-tuning starts from the transfer epoch
    that EarlyStopping kept, which can be earlier than the last transfer
    epoch: the transfer epochs after it are drawn faded, and the marker sits
    where fine-tuning really started. Saved as PNG to ``path`` when given,
    with ``source`` (what the curves were made from, such as the fine-tuning
    run's record) as JSON in the PNG's ``Description`` text.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    t_epochs = np.asarray(transfer["epoch"]) + 1
    start = finetune["epoch"][0] + 0.5 if finetune else None
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for key, style, label in ((metric, "o-", "training"), (f"val_{metric}", "s-", "validation")):
            values = np.asarray(transfer[key])
            used = t_epochs < start if start is not None else np.ones(len(values), bool)
            (line,) = ax.plot(t_epochs[used], values[used], style, label=f"{label} {metric}")
            if not used.all():
                ax.plot(t_epochs[~used], values[~used], style, color=line.get_color(), alpha=0.25)
            if finetune:
                f_epochs = np.asarray(finetune["epoch"]) + 1
                ax.plot(f_epochs, finetune[key], style, color=line.get_color())
        if start is not None:
            ax.axvline(start, color="grey", linestyle="--")
            ax.annotate("start fine-tuning", xy=(start, 0.5), xycoords=("data", "axes fraction"),
                        rotation=90, va="center", ha="right", color="grey")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylim(0, 1.02)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        metadata = {"Description": json.dumps(source, sort_keys=True)} if source is not None else None
        fig.savefig(path, dpi=100, metadata=metadata)
    return fig


def confusion_matrix(matrix: np.ndarray, names: tuple[str, ...]):  # noqa: ANN201 - matplotlib Figure
    """A labelled confusion matrix: true species down, predicted species across."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted species")
    ax.set_ylabel("true species")
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                    color="white" if n > matrix.max() / 2 else "black")
    fig.tight_layout()
    return fig


def image_gallery(paths: list[Path], titles: list[str], columns: int = 4):  # noqa: ANN201 - matplotlib Figure
    """Show images in a grid with a title under each."""
    import matplotlib.pyplot as plt
    from PIL import Image

    rows = max(1, -(-len(paths) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path, title in zip(axes.flat, paths, titles):
        with Image.open(path) as im:
            ax.imshow(im.convert("RGB"))
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
