"""Lessons 04-07 run unchanged on your own photos (FLOWERS_PHOTOS), and lesson 01 says it is Flowers17's.

The folder is the smoke profile's synthetic one (four uneven classes, one with a
space in its name, bad files, copies), in a path with a space and a non-ASCII
letter. The lessons run as `make tutorial` runs them: papermill, with the folder
in the environment. Lessons 04-07 are the ones that build the head, train and
score, where a class count or a class name could be assumed; lessons 02, 03 and
08 read the same split through the same helpers. `mobilenet_v2_035` keeps the
run short, and these are that backbone's runs of lessons 05 and 06 too
(tests/test_backbone_lessons.py does not run them again).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support import ROOT

from helpers import synthetic

LESSONS = ["04_building_the_new_head", "05_transfer_learning", "06_fine_tuning", "07_curves_and_evaluation"]
#: The backbone these runs use. They are also its runs of lessons 05 and 06 (tests/test_backbone_lessons.py).
BACKBONE = "mobilenet_v2_035"


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _outputs(notebook: Path) -> str:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return "\n".join("".join(o.get("text", "")) for c in cells if c.cell_type == "code" for o in c.outputs)


def test_lessons_04_to_07_run_on_a_folder_of_photos_and_leave_it_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill as pm

    photos = synthetic.write_photo_folder(tmp_path / "my photos é")
    before = _contents(photos)
    monkeypatch.setenv("FLOWERS_PROFILE", "smoke")
    monkeypatch.setenv("FLOWERS_PHOTOS", str(photos))
    monkeypatch.setenv("FLOWERS_BACKBONE", BACKBONE)
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    for lesson in LESSONS:
        out = tmp_path / f"{lesson}.ipynb"
        pm.execute_notebook(str(ROOT / "notebooks" / f"{lesson}.ipynb"), str(out),
                            parameters={"compare_speed": False} if lesson.startswith("06") else {},
                            cwd=str(ROOT / "notebooks"), kernel_name="python3", progress_bar=False)
    said = {lesson: _outputs(tmp_path / f"{lesson}.ipynb") for lesson in LESSONS}
    assert f"photos       : {photos}" in said[LESSONS[0]]
    assert all(f"backbone     : {BACKBONE}" in said[lesson] for lesson in LESSONS), "the setting reaches every lesson"
    assert "Found 61 images belonging to 4 classes." in said[LESSONS[0]], "the split's training photos"
    assert re.search(r"\nDense +output \(None, 4\) ", said[LESSONS[0]]), "one output per class folder"
    assert "(chance 0.250)" in said[LESSONS[0]]
    report = said[LESSONS[3]]
    for name in ("Pansy", "Tulip", "bluebell", "sun flower"):
        assert f"\n{name:>12}      " in report, f"lesson 07's report names the class {name!r}"
    results = json.loads((tmp_path / "build" / "results.json").read_text())
    assert results["identity"]["photos"] == str(photos) and results["identity"]["photos_fingerprint"]
    assert results["test_images"] == 20
    assert (tmp_path / "build" / "models" / f"finetune_smoke_{BACKBONE}.keras").exists()
    assert not list((tmp_path / "build" / "models").glob("*.unfinished.*")), "every phase finished"
    assert _contents(photos) == before, "the learner's folder is only read"


def test_lesson_01_says_it_is_flowers17s_and_make_tutorial_leaves_it_out(tmp_path: Path) -> None:
    import papermill as pm

    photos = synthetic.write_photo_folder(tmp_path / "photos")
    env = {**os.environ, "FLOWERS_PROFILE": "smoke", "FLOWERS_PHOTOS": str(photos),
           "FLOWERS_DATA_DIR": str(tmp_path / "data"), "FLOWERS_BUILD_DIR": str(tmp_path / "build")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        with pytest.raises(pm.PapermillExecutionError) as raised:
            pm.execute_notebook(str(ROOT / "notebooks" / "01_labelling_the_data.ipynb"), str(tmp_path / "01.ipynb"),
                                cwd=str(ROOT / "notebooks"), kernel_name="python3", progress_bar=False)
    assert raised.value.ename == "FlowersError"
    assert "This lesson downloads and splits Flowers17, but FLOWERS_PHOTOS is set" in raised.value.evalue
    assert not (tmp_path / "data" / "smoke" / "splits").exists(), "it stopped before writing anything"

    from tools.common import lesson_paths, lessons_for

    assert [p.name[:2] for p in lessons_for(lesson_paths(), photos)] == \
        [p.name[:2] for p in lesson_paths() if not p.name.startswith("01")]
    assert lessons_for(lesson_paths(), None) == lesson_paths()
