"""What the course's tools share: where the lessons are, and the default build folder."""

from __future__ import annotations

from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]


#: The file names of the numbered lessons.
LESSON_GLOB = "[0-9][0-9]_*.ipynb"


def lessons_in(folder: Path) -> list[Path]:
    """The lesson notebooks in ``folder`` (``notebooks/``, ``build/executed/``...), in course order."""
    return sorted(Path(folder).glob(LESSON_GLOB))


def lesson_paths(root: Path = ROOT) -> list[Path]:
    """The numbered lessons, ``notebooks/NN_*.ipynb``, in order."""
    return lessons_in(root / "notebooks")


def default_build_dir() -> Path:
    """The build folder the configuration names (``FLOWERS_BUILD_DIR`` or ``build/``)."""
    from helpers.config import load_config

    return load_config().build_dir
