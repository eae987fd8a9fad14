"""Lessons 03-06 run with every non-default backbone (smoke profile, papermill parameters).

nbval checks the default backbone's stored outputs; these runs only check that
each lesson executes top to bottom when the `backbone` parameter is changed,
which is also what `papermill -p backbone NAME` does for a learner.

To keep CI within its budget, what does not depend on the backbone's code
runs once, not once per backbone. Lesson 06's speed comparison is skipped
(nbval runs that cell for InceptionV3; its code does not change with the
backbone). MobileNetV2's two widths are one network (one constructor, one
cut; a test below checks that): `mobilenet_v2` runs lessons 03 and 04, which
load and build it, and `mobilenet_v2_035` runs lessons 05 and 06, which train
it. EfficientNetB0 runs 03, 05 and 06: lesson 04's head is the same code on
every base. `mobilenet_v2_035`'s runs of lessons 05 and 06 are in
tests/test_photo_lessons.py, which trains it on a folder of your own photos.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import test_photo_lessons
from support import ROOT, copy_synthetic_source

from helpers import models

LESSONS = ["03_loading_the_base_model", "04_building_the_new_head", "05_transfer_learning", "06_fine_tuning"]
OTHER_BACKBONES = sorted(name for name in models.BACKBONES if name != "inception_v3")
#: Backbones that are another one's network at another width: {this one: the other}. This one runs
#: lessons 03-04 (loading and building), the other lessons 05-06 (training), so each lesson runs once.
SAME_NETWORK_AS = {"mobilenet_v2": "mobilenet_v2_035"}
#: Which lessons each backbone runs. Lesson 04's head is the same code on every base (nbval runs it on
#: InceptionV3, `mobilenet_v2` here), so a backbone of its own network runs 03, 05 and 06.
RUNS = {name: LESSONS[:2] if name in SAME_NETWORK_AS
        else LESSONS[2:] if name in SAME_NETWORK_AS.values() else [LESSONS[0], *LESSONS[2:]]
        for name in OTHER_BACKBONES}
#: Runs of RUNS that another test makes: {backbone: its lessons there}.
ELSEWHERE = {test_photo_lessons.BACKBONE: [lesson for lesson in test_photo_lessons.LESSONS if lesson in LESSONS]}


@pytest.mark.parametrize("backbone", [name for name in OTHER_BACKBONES
                                      if set(RUNS[name]) - set(ELSEWHERE.get(name, []))])
def test_lessons_03_to_06_run_with_the_backbone(backbone: str, tmp_path: Path, synthetic_source: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    import papermill as pm

    copy_synthetic_source(synthetic_source, tmp_path / "data")
    monkeypatch.setenv("FLOWERS_PROFILE", "smoke")
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    for lesson in [lesson for lesson in RUNS[backbone] if lesson not in ELSEWHERE.get(backbone, [])]:
        out = tmp_path / f"{lesson}.ipynb"
        parameters: dict[str, object] = {"backbone": backbone}
        if lesson.startswith("06"):
            parameters["compare_speed"] = False
        pm.execute_notebook(str(ROOT / "notebooks" / f"{lesson}.ipynb"), str(out),
                            parameters=parameters, cwd=str(ROOT / "notebooks"),
                            kernel_name="python3", progress_bar=False)
        cells = nbformat.read(out, as_version=4).cells
        setup_cell = next(c for c in cells if c.cell_type == "code" and "cfg = setup(" in c.source)
        setup_output = "".join(o.get("text", "") for o in setup_cell.outputs)
        assert f"backbone     : {backbone}" in setup_output, "the papermill parameter must reach the config"
    if "06_fine_tuning" in RUNS[backbone]:
        assert (tmp_path / "build" / "models" / f"finetune_smoke_{backbone}.keras").exists()
        assert not list((tmp_path / "build" / "models").glob("*.unfinished.*")), "every phase finished"


def test_every_lesson_runs_with_every_network_and_the_shared_ones_really_are_one_network() -> None:
    for name, other in SAME_NETWORK_AS.items():
        assert models.BACKBONES[name].constructor == models.BACKBONES[other].constructor
        assert models.BACKBONES[name].freeze_through == models.BACKBONES[other].freeze_through
        assert sorted(RUNS[name] + RUNS[other]) == LESSONS, "the two widths share every lesson between them"
    for name in set(OTHER_BACKBONES) - set(SAME_NETWORK_AS) - set(SAME_NETWORK_AS.values()):
        assert RUNS[name] == [lesson for lesson in LESSONS if not lesson.startswith("04")]
    assert any("04_building_the_new_head" in lessons for lessons in RUNS.values()), "lesson 04 runs on one"
    for name, lessons in ELSEWHERE.items():
        assert set(RUNS[name]) <= set(lessons), f"{name}'s runs of {RUNS[name]} are all made elsewhere"
