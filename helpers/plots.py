"""Pictures several lessons draw the same way (matplotlib): a gallery of photos, a speed comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image


def image_gallery(paths: list[Path], titles: list[str], columns: int = 4):
    """Show images in a grid with a title under each."""
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


def speed_bars(values: dict[str, float], xlabel: str = "images per second (longer is faster)",
               title: str | None = None, fmt: str = "%.0f"):
    """Lesson 02's bar chart of measured speeds: one labelled horizontal bar per entry, in order."""
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(values)))
    bars = ax.barh(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt=fmt, padding=3)
    ax.invert_yaxis()                      # the first entry on top
    ax.margins(x=0.15)                     # room for the numbers
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
