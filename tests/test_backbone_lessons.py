"""Lessons 03-06 run with every non-default backbone (smoke profile, papermill parameters).

nbval checks the default backbone's stored outputs; these runs only check that
each lesson executes top to bottom when the `backbone` parameter is changed,
which is also what `papermill -p backbone NAME` does for a learner.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ROOT, copy_synthetic_source

from helpers import models

LESSONS = ["03_loading_the_base_model", "04_building_the_new_head", "05_transfer_learning", "06_fine_tuning"]
OTHER_BACKBONES = sorted(name for name in models.BACKBONES if name != "inception_v3")


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
    for lesson in LESSONS:
        out = tmp_path / f"{lesson}.ipynb"
        pm.execute_notebook(str(ROOT / "notebooks" / f"{lesson}.ipynb"), str(out),
                            parameters={"backbone": backbone}, cwd=str(ROOT / "notebooks"),
                            kernel_name="python3", progress_bar=False)
        cells = nbformat.read(out, as_version=4).cells
        setup_cell = next(c for c in cells if c.cell_type == "code" and "cfg = setup(" in c.source)
        setup_output = "".join(o.get("text", "") for o in setup_cell.outputs)
        assert f"backbone     : {backbone}" in setup_output, "the papermill parameter must reach the config"
    assert (tmp_path / "build" / "models" / f"finetune_smoke_{backbone}.keras").exists()
