"""What the course's tools share: where the lessons are, their cell tags, and the default build folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.config import REPO_ROOT

#: The repository root (defined once, in :mod:`helpers.config`, which loads without TensorFlow).
ROOT = REPO_ROOT


#: The names of the numbered lessons, without a suffix (``01_*``...): lessons, pages, decks.
LESSON_STEM_GLOB = "[0-9][0-9]_*"
#: The file names of the numbered lessons.
LESSON_GLOB = f"{LESSON_STEM_GLOB}.ipynb"

# The lessons' cell tags (see CONTRIBUTING.md), named once for the tools and the tests.
#: The first code cell of every lesson: outside a clone it installs the course's ``helpers``.
BOOTSTRAP_TAG = "bootstrap"
#: The papermill parameters cell, the second code cell of every lesson.
PARAMETERS_TAG = "parameters"
#: A worked solution (under a ``### Solution N`` heading): the student edition replaces it.
SOLUTION_TAG = "solution"
#: The student edition's cell that replaces a worked solution.
PLACEHOLDER_TAG = "placeholder"
#: nbval's cell tag for "compare this cell's output" (a tag, so learners never see a test marker).
CHECK_OUTPUT_TAG = "nbval-check-output"


def lessons_in(folder: Path) -> list[Path]:
    """The lesson notebooks in ``folder`` (``notebooks/``, ``build/executed/``...), in course order."""
    return sorted(Path(folder).glob(LESSON_GLOB))


def lesson_paths(root: Path = ROOT) -> list[Path]:
    """The numbered lessons, ``notebooks/NN_*.ipynb``, in order."""
    return lessons_in(root / "notebooks")


#: Lessons about Flowers17 itself, which a run on your own photos (FLOWERS_PHOTOS) leaves out.
FLOWERS17_LESSONS: tuple[str, ...] = ("01",)


def lessons_for(paths: list[Path], photos: Path | None) -> list[Path]:
    """``paths`` less :data:`FLOWERS17_LESSONS` when ``photos`` (``Config.photos``) names your own folder."""
    return [p for p in paths if photos is None or p.name[:2] not in FLOWERS17_LESSONS]


def default_build_dir() -> Path:
    """The build folder the configuration names (``FLOWERS_BUILD_DIR`` or ``build/``)."""
    from helpers.config import load_config

    return load_config().build_dir


def machine_info(frameworks: bool = False) -> dict[str, object]:
    """What this machine is, for a report: its CPUs, platform and versions.

    Returns ``cpu_count``, ``usable_cpus`` (those this process may run on),
    ``cpu_model`` (``/proc/cpuinfo``'s model name where there is one, else
    ``platform.processor()`` or ``platform.machine()``), ``platform``,
    ``python`` and ``numpy``. With ``frameworks``, also ``tensorflow``,
    ``keras`` and ``gpus`` (how many GPUs TensorFlow sees): that imports
    TensorFlow, so only a caller that has loaded it anyway should ask.
    Nothing here is imported before the call, so the tools stay TensorFlow-free.
    """
    import contextlib
    import os
    import platform

    import numpy as np

    cpu_model = platform.processor() or platform.machine() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, object] = {
        "cpu_count": os.cpu_count(), "usable_cpus": usable, "cpu_model": cpu_model,
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
    }
    if frameworks:
        import keras
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, keras=keras.__version__,
                    gpus=len(tf.config.list_physical_devices("GPU")))
    return info


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` (an ``nbformat`` node), or ``None`` when it cannot be read as one.

    A lesson cut off while it was written (a full disk, a killed run) or
    damaged by hand is not JSON, or not a notebook: the tools skip it and
    name it (:func:`unreadable_note`) rather than stop.
    """
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception:   # NotJSONError, ValueError, OSError, a validation error: all mean "not usable"
        return None


def unreadable_note(paths: list[Path]) -> str:
    """The sentence that names the notebooks a tool skipped because :func:`read_notebook` could not read them."""
    names = ", ".join(p.name for p in paths)
    return (f"Skipped, not a readable notebook (cut off or damaged; run the lesson again): {names}.")


def run_failed(nb: Any) -> bool:
    """Whether an executed lesson's run stopped with an error (papermill marks it; an error output shows it)."""
    if nb.metadata.get("papermill", {}).get("exception"):
        return True
    return any(out.get("output_type") == "error" for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []))
