"""After the lessons' own nbval run: the run's ``results.json`` is complete.

Lessons 05-07 each write their part of ``build/results.json``, and a phase that
starts again retires its old numbers and lesson 07's choice
(``runs.start_clean``). So the order of the lessons' cells matters: lesson
07 must record its choice after it starts its ``final`` phase, not before. This
module runs on the lessons' worker, after them (``after_lessons``), and reads
what they left.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.config import load_config
from helpers.results import missing_keys, read_results
from tools.common import lesson_paths

pytestmark = pytest.mark.after_lessons


def test_a_whole_lesson_run_leaves_every_result_a_complete_run_records(executed_lessons) -> None:
    ran = {Path(path).name for path in executed_lessons}
    if not ran:
        pytest.skip("no lesson ran in this pytest process: run this module together with notebooks/, "
                    "as `make test` does")
    assert ran == {path.name for path in lesson_paths()}, f"only {sorted(ran)} ran under nbval"
    results = read_results(load_config())
    assert missing_keys(results) == []
    assert results["chosen"] in {"probe", "transfer", "finetune"}
    assert {"probe", "transfer", "finetune"} <= set(results["phases"])
    assert all("val_accuracy" in results["phases"][phase] for phase in ("probe", "transfer", "finetune"))
