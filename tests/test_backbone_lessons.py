"""Lessons 03-06 run with every non-default backbone (smoke profile, papermill parameters).

nbval checks the default backbone's stored outputs; these runs only check that
each lesson executes top to bottom when the `backbone` parameter is changed,
which is also what `papermill -p backbone NAME` does for a learner.

To keep CI within its budget, two parts that do not depend on the backbone's
code run once rather than three times: lesson 06's speed comparison runs for
`mobilenet_v2_035` only (the backbone for CPUs; nbval runs it for InceptionV3),
and `mobilenet_v2` (the same network as `mobilenet_v2_035` at another width)
runs lessons 03 and 04, which load and build it, but not the training lessons.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT, copy_synthetic_source

from helpers import models

LESSONS = ["03_loading_the_base_model", "04_building_the_new_head", "05_transfer_learning", "06_fine_tuning"]
OTHER_BACKBONES = sorted(name for name in models.BACKBONES if name != "inception_v3")
#: Backbones whose training path is another one's (same constructor, another width): lessons 03-04 only.
SAME_NETWORK_AS = {"mobilenet_v2": "mobilenet_v2_035"}
#: The backbone that also runs lesson 06's speed comparison.
TIMED = "mobilenet_v2_035"


@pytest.mark.parametrize("backbone", OTHER_BACKBONES)
def test_lessons_03_to_06_run_with_the_backbone(backbone: str, tmp_path: Path, synthetic_source: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    import papermill as pm

    copy_synthetic_source(synthetic_source, tmp_path / "data")
    monkeypatch.setenv("FLOWERS_PROFILE", "smoke")
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    lessons = LESSONS[:2] if backbone in SAME_NETWORK_AS else LESSONS
    for lesson in lessons:
        out = tmp_path / f"{lesson}.ipynb"
        parameters: dict[str, object] = {"backbone": backbone}
        if lesson.startswith("06") and backbone != TIMED:
            parameters["compare_speed"] = False
        pm.execute_notebook(str(ROOT / "notebooks" / f"{lesson}.ipynb"), str(out),
                            parameters=parameters, cwd=str(ROOT / "notebooks"),
                            kernel_name="python3", progress_bar=False)
        cells = nbformat.read(out, as_version=4).cells
        setup_cell = next(c for c in cells if c.cell_type == "code" and "cfg = setup(" in c.source)
        setup_output = "".join(o.get("text", "") for o in setup_cell.outputs)
        assert f"backbone     : {backbone}" in setup_output, "the papermill parameter must reach the config"
    if backbone not in SAME_NETWORK_AS:
        assert (tmp_path / "build" / "models" / f"finetune_smoke_{backbone}.keras").exists()
        assert not list((tmp_path / "build" / "models").glob("*.unfinished.*")), "every phase finished"
    assert SAME_NETWORK_AS.get(backbone, backbone) in OTHER_BACKBONES


def test_the_backbones_that_skip_training_are_the_same_network_as_one_that_trains() -> None:
    for short, full in SAME_NETWORK_AS.items():
        assert models.BACKBONES[short].constructor == models.BACKBONES[full].constructor
        assert models.BACKBONES[short].freeze_through == models.BACKBONES[full].freeze_through
