"""Make the student edition of the lessons: each worked solution becomes a place to write one.

Usage:
    python -m tools.student [--build-dir DIR] [--out DIR] [NOTEBOOK...]

By default every lesson in notebooks/ is written to build/student/ (``--out``
overrides the folder, ``--build-dir`` the build folder it sits in). In each
lesson, :class:`StudentPreprocessor`

- replaces the code cells tagged ``solution`` that follow a ``### Solution N``
  heading by one placeholder code cell (tagged ``placeholder``)::

      # Your turn: write your solution to exercise N here.

- renames that heading to ``### Your turn: exercise N``;
- strips every output except those of cells tagged ``nbval-check-output`` (the
  policy of ``tools.nbtool``), so the student edition runs under nbval too.

Every other cell is left as it is. ``make student`` runs this script.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import NotebookExporter
from nbconvert.preprocessors import Preprocessor

from tools import nbtool
from tools.common import (
    LESSON_GLOB,
    PLACEHOLDER_TAG,
    SOLUTION_TAG,
    default_build_dir,
    lesson_paths,
    read_notebook,
    unreadable_note,
)

#: A markdown line that opens the worked solution of exercise N.
SOLUTION_HEADING = re.compile(r"^###[ \t]+Solution[ \t]+(\d+)[ \t]*$", re.MULTILINE)
STUDENT_HEADING = "### Your turn: exercise {n}"
PLACEHOLDER_SOURCE = "# Your turn: write your solution to exercise {n} here.\n"


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a code cell tagged ``solution``."""
    return cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", [])


def solution_number(cell: nbformat.NotebookNode) -> int | None:
    """N for a markdown cell holding a ``### Solution N`` heading, else None."""
    if cell.cell_type != "markdown":
        return None
    match = SOLUTION_HEADING.search(cell.source)
    return int(match.group(1)) if match else None


def placeholder_cell(number: int, replaces: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The code cell a student writes exercise ``number``'s solution in.

    It takes over the id of the first solution cell it replaces, so that the
    student edition is the same on every build.
    """
    cell = nbformat.v4.new_code_cell(PLACEHOLDER_SOURCE.format(n=number))
    cell.metadata = nbformat.from_dict({"slideshow": {"slide_type": "-"}, "tags": [PLACEHOLDER_TAG]})
    if "id" in replaces:
        cell.id = replaces.id
    return cell


class StudentPreprocessor(Preprocessor):
    """Replace worked solutions by placeholders and strip unchecked outputs.

    Raises ValueError for a ``solution`` cell that no ``### Solution N`` heading
    precedes: it would not be clear which exercise it belongs to.
    """

    def preprocess(self, nb: nbformat.NotebookNode,
                   resources: dict[str, Any]) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        cells: list[nbformat.NotebookNode] = []
        current: int | None = None      # the exercise whose solution cells come next
        placed: set[int] = set()
        for index, cell in enumerate(nb.cells):
            number = solution_number(cell)
            if number is not None:
                current = number
                cell.source = SOLUTION_HEADING.sub(STUDENT_HEADING.format(n=number), cell.source, count=1)
            if is_solution(cell):
                if current is None:
                    raise ValueError(f"cell {index} is tagged '{SOLUTION_TAG}' but no '### Solution N' "
                                     "heading comes before it")
                if current not in placed:
                    cells.append(placeholder_cell(current, cell))
                    placed.add(current)
                continue
            cells.append(cell)
        nb.cells = cells
        nbtool.strip(nb)
        return nb, resources


def student_edition(path: Path) -> nbformat.NotebookNode:
    """The student edition of the lesson at ``path`` (the file is not changed)."""
    exporter = NotebookExporter()
    exporter.register_preprocessor(StudentPreprocessor(), enabled=True)
    body, _ = exporter.from_filename(str(path))
    return nbformat.reads(body, as_version=4)


def build(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of ``notebooks`` into ``out_dir`` and return the files written.

    Lessons left in ``out_dir`` by an earlier build that are not in
    ``notebooks`` are removed, so the folder holds exactly this edition.
    A lesson that is not a readable notebook (cut off, damaged) is named and
    skipped; its earlier student edition, if any, is kept.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = [path for path in notebooks if read_notebook(path) is None]
    if skipped:
        print(unreadable_note(skipped))
    names = {p.name for p in notebooks}
    for stale in out_dir.glob(LESSON_GLOB):
        if stale.name not in names:
            stale.unlink()
    written = []
    for path in notebooks:
        if path in skipped:
            continue
        target = out_dir / path.name
        nbformat.write(student_edition(path), target)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="lessons to convert (default: every lesson in notebooks/)")
    parser.add_argument("--build-dir", type=Path, help="the build folder (default: FLOWERS_BUILD_DIR or build/)")
    parser.add_argument("--out", type=Path, help="where the student edition goes (default: BUILD_DIR/student)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or lesson_paths()
    out_dir = args.out or (args.build_dir or default_build_dir()) / "student"
    written = build(notebooks, out_dir)
    print(f"Student edition of {len(written)} lesson(s) in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
