"""Keep the committed lessons clean: outputs are stored only for checked cells.

Usage:
    python -m tools.nbtool strip NOTEBOOK...   drop every output except in cells tagged `nbval-check-output`
    python -m tools.nbtool regen NOTEBOOK...   execute (in the current profile, normally smoke),
                                               then keep only the checked cells' outputs
    python -m tools.nbtool check NOTEBOOK...   exit 1 and list problems if a notebook is not clean

`make checked-outputs` runs `regen` on every lesson in the smoke profile.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from tools.common import CHECK_OUTPUT_TAG

_VOLATILE_CELL_KEYS = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """True for a code cell whose output nbval compares."""
    return cell.cell_type == "code" and CHECK_OUTPUT_TAG in cell.metadata.get("tags", [])


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs of unchecked cells, execution counts and run-specific metadata (in place)."""
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    nb.metadata.get("language_info", {}).pop("version", None)
    for cell in nb.cells:
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            cell.outputs = []
        # nbval only compares cells that look executed, so checked cells keep a
        # count; a fixed one (1) keeps diffs quiet.
        cell.execution_count = 1 if cell.outputs else None
        for out in cell.outputs:
            if "execution_count" in out:
                out.execution_count = 1
    return nb


def problems(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """Every way ``nb`` breaks the stored-output policy."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.outputs and not is_checked(cell):
            found.append(f"{name}: cell {i} stores outputs but is not a checked cell")
        if is_checked(cell) and not cell.outputs:
            found.append(f"{name}: checked cell {i} has no stored output (run `make checked-outputs`)")
        if cell.execution_count is not None and not is_checked(cell):
            found.append(f"{name}: cell {i} stores an execution count")
    return found


def regen(path: Path) -> None:
    """Execute ``path`` in its folder and store only the checked outputs back into it."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(strip(nb), path)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"strip", "regen", "check"}:
        print(__doc__)
        return 2
    command, paths = argv[0], [Path(p) for p in argv[1:]]
    bad: list[str] = []
    for path in paths:
        if command == "regen":
            print(f"executing {path} ...", flush=True)
            regen(path)
        elif command == "strip":
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        else:
            bad += problems(nbformat.read(path, as_version=4), str(path))
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
