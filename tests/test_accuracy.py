"""`make accuracy` (tools/accuracy.py): one build folder per seed, and honest aggregation."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from helpers.config import load_config
from helpers.results import update_results
from tools import accuracy, run_lessons
from tools.common import ROOT

#: The real reader of lesson 07's test answers (the fixture below stands it in for runs that wrote none).
READ_ANSWERS = accuracy.chosen_test_answers


@pytest.fixture(autouse=True)
def runs_without_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake lesson runs below write no predictions file: their rows carry no answers, unless a test says so."""
    monkeypatch.setattr(accuracy, "chosen_test_answers", lambda cfg: {})


def fake_results(probe: float, transfer: float, finetune: float, test: float = 0.95) -> dict[str, object]:
    """What lessons 01, 05, 06 and 07 write into results.json, reduced to what the table reads.

    The three numbers are validation accuracies; lesson 07 chooses the highest
    (the first on a tie) and scores only it on the test set.
    """
    vals = {"probe": probe, "transfer": transfer, "finetune": finetune}
    return {"profile": "full", "backbone": "mobilenet_v2_035", "chosen": max(vals, key=vals.get),
            "test_accuracy": test,
            "phases": {"probe": {"val_accuracy": probe},
                       "transfer": {"val_accuracy": transfer, "epochs": 14},
                       "finetune": {"val_accuracy": finetune, "epochs": 8}},
            "lessons": {"05_transfer_learning": {"seconds": 100.0}}}


def test_the_lessons_are_01_05_06_07_in_order() -> None:
    names = [p.name[:2] for p in accuracy.accuracy_lessons(ROOT)]
    assert names == ["01", "05", "06", "07"]


def test_seed_summary_reads_the_validation_accuracies_the_choice_and_its_one_test_score() -> None:
    row = accuracy.seed_summary(fake_results(0.93, 0.94, 0.96, test=0.955))
    assert (row["probe_val"], row["transfer_val"], row["finetune_val"]) == (0.93, 0.94, 0.96)
    assert (row["chosen"], row["test"]) == ("finetune", 0.955)
    assert (row["transfer_epochs"], row["finetune_epochs"]) == (14, 8)
    assert row["lesson_seconds"] == {"05_transfer_learning": 100.0}


@pytest.mark.parametrize("missing", ["chosen", "test_accuracy"])
def test_seed_summary_refuses_a_run_that_did_not_choose_or_score(missing: str) -> None:
    results = fake_results(0.93, 0.94, 0.96)
    del results[missing]
    with pytest.raises(KeyError):
        accuracy.seed_summary(results)


def test_aggregate_is_the_mean_and_the_sample_standard_deviation_between_splits() -> None:
    tests = {"probe_test": 0.9, "transfer_test": 0.9, "finetune_test": 0.9}
    rows = [{"seed": 1, "probe_val": 0.90, "transfer_val": 0.95, "finetune_val": 0.96, "test": 0.96, **tests},
            {"seed": 2, "probe_val": 0.92, "transfer_val": 0.93, "finetune_val": 0.97, "test": 0.97, **tests},
            {"seed": 3, "probe_val": 0.94, "transfer_val": 0.94, "finetune_val": 0.95, "test": 0.95,
             **tests, "finetune_test": 0.93}]
    summary = accuracy.aggregate(rows)
    assert summary["probe_val"]["mean"] == pytest.approx(0.92)
    assert summary["probe_val"]["split_std"] == pytest.approx(0.02)        # n - 1 in the denominator
    assert summary["test"]["split_std"] == pytest.approx(statistics.stdev([0.96, 0.97, 0.95]))
    assert summary["finetune_test"]["mean"] == pytest.approx(0.91)
    assert summary["test"]["run_range"] == 0.0 and summary["test"]["lowest"] == 0.95    # one run per split


def test_aggregate_separates_the_spread_between_runs_of_a_split_from_the_spread_between_splits() -> None:
    """Two splits, two runs each: the runs of seed 1 are 4 points apart, its mean 2 points below seed 2's."""
    def row(seed: int, test: float) -> dict[str, float]:
        return {"seed": seed, **{key: test for key in accuracy.AVERAGED}}

    summary = accuracy.aggregate([row(1, 0.92), row(1, 0.96), row(2, 0.95), row(2, 0.97)])["test"]
    assert summary["mean"] == pytest.approx(0.95)
    assert summary["run_range"] == pytest.approx(0.04)                     # seed 1; seed 2's runs are 0.02 apart
    assert summary["split_std"] == pytest.approx(statistics.stdev([0.94, 0.96]))   # of the seeds' means
    assert summary["lowest"] == 0.92


def test_main_runs_each_seed_in_its_own_build_folder_and_writes_the_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each seed's lessons see their own FLOWERS_SEED and FLOWERS_BUILD_DIR; the files add them up."""
    scores = {1: (0.92, 0.94, 0.95, 0.95), 2: (0.93, 0.95, 0.94, 0.97), 3: (0.94, 0.93, 0.96, 0.96)}
    calls: list[tuple[str, str, list[str]]] = []

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        seed, build = env["FLOWERS_SEED"], env["FLOWERS_BUILD_DIR"]
        calls.append((seed, build, argv))
        update_results(load_config(env=env), fake_results(*scores[int(seed)]))  # as the lessons record
        return 0

    def fake_test_scores(cfg) -> dict[str, float]:
        assert (cfg.seed, cfg.build_dir.parent.name, cfg.build_dir.name) == (int(calls[-1][0]), f"seed-{cfg.seed}",
                                                                            "run-1")
        return {"probe_test": 0.90 + cfg.seed / 100, "transfer_test": 0.91, "finetune_test": 0.94}

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies", fake_test_scores)
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data"), "FLOWERS_SEED": "42"}.items():
        monkeypatch.setenv(name, value)
    assert accuracy.main(["--seeds", "1", "2", "3"]) == 0

    assert [(seed, Path(build).parent.name) for seed, build, _ in calls] == \
        [("1", "seed-1"), ("2", "seed-2"), ("3", "seed-3")]
    assert all("compare_speed=False" in argv for _, _, argv in calls)
    assert [Path(a).name[:2] for a in calls[0][2] if a.endswith(".ipynb")] == ["01", "05", "06", "07"]

    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert report["summary"]["test"]["mean"] == pytest.approx(0.96)
    assert report["summary"]["probe_val"]["mean"] == pytest.approx(0.93)
    second = report["runs"][1]
    assert (second["seed"], second["run"], second["chosen"], second["test"]) == (2, 1, "transfer", 0.97)
    table = (tmp_path / "accuracy.md").read_text()
    assert "| 2 | 1 | 0.930 | 0.950 | 0.940 | transfer phase | 0.970 | 0.920 | 0.910 | 0.940 | 14 + 8 |" in table
    assert "| **mean** | **0.930** | **0.940** | **0.950** | **0.960** |" in table
    assert "| between splits (std) | 0.010 | 0.010 | 0.010 | 0.010 |" in table
    assert report["summary"]["probe_test"]["mean"] == pytest.approx(0.92)
    assert report["summary"]["finetune_test"] == {"mean": pytest.approx(0.94), "split_std": 0.0, "run_range": 0.0,
                                                  "lowest": 0.94}
    assert "seeded 40/20/20 splits" in table and "smoke profile" in table


def test_main_gives_the_lessons_their_seed_without_changing_its_own_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed, its build folder and TF_CPP_MIN_LOG_LEVEL go to the lessons' environment, not to os.environ."""
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data"), "FLOWERS_SEED": "42"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    before = dict(os.environ)
    given: list[dict[str, str]] = []

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        assert dict(os.environ) == before, "the runner's own environment changed"
        given.append(dict(env))
        update_results(load_config(env=env), fake_results(0.9, 0.91, 0.92))
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies",
                        lambda cfg: {"probe_test": 0.9, "transfer_test": 0.9, "finetune_test": 0.9})
    assert accuracy.main(["--seeds", "5", "6"]) == 0
    assert dict(os.environ) == before
    assert [(env["FLOWERS_SEED"], env["FLOWERS_RUN"], env["FLOWERS_BUILD_DIR"]) for env in given] == \
        [("5", "1", str(tmp_path / "accuracy" / "seed-5" / "run-1")),
         ("6", "1", str(tmp_path / "accuracy" / "seed-6" / "run-1"))]
    assert all(env["TF_CPP_MIN_LOG_LEVEL"] == "1" and env["FLOWERS_DATA_DIR"] == str(tmp_path / "data")
               for env in given)


def test_main_reports_only_the_numbers_of_the_seed_s_own_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A results.json that another run identity wrote counts for nothing: no stale numbers reach the table."""
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        other = load_config(env={**env, "FLOWERS_SEED": "99"})   # same folder, another split
        update_results(other, fake_results(0.9, 0.91, 0.92))
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies", lambda cfg: {})
    with pytest.raises(KeyError):
        accuracy.main(["--seeds", "1"])
    assert not (tmp_path / "accuracy.json").exists()


def test_each_candidate_is_scored_on_its_own_run_s_test_photos(
        tmp_path: Path, synthetic_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's test columns: the three saved models of this run, on the test split and nothing else."""
    import types

    import keras
    from sklearn.metrics import f1_score
    from support import smoke_split

    from helpers import generators, models, runs, training

    cfg, folder = smoke_split(tmp_path, synthetic_source)
    cfg = cfg.replace(image_size=32, batch_size=32)
    gens = generators.make_generators(cfg, folder)
    expected = {}
    for number, phase in enumerate(accuracy.MODELS):
        keras.utils.set_random_seed(number)        # three different untrained models
        inputs = keras.Input((32, 32, 3))
        base = keras.Model(inputs, keras.layers.Conv2D(8, 3, activation="relu")(inputs))
        model = models.add_head(base, gens.train.num_classes)
        if phase == "probe":                       # lesson 05 saves its probe uncompiled, without fit_phase
            runs.start_clean(cfg, phase)
            model.save(runs.model_path(cfg, phase))
        else:                                      # fine-tuning continues the transfer phase's epochs
            training.compile_transfer(model)
            training.fit_phase(cfg, model, gens, phase, epochs=number, initial_epoch=number - 1, verbose=0)
        model = training.load_phase_model(cfg, phase)
        predicted = model.predict(gens.test, verbose=0).argmax(axis=1)
        expected[f"{phase}_test"] = float((predicted == gens.test.classes).mean())
        expected[f"{phase}_test_f1"] = float(f1_score(gens.test.classes, predicted, average="macro",
                                                      labels=range(gens.test.num_classes), zero_division=0))

    class NotThisSplit:
        def __getattr__(self, name: str) -> object:
            raise AssertionError("only the test split may be scored")

    only_test = types.SimpleNamespace(train=NotThisSplit(), validation=NotThisSplit(), test=gens.test)
    monkeypatch.setattr(generators, "make_generators", lambda *args, **kwargs: only_test)
    scores = accuracy.candidate_test_accuracies(cfg)
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len({expected[f"{phase}_test"] for phase in accuracy.MODELS}) == 3, \
        "the models must differ for this test to tell them apart"


def test_repeats_train_each_split_again_in_a_folder_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--repeats 2: runs 1 and 2 of each seed, each with its FLOWERS_RUN and folder; the report tells them apart."""
    tests = {(1, 1): 0.95, (1, 2): 0.91, (2, 1): 0.96, (2, 2): 0.97}
    calls: list[tuple[str, str, str]] = []

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        calls.append((env["FLOWERS_SEED"], env["FLOWERS_RUN"], env["FLOWERS_BUILD_DIR"]))
        cfg = load_config(env=env)
        update_results(cfg, fake_results(0.9, 0.92, 0.94, test=tests[(cfg.seed, cfg.run)]))
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies",
                        lambda cfg: {f"{k}_test": tests[(cfg.seed, cfg.run)] for k in accuracy.MODELS})
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    assert accuracy.main(["--seeds", "1", "2", "--repeats", "2"]) == 0
    assert [(s, r, Path(b).relative_to(tmp_path).as_posix()) for s, r, b in calls] == [
        ("1", "1", "accuracy/seed-1/run-1"), ("1", "2", "accuracy/seed-1/run-2"),
        ("2", "1", "accuracy/seed-2/run-1"), ("2", "2", "accuracy/seed-2/run-2")]
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert [(r["seed"], r["run"], r["test"]) for r in report["runs"]] == [(1, 1, 0.95), (1, 2, 0.91), (2, 1, 0.96),
                                                                         (2, 2, 0.97)]
    assert report["repeats"] == 2 and report["summary"]["test"]["run_range"] == pytest.approx(0.04)
    assert report["summary"]["test"]["lowest"] == 0.91
    table = (tmp_path / "accuracy.md").read_text()
    assert "training runs per split: 2," in table and "| lowest run | 0.900 | 0.920 | 0.940 | 0.910 |" in table


def test_the_report_sets_two_runs_of_a_seed_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 07's answers per test photo: runs 1 and 2 are 1 photo apart but disagree on 3 photos."""
    from helpers import predictions

    files = [f"{i:02d}.jpg" for i in range(10)]
    true = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    answers = {1: [0, 1, 2, 3, 4, 5, 6, 7, 0, 0],      # 8 right
               2: [0, 1, 2, 3, 4, 5, 6, 0, 8, 9]}      # 9 right: 1 apart; photos 7, 8 and 9 differ

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        cfg = load_config(env=env)
        update_results(cfg, fake_results(0.9, 0.92, 0.94, test=0.9))
        predictions.write_test_predictions(cfg, files, true, answers[cfg.run], [0.5] * 10)
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies", lambda cfg: {f"{k}_test": 0.9 for k in accuracy.MODELS})
    monkeypatch.setattr(accuracy, "chosen_test_answers", READ_ANSWERS)
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    assert accuracy.main(["--seeds", "4", "--repeats", "2"]) == 0
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert report["runs"][0]["test_right"] == [1] * 8 + [0, 0]
    assert accuracy.run_pairs(report["runs"]) == [{"seed": 4, "runs": [1, 2], "apart": 1, "disagree": 3,
                                                   "photos": 10}]
    assert "| 4 | 1 and 2 | 1 | 3 |" in (tmp_path / "accuracy.md").read_text()


def test_an_interrupted_measurement_keeps_the_runs_it_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report is written after every run: when run 2 fails, run 1 is on record, ready for --merge."""
    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        cfg = load_config(env=env)
        if cfg.run == 2:
            return 1                                   # the lesson runner has printed why
        update_results(cfg, fake_results(0.9, 0.92, 0.94, test=0.93))
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies", lambda cfg: {f"{k}_test": 0.9 for k in accuracy.MODELS})
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    assert accuracy.main(["--seeds", "1", "--repeats", "2"]) == 1
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert [(r["seed"], r["run"], r["test"]) for r in report["runs"]] == [(1, 1, 0.93)] and report["repeats"] == 1
    assert "| 1 | 1 |" in (tmp_path / "accuracy.md").read_text()


def test_repeats_below_1_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        accuracy.main(["--repeats", "0"])
    assert stopped.value.code == 2 and "--repeats counts training runs per split" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        accuracy.main(["--first-run", "0"])


def report_of(rows: list[tuple[int, int, float]], **settings: object) -> dict[str, object]:
    """An accuracy.json as main writes it, for runs ``(seed, run, test accuracy)``."""
    runs = [{"seed": seed, "run": run, "chosen": "finetune", "seconds": 10.0, "transfer_epochs": 9,
             "finetune_epochs": 20, **{key: test for key in accuracy.AVERAGED}} for seed, run, test in rows]
    return {"backbone": "mobilenet_v2_035", "image_size": 288, "profile": "full", "deterministic": True,
            "repeats": 1, "machine": "a CPU", "runs": runs, "summary": accuracy.aggregate(runs),
            "wall_seconds": 10.0 * len(runs), **settings}


def test_merge_joins_runs_measured_at_different_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, later = tmp_path / "first.json", tmp_path / "later.json"
    first.write_text(json.dumps(report_of([(1, 1, 0.95), (2, 1, 0.96)])))
    later.write_text(json.dumps(report_of([(1, 2, 0.93), (2, 2, 0.97)])))
    merged = accuracy.merged_report([later, first])
    assert [(r["seed"], r["run"]) for r in merged["runs"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert merged["repeats"] == 2 and merged["wall_seconds"] == 40.0
    assert merged["summary"]["test"]["run_range"] == pytest.approx(0.02)
    assert merged["summary"]["test"]["lowest"] == 0.93
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    assert accuracy.main(["--merge", str(first), str(later)]) == 0
    assert json.loads((tmp_path / "build" / "accuracy.json").read_text())["runs"] == merged["runs"]


@pytest.mark.parametrize(("other", "message"), [({"image_size": 224}, "measured different things"),
                                                 ({}, "same run of the same seed")])
def test_merge_refuses_reports_that_do_not_belong_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        other: dict[str, object], message: str) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(report_of([(1, 1, 0.95)])))
    second.write_text(json.dumps(report_of([(1, 1, 0.94)], **other)))
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    assert accuracy.main(["--merge", str(first), str(second)]) == 1
    assert message in capsys.readouterr().out
    assert not (tmp_path / "build" / "accuracy.json").exists()


def test_merge_refuses_runs_on_a_photo_folder_that_changed_between_them(tmp_path: Path) -> None:
    from helpers.errors import FlowersError

    reports = []
    for run, fingerprint in ((1, "aaaa"), (2, "bbbb")):
        report = report_of([(1, run, 0.95)], data="your photos in /photos")
        report["runs"][0]["photos_fingerprint"] = fingerprint
        reports.append(tmp_path / f"{run}.json")
        reports[-1].write_text(json.dumps(report))
    with pytest.raises(FlowersError, match="as it was at different times .*2 fingerprints"):
        accuracy.merged_report(reports)
    same = json.loads(reports[1].read_text())
    same["runs"][0]["photos_fingerprint"] = "aaaa"
    reports[1].write_text(json.dumps(same))
    assert len(accuracy.merged_report(reports)["runs"]) == 2


def test_a_split_with_more_runs_does_not_weigh_more_in_the_mean(tmp_path: Path) -> None:
    report = report_of([(1, 1, 0.90), (1, 2, 0.90), (1, 3, 0.90), (2, 1, 1.0)])
    assert report["summary"]["test"]["mean"] == pytest.approx(0.95)        # not 0.925, the mean of the four runs
    assert "training runs per split: seed 1: 3, seed 2: 1," in accuracy.markdown_table(report)


def test_merge_refuses_a_report_of_the_old_layout(tmp_path: Path) -> None:
    from helpers.errors import FlowersError

    old = tmp_path / "old.json"
    old.write_text(json.dumps({"backbone": "mobilenet_v2_035", "seeds": {"1": {"test": 0.95}}}))
    with pytest.raises(FlowersError, match="no list of runs"):
        accuracy.merged_report([old, old])


def test_first_run_adds_later_runs_in_their_own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def fake_run(argv: list[str], env: dict[str, str]) -> int:
        calls.append((env["FLOWERS_RUN"], Path(env["FLOWERS_BUILD_DIR"]).name))
        update_results(load_config(env=env), fake_results(0.9, 0.92, 0.94))
        return 0

    monkeypatch.setattr(run_lessons, "main", fake_run)
    monkeypatch.setattr(accuracy, "candidate_test_accuracies",
                        lambda cfg: {f"{k}_test": 0.9 for k in accuracy.MODELS})
    for name, value in {"FLOWERS_PROFILE": "smoke", "FLOWERS_BUILD_DIR": str(tmp_path),
                        "FLOWERS_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    assert accuracy.main(["--seeds", "1", "--repeats", "2", "--first-run", "3"]) == 0
    assert calls == [("3", "run-3"), ("4", "run-4")]


def test_main_stops_when_a_lesson_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_lessons, "main", lambda argv, env: 1)
    monkeypatch.setenv("FLOWERS_SEED", "42")
    monkeypatch.setenv("FLOWERS_PROFILE", "smoke")
    monkeypatch.setenv("FLOWERS_BUILD_DIR", str(tmp_path))
    monkeypatch.setenv("FLOWERS_DATA_DIR", str(tmp_path / "data"))
    assert accuracy.main(["--seeds", "1"]) == 1
    assert not (tmp_path / "accuracy.json").exists()


def test_run_lessons_reads_parameters_as_python_values() -> None:
    notebooks, params = run_lessons._parse(["compare_speed=False", "seed=7", "backbone=mobilenet_v2_035",
                                            "learning_rate=1e-4"])
    assert params == {"compare_speed": False, "seed": 7, "backbone": "mobilenet_v2_035", "learning_rate": 1e-4}
    from tools.common import lesson_paths

    assert notebooks == lesson_paths() and notebooks, "no lesson named: every lesson, in order"


def test_macro_f1_is_reported_when_every_run_has_it() -> None:
    report = report_of([(1, 1, 0.90), (2, 1, 0.80)])
    assert "test_f1" not in report["summary"] and "Macro-F1" not in accuracy.markdown_table(report)
    for row, f1 in zip(report["runs"], (0.70, 0.60)):
        row.update({key: f1 for key in accuracy.F1_COLUMNS})
    report["summary"] = accuracy.aggregate(report["runs"])
    assert report["summary"]["test_f1"]["mean"] == pytest.approx(0.65)
    assert report["summary"]["test_f1"]["lowest"] == 0.60
    table = accuracy.markdown_table({**report, "data": "your photos in /x", "split": "seeded splits of 60/20/20"})
    assert "Macro-F1 on the test set" in table and "| **mean** | **0.650** |" in table
    assert table.startswith("your photos in /x, backbone `mobilenet_v2_035` (288 px), full profile, seeded splits "
                            "of 60/20/20, training runs per split: 1,")


@pytest.mark.parametrize("argv, words", [(["--help"], "Run the lessons in order"),
                                         (["-x"], "takes no option '-x'"),
                                         (["notebooks/no_such_lesson.ipynb"], "No notebook at notebooks/no_such")])
def test_run_lessons_answers_help_and_a_wrong_argument_with_one_sentence(argv: list[str], words: str) -> None:
    import subprocess
    import sys

    from tools.common import ROOT

    proc = subprocess.run([sys.executable, "-m", "tools.run_lessons", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert words in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.returncode == (0 if argv == ["--help"] else 2)
