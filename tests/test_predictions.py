"""Lesson 07's test answers per run (helpers.predictions): kept with the final model, compared across runs."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from support import assert_single_readable_message, lesson_cell, run_cell

from helpers import data, plots, predictions, runs
from helpers.config import Config, load_config
from helpers.errors import FlowersError

matplotlib.use("Agg")

FILES = ["a/one.jpg", "b/two, with a comma.jpg", "c/three.jpg", "d/four.jpg"]
TRUE = [0, 1, 2, 3]


def finished_run(cfg: Config, answers: list[int]) -> Path:
    """What lesson 07 leaves: the final phase's record, then this run's answers."""
    runs.start_clean(cfg, "final")
    return predictions.write_test_predictions(cfg, FILES, TRUE, answers, [0.9, 0.8, 0.7, 0.6])


def smoke_cfg(build: Path, **env: str) -> Config:
    return load_config(env={"FLOWERS_PROFILE": "smoke", **env}, data_dir=build.parent / "data", build_dir=build)


def test_answers_survive_the_round_trip(tmp_path: Path) -> None:
    cfg = smoke_cfg(tmp_path / "build")
    path = finished_run(cfg, [0, 1, 0, 3])
    back = predictions.read_test_predictions(path, "this run", 1)
    assert back.files == tuple(FILES) and back.true.tolist() == TRUE and back.predicted.tolist() == [0, 1, 0, 3]
    assert (back.correct, back.accuracy) == (3, 0.75)
    assert back.confidence.tolist() == [0.9, 0.8, 0.7, 0.6]        # lesson 10 orders the mistakes by it


@pytest.mark.parametrize("phase", ["final", "finetune", "transfer"])
def test_training_again_retires_the_answers_with_the_final_model(tmp_path: Path, phase: str) -> None:
    cfg = smoke_cfg(tmp_path / "build")
    path = finished_run(cfg, TRUE)
    assert path in runs.start_clean(cfg, phase) and not path.exists()


@pytest.mark.parametrize("text", ["", "file,true\nx.jpg,1\n", "file,true,predicted,confidence\nx.jpg,1,\n"])
def test_damaged_answers_get_one_message(tmp_path: Path, text: str) -> None:
    path = tmp_path / "answers.csv"
    path.write_text(text)
    with pytest.raises(FlowersError, match="run lesson 07 for that run") as raised:
        predictions.read_test_predictions(path, "x", 1)
    assert_single_readable_message(raised.value)
    with pytest.raises(FlowersError, match="No test predictions"):
        predictions.read_test_predictions(tmp_path / "missing.csv", "x", 1)


def test_runs_of_this_split_are_found_and_others_left_out(tmp_path: Path) -> None:
    build = tmp_path / "build"
    cfg = smoke_cfg(build, FLOWERS_SEED="7")
    finished_run(cfg, [0, 1, 0, 3])
    finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 1), FLOWERS_SEED="7"), [0, 1, 0, 3])
    finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 2), FLOWERS_SEED="7", FLOWERS_RUN="2"), [0, 1, 2, 0])
    # A folder of seed 7's that holds another split's run, and one whose answers are damaged:
    finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 3), FLOWERS_SEED="8"), TRUE)
    damaged = finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 4), FLOWERS_SEED="7", FLOWERS_RUN="4"), TRUE)
    damaged.write_text("file,true\n")
    # ...one with no final record (lesson 07 never finished there), and one that lists other test photos:
    runs.accuracy_run_dir(build, 7, 5).mkdir(parents=True)
    other_photos = smoke_cfg(runs.accuracy_run_dir(build, 7, 6), FLOWERS_SEED="7", FLOWERS_RUN="6")
    runs.start_clean(other_photos, "final")
    predictions.write_test_predictions(other_photos, ["x.jpg"], [0], [0], [1.0])
    # Run 10 comes after run 2, not between runs 1 and 2:
    finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 10), FLOWERS_SEED="7", FLOWERS_RUN="10"), TRUE)

    found = predictions.runs_of_this_split(cfg)
    assert [(r.label, r.training_run) for r in found] == [
        ("this run (run 1)", 1), ("accuracy/seed-7/run-1", 1), ("accuracy/seed-7/run-2", 2),
        ("accuracy/seed-7/run-10", 10)]
    this, again, second, tenth = found
    assert predictions.compare(this, again) == {"apart": 0, "disagree": 0, "only_a": 0, "only_b": 0}
    assert predictions.compare(this, second) == {"apart": 0, "disagree": 2, "only_a": 1, "only_b": 1}
    assert predictions.compare(this, tenth) == {"apart": 1, "disagree": 1, "only_a": 0, "only_b": 1}


def test_a_lesson_run_by_make_accuracy_finds_the_runs_beside_its_own_folder(tmp_path: Path) -> None:
    """Inside build/accuracy/seed-7/run-2, run 1 is the folder beside it; the run's own folder is not listed twice."""
    build = tmp_path / "build"
    first = finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 1), FLOWERS_SEED="7"), [0, 1, 0, 3])
    second = smoke_cfg(runs.accuracy_run_dir(build, 7, 2), FLOWERS_SEED="7", FLOWERS_RUN="2")
    finished_run(second, TRUE)
    assert first.exists()
    found = predictions.runs_of_this_split(second)
    assert [(r.label, r.training_run, r.correct) for r in found] == [
        ("this run (run 2)", 2, 4), ("accuracy/seed-7/run-1", 1, 3)]


def test_this_run_without_answers_is_told_to_run_lesson_07(tmp_path: Path) -> None:
    with pytest.raises(FlowersError, match="run lesson 07"):
        predictions.runs_of_this_split(smoke_cfg(tmp_path / "build"))


def _two_run_cells(cfg: Config, folder: Path, predicted: list[int]) -> dict[str, object]:
    """Lesson 07's two cells that keep and compare the test answers, run as its kernel would."""
    import matplotlib.pyplot as plt

    namespace = {"cfg": cfg, "np": np, "plt": plt, "plots": plots, "data": data, "folder": folder,
                 "class_names": data.class_names(cfg),
                 "gens": type("G", (), {"test": type("T", (), {"filenames": FILES})()})(),
                 "true": np.array(TRUE), "predicted": np.array(predicted), "confidence": np.full(4, 0.5)}
    run_cell(lesson_cell("07", "predictions.write_test_predictions("), namespace)
    run_cell(lesson_cell("07", "predictions.compare(this, run)"), namespace)
    plt.close("all")
    return namespace


def test_lesson_07_sets_two_runs_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    folder = tmp_path / "split"
    for name in FILES:
        (folder / "test" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), "red").save(folder / "test" / name)
    build = tmp_path / "build"
    cfg = smoke_cfg(build, FLOWERS_SEED="7")
    runs.start_clean(cfg, "final")

    ns = _two_run_cells(cfg, folder, [0, 1, 0, 3])
    out = capsys.readouterr().out
    assert "this run (run 1)             3 of 4 test photos right (0.750)" in out
    assert "No other run of seed 7 is on record" in out and ns["other"] is None

    finished_run(smoke_cfg(runs.accuracy_run_dir(build, 7, 2), FLOWERS_SEED="7", FLOWERS_RUN="2"), [0, 1, 2, 0])
    shown: list[list[str]] = []
    real_gallery = plots.image_gallery
    monkeypatch.setattr(plots, "image_gallery",
                        lambda paths, titles: shown.append(titles) or real_gallery(paths, titles))
    ns = _two_run_cells(cfg, folder, [0, 1, 0, 3])
    out = capsys.readouterr().out
    assert ("this run (run 1) and accuracy/seed-7/run-2: 0 test photo(s) apart; 2 answered differently "
            "(1 right only here, 1 right only there)") in out
    assert ns["other"].training_run == 2
    other = "accuracy/seed-7/run-2"
    assert shown == [[f"true: {data.SPECIES[2]}\nthis run: {data.SPECIES[0]}\n{other}: {data.SPECIES[2]}",
                      f"true: {data.SPECIES[3]}\nthis run: {data.SPECIES[3]}\n{other}: {data.SPECIES[0]}"]]
