"""Repository-wide pytest settings: how pytest-xdist shares `make test` between its workers.

Here, not in tests/conftest.py, so that ``pytest notebooks -n 2`` keeps the
lessons in order too.
"""

from __future__ import annotations

import pytest

#: Test modules that use the lessons' outputs: they run on the lessons' worker, after them.
AFTER_LESSONS_MODULES = ("tests/test_slides_browser.py",)


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

    (xdist's own ``--dist loadgroup`` would do the first, but its marks do not
    reach the scheduler under pytest 9; this is xdist's documented hook.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class LessonsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "lessons" if path.endswith(".ipynb") or path in AFTER_LESSONS_MODULES else path

    return LessonsTogether(config, log)


#: The lessons as nbval ran them in this process: {notebook path: (the notebook with this run's
#: outputs, the indices of the code cells that ran)}. tests/test_slides_browser.py makes its
#: decks from them, so the slides are checked with real outputs without running the lessons twice.
EXECUTED_LESSONS: dict[str, tuple[object, set[int]]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After nbval has run (and compared) a lesson cell, keep what it printed and drew in the notebook."""
    outcome = yield
    outputs = getattr(item, "test_outputs", None)
    notebook = getattr(item.parent, "nb", None)
    if outputs is None or notebook is None or outcome.excinfo is not None:
        return
    item.cell.outputs = list(outputs)
    _, ran = EXECUTED_LESSONS.setdefault(str(item.parent.path), (notebook, set()))
    ran.add(next(i for i, cell in enumerate(notebook.cells) if cell is item.cell))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``after_lessons`` run after every lesson cell (and share the lessons' worker)."""
    items.sort(key=lambda item: item.get_closest_marker("after_lessons") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_lessons: runs after the lessons, in their process, using their outputs")


@pytest.fixture(scope="session")
def executed_lessons() -> dict[str, tuple[object, set[int]]]:
    """The lessons nbval ran in this process, with their outputs (:data:`EXECUTED_LESSONS`)."""
    return EXECUTED_LESSONS
