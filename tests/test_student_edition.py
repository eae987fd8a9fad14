"""The student edition runs: proven from the lessons' own nbval run, without running every lesson twice.

The student edition (``tools/student.py``) is each lesson with its worked
solutions replaced by comment-only placeholder cells. It runs exactly as the
lesson did under nbval when:

1. it keeps every other code cell of the lesson, in order, and adds only comments;
2. no other code cell of a lesson comes after its first worked solution, so each
   kept cell ran, in the nbval run, before any solution could change the kernel;
3. every lesson ran to the end under nbval in this pytest process;
4. no worked solution changed a file in the data or build folders, so each later
   lesson (in its own kernel) finds on disk what the student edition leaves.

Points 1 and 2 read the notebooks; 3 and 4 read what the root conftest recorded
while nbval ran the lessons (this module runs after them, on their worker).
``make check-student`` also runs the whole student edition under nbval (about
three minutes on the development machine), by hand: it would take CI over its budget.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from tools import student
from tools.common import PLACEHOLDER_TAG, lesson_paths

LESSONS = lesson_paths()


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_the_student_edition_keeps_every_other_code_cell_and_adds_only_comments(path: Path) -> None:
    lesson = nbformat.read(path, as_version=4)
    edition = student.student_edition(path)
    kept = [c.source for c in lesson.cells if c.cell_type == "code" and not student.is_solution(c)]
    code = [c for c in edition.cells if c.cell_type == "code"]
    placeholders = [c for c in code if PLACEHOLDER_TAG in c.metadata.get("tags", [])]
    assert [c.source for c in code if c not in placeholders] == kept
    assert placeholders, "every lesson has exercises with worked solutions"
    assert all(ast.parse(c.source).body == [] for c in placeholders), "a placeholder must run nothing"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_other_code_cell_comes_after_a_worked_solution(path: Path) -> None:
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if student.is_solution(c))
    after = [c.source.splitlines()[0] for c in code[first:] if not student.is_solution(c)]
    assert not after, f"code cells after the first worked solution: {after}"


@pytest.mark.after_lessons
def test_the_worked_solutions_changed_nothing_on_disk(executed_lessons, solution_writes) -> None:
    ran = {Path(p).name: entry for p, entry in executed_lessons.items()}
    if not ran:
        pytest.skip("no lesson ran in this pytest process: run this module together with notebooks/, "
                    "as `make test` does")
    for path in LESSONS:
        assert path.name in ran, f"{path.name} did not run under nbval"
        notebook, cells = ran[path.name]
        code = {i for i, c in enumerate(notebook.cells) if c.cell_type == "code"}
        assert code <= cells, f"{path.name} did not run to the end under nbval"
        solutions = [i for i, c in enumerate(notebook.cells) if student.is_solution(c)]
        recorded = dict(next((entries for p, entries in solution_writes.items() if Path(p).name == path.name), []))
        assert sorted(recorded) == solutions, f"{path.name}: not every worked solution was watched"
        changed = {i: files for i, files in recorded.items() if files}
        assert not changed, f"{path.name}: worked solutions changed files a later lesson may read: {changed}"
