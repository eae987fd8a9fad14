"""Repository-wide pytest settings: how pytest-xdist shares `make test` between its workers.

Here, not in tests/conftest.py, so that ``pytest notebooks -n 2`` keeps the
lessons in order too.
"""

from __future__ import annotations

import os

import pytest

from tools.common import SOLUTION_TAG

#: Test modules that use the lessons' outputs: they run on the lessons' worker, after them.
AFTER_LESSONS_MODULES = ("tests/test_lesson_results.py", "tests/test_slides_browser.py",
                         "tests/test_student_edition.py")

#: The slowest test modules (1-5 minutes each; ``make test`` prints the slowest tests), handed out right after
#: the lessons. xdist would order groups by their number of tests, which puts these few-test, long
#: modules last, where one of them can keep a worker busy minutes after the other has finished.
SLOW_MODULES = ("tests/test_backbone_lessons.py", "tests/test_bench.py", "tests/test_repeatable.py",
                "tests/test_backbones.py", "tests/test_training.py", "tests/test_photo_lessons.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """How `make test`'s two pytest-xdist workers share the tests: whole groups, each on one worker.

    - Every lesson cell that nbval collects is in one group, so the lessons
      run in their order, each in its own kernel, as a learner runs them
      (lesson 06 uses the model lesson 05 saved).
    - The modules in AFTER_LESSONS_MODULES join that group (and run after
      the lessons: ``pytest_collection_modifyitems``), because they use the
      outputs the lessons printed and drew in this process.
    - Each other test module is one group, so its module-scoped fixtures (a trained
      model, a finished benchmark) are built once, not once per worker.
    - The lessons go first, then :data:`SLOW_MODULES`, then the rest, so the
      two workers end at about the same time.

    (xdist's own ``--dist loadgroup`` would do the first, but its marks do not
    reach the scheduler under pytest 9; this is xdist's documented hook.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class LessonsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "lessons" if path.endswith(".ipynb") or path in AFTER_LESSONS_MODULES else path

        def _assign_work_unit(self, node: object) -> None:
            if not getattr(self, "_longest_first", False):   # once, when the first group is handed out
                first = ("lessons", *SLOW_MODULES)
                order = sorted(self.workqueue.items(), key=lambda item: first.index(item[0])
                               if item[0] in first else len(first))   # a stable sort keeps the rest's order
                self.workqueue.clear()
                self.workqueue.update(order)
                self._longest_first = True
            super()._assign_work_unit(node)

    return LessonsTogether(config, log)


#: The lessons as nbval ran them in this process: {notebook path: (the notebook with this run's
#: outputs, the indices of the code cells that ran)}. tests/test_slides_browser.py makes its
#: decks from them, so the slides are checked with real outputs without running the lessons twice.
EXECUTED_LESSONS: dict[str, tuple[object, set[int]]] = {}


#: What the lessons' worked solutions changed on disk, as nbval ran them in this process:
#: {notebook path: [(cell index, changed files under the data and build folders)]}.
#: tests/test_student_edition.py uses it to prove the student edition runs.
SOLUTION_WRITES: dict[str, list[tuple[int, list[str]]]] = {}


def _disk_state() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file in the configured data and build folders."""
    from helpers.config import load_config  # imported when a lesson runs, not when pytest starts

    cfg = load_config()
    state = {}
    for top in (cfg.data_dir, cfg.build_dir):
        for folder, _, files in os.walk(top):
            for name in files:
                if name == ".lock-holder":   # who last took a folder's lock: no lesson reads it
                    continue
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                state[path] = (stat.st_size, stat.st_mtime_ns)
    return state


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After nbval has run (and compared) a lesson cell, keep what it printed and drew in the notebook.

    Around a worked solution (a cell tagged ``solution``), also record the
    files it created, changed or deleted in the data and build folders.
    """
    notebook = getattr(item.parent, "nb", None)
    cell = getattr(item, "cell", None)
    solution = notebook is not None and cell is not None and SOLUTION_TAG in cell.metadata.get("tags", [])
    before = _disk_state() if solution else None
    outcome = yield
    outputs = getattr(item, "test_outputs", None)
    if outputs is None or notebook is None or outcome.excinfo is not None:
        return
    index = next(i for i, c in enumerate(notebook.cells) if c is cell)
    if before is not None:
        after = _disk_state()
        changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
        SOLUTION_WRITES.setdefault(str(item.parent.path), []).append((index, changed))
    item.cell.outputs = list(outputs)
    _, ran = EXECUTED_LESSONS.setdefault(str(item.parent.path), (notebook, set()))
    ran.add(index)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``after_lessons`` run after every lesson cell (and share the lessons' worker)."""
    items.sort(key=lambda item: item.get_closest_marker("after_lessons") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_lessons: runs after the lessons, in their process, using their outputs")


@pytest.fixture(scope="session")
def executed_lessons() -> dict[str, tuple[object, set[int]]]:
    """The lessons nbval ran in this process, with their outputs (:data:`EXECUTED_LESSONS`)."""
    return EXECUTED_LESSONS


@pytest.fixture(scope="session")
def solution_writes() -> dict[str, list[tuple[int, list[str]]]]:
    """What each lesson's worked solutions changed on disk in this process (:data:`SOLUTION_WRITES`)."""
    return SOLUTION_WRITES
