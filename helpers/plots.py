"""Pictures several lessons draw the same way (matplotlib): a gallery of photos with captions."""

from __future__ import annotations

from pathlib import Path


def image_gallery(paths: list[Path], titles: list[str], columns: int = 4):
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
