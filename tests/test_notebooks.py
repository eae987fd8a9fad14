"""Policy checks on the committed lessons (nbval itself runs them; see the Makefile)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tools import nbtool
from tools.common import BOOTSTRAP_TAG, CHECK_OUTPUT_TAG, PARAMETERS_TAG, lesson_paths

LESSONS = lesson_paths()


def test_lessons_exist_and_are_numbered_in_order() -> None:
    assert LESSONS, "no lessons found"
    numbers = [int(p.name[:2]) for p in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1))
    assert LESSONS[0].name == "01_labelling_the_data.ipynb"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_outputs_are_stored_only_for_checked_cells(path: Path) -> None:
    assert nbtool.problems(nbformat.read(path, as_version=4), path.name) == []


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_starts_with_the_bootstrap_then_parameters_then_setup(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = nbformat.read(LESSONS[0], as_version=4)
    bootstrap = next(c for c in first.cells if c.cell_type == "code")
    assert code[0].metadata.get("tags") == [BOOTSTRAP_TAG], "the first code cell must be the bootstrap cell"
    assert code[0].source == bootstrap.source, "every lesson has the same bootstrap cell"
    assert PARAMETERS_TAG in code[1].metadata.get("tags", []), "the second code cell must be tagged 'parameters'"
    assert "profile = None" in code[1].source
    assert "setup(" in code[2].source, "the third code cell must be the shared setup cell"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_opens_with_objectives_and_ends_with_summary_and_exercises(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "You will learn" in nb.cells[0].source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Summary" in text and "## Exercises" in text
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_policy_check_catches_a_stray_output() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    assert nbtool.problems(nb, "x") == ["x: cell 0 stores outputs but is not a checked cell"]
    assert nbtool.problems(nbtool.strip(nb), "x") == []


def test_strip_keeps_checked_outputs() -> None:
    cell = nbformat.v4.new_code_cell("print(1)", metadata={"tags": [CHECK_OUTPUT_TAG]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb = nbtool.strip(nbformat.v4.new_notebook(cells=[cell]))
    assert nb.cells[0].outputs[0]["text"] == "1\n"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_test_marker_is_visible_to_the_learner(path: Path) -> None:
    """nbval's cell tags, not its ``# NBVAL_...`` comments: the learner sees only the lesson's code."""
    nb = nbformat.read(path, as_version=4)
    assert not [i for i, c in enumerate(nb.cells) if "NBVAL" in c.source]


def test_the_training_lessons_take_a_verbose_parameter_for_progress_bars() -> None:
    """Jupyter shows Keras progress bars ("auto"); make tutorial passes verbose=2, one line per epoch."""
    import papermill as pm

    for path in LESSONS[3:]:                         # 04-08: fit, predict and evaluate on whole sets
        assert pm.inspect_notebook(str(path))["verbose"]["default"] == '"auto"', path.name
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "verbose=verbose" in code, path.name
        # Silent only where the work takes a moment: arrays in memory, not photos read from disk.
        silent = re.findall(r"\.(?:fit|predict|evaluate)\((\w+)[^)]*?verbose=0", code)
        assert not [s for s in silent if s in ("gens", "plain", "iterator", "train_ds")], (path.name, silent)
