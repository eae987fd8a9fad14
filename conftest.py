"""Repository-wide pytest settings: how pytest-xdist shares `make test` between its workers.

Here, not in tests/conftest.py, so that ``pytest notebooks -n 2`` keeps the
lessons in order too.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """How `make test`'s two pytest-xdist workers share the tests: whole groups, each on one worker.

    - Every lesson cell that nbval collects is in one group, so the lessons
      run in their order, each in its own kernel, as a learner runs them
      (lesson 06 uses the model lesson 05 saved).
    - Each test module is one group, so its module-scoped fixtures (a trained
      model, a finished benchmark) are built once, not once per worker.

    (xdist's own ``--dist loadgroup`` would do the first, but its marks do not
    reach the scheduler under pytest 9; this is xdist's documented hook.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class LessonsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "lessons" if path.endswith(".ipynb") else path

    return LessonsTogether(config, log)
