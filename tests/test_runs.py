"""Run provenance (helpers.runs), results that follow it (helpers.results), and the small shared modules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from helpers import files, inputs, results, runs
from helpers.config import Config


def test_the_phase_table_gives_each_phase_its_lesson_and_what_is_built_on_it() -> None:
    assert {name: runs.phase_lesson(name) for name in runs.PHASES} == {
        "probe": "05", "transfer": "05", "finetune": "06", "final": "07"}
    assert runs.phase_lesson("finetune_from_cache") == "08"          # lesson 08's own phases
    assert runs.built_on_it("transfer") == ["finetune", "final"]
    assert runs.built_on_it("finetune") == ["final"]
    assert runs.built_on_it("probe") == [] and runs.built_on_it("final") == []
    assert runs.built_on_it("finetune_from_cache") == []


def test_start_clean_records_the_phase_it_was_built_on(smoke_cfg: Config) -> None:
    runs.start_clean(smoke_cfg, "transfer")
    transfer = runs.read_record(smoke_cfg, "transfer")
    runs.start_clean(smoke_cfg, "finetune")
    assert runs.read_record(smoke_cfg, "finetune")["started_from"] == transfer
    assert runs.read_record(smoke_cfg, "transfer")["identity"] == runs.run_identity(smoke_cfg)
    runs.check_identity(smoke_cfg, "finetune")
    assert runs.phase_runs(smoke_cfg) == {"probe": None, "transfer": transfer["run"],
                                          "finetune": runs.read_record(smoke_cfg, "finetune")["run"], "final": None}


def test_the_run_identity_takes_the_archive_md5_from_the_split_on_disk(smoke_cfg: Config) -> None:
    assert runs.run_identity(smoke_cfg)["archive_md5"] is None          # no split yet
    smoke_cfg.split_dir.mkdir(parents=True)
    (smoke_cfg.split_dir / "split.json").write_text(json.dumps({"md5": "a" * 32, "archive_md5": "b" * 32}))
    assert runs.run_identity(smoke_cfg)["archive_md5"] == "b" * 32


def _recorded_run(cfg: Config) -> dict:
    for phase in runs.PHASES:                # each lesson records its phase before it writes numbers
        runs.start_clean(cfg, phase)
    return results.update_results(cfg, {
        "chosen": "finetune", "test_accuracy": 0.9, "test_images": 340,
        "phases": {"probe": {"epochs": 1}, "transfer": {"epochs": 3}, "finetune": {"epochs": 2}}})


def test_retired_numbers_leave_the_file_at_the_next_write_and_readers_never_see_them(smoke_cfg: Config) -> None:
    _recorded_run(smoke_cfg)
    runs.start_clean(smoke_cfg, "transfer")             # lesson 05 again: retires 06's and 07's work
    raw = json.loads(results.results_path(smoke_cfg).read_text())
    assert "chosen" in raw                               # still in the file...
    assert "chosen" not in results.read_results(smoke_cfg)                           # ...but not read
    assert set(results.read_results(smoke_cfg)["phases"]) == {"probe"}
    assert "runs" not in results.read_results(smoke_cfg)
    written = results.update_results(smoke_cfg, {"phases": {"transfer": {"epochs": 4}}})
    assert written["phases"] == {"probe": {"epochs": 1}, "transfer": {"epochs": 4}}
    raw = json.loads(results.results_path(smoke_cfg).read_text())
    assert "chosen" not in raw and set(raw["phases"]) == {"probe", "transfer"}
    assert raw["runs"] == runs.phase_runs(smoke_cfg)


def test_the_tools_see_a_build_folder_s_results_less_what_was_retired(smoke_cfg: Config) -> None:
    assert results.results_in(smoke_cfg.build_dir) == {}
    before = _recorded_run(smoke_cfg)
    assert results.results_in(smoke_cfg.build_dir) == before
    runs.start_clean(smoke_cfg, "finetune")
    shown = results.results_in(smoke_cfg.build_dir)
    assert set(shown["phases"]) == {"probe", "transfer"} and "test_accuracy" not in shown
    results.results_path(smoke_cfg).write_text("{not json")
    with pytest.raises(ValueError):
        results.results_in(smoke_cfg.build_dir)


def test_a_whole_write_replaces_the_file_and_a_failed_one_leaves_no_part_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    files.write_text_atomic(target, "one\n")
    files.write_bytes_atomic(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert files.md5_of(target) == hashlib.md5(b"two\n").hexdigest()
    folder = tmp_path / "a folder"
    folder.mkdir()
    (folder / "inside").write_text("kept")
    with pytest.raises(OSError):
        files.write_bytes_atomic(folder, b"cannot replace a folder")
    assert not files.partial_path(folder).exists() and (folder / "inside").read_text() == "kept"


def test_the_crop_every_pipeline_shares_is_the_centred_square() -> None:
    assert inputs.crop_box(500, 300) == (100, 0, 400, 300)
    assert inputs.crop_box(300, 501) == (0, 100, 300, 400)
    assert inputs.PIL_RESAMPLING[inputs.INTERPOLATION] is not None


def test_the_cached_features_head_is_lesson_04_s_head_without_its_pooling() -> None:
    import keras

    from helpers import features, models

    base = keras.Model(*(lambda i: (i, keras.layers.Conv2D(8, 3)(i)))(keras.Input((16, 16, 3))))
    full = models.add_head(base, 5, hidden=32)
    cached = features.feature_head(8, 5, hidden=32)
    assert models.architecture(cached) == models.architecture(full)[-len(cached.layers):]
    assert [layer.name for layer in cached.layers] == [layer.name for layer in full.layers][-len(cached.layers):]


def _train(cfg: Config, phase: str, value: float, started_from: dict | None = None, finish: bool = True) -> None:
    """A stand-in run of ``phase``: a one-weight Keras model saved where ModelCheckpoint would, and a log line."""
    import keras

    files = runs.begin_phase(cfg, phase, started_from=started_from)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros",
                                                                    bias_initializer=keras.initializers.Constant(value))])
    model.save(files.model)
    files.log.write_text(f"epoch,val_loss\n0,{value}\n")
    if finish:
        runs.finish_phase(cfg, phase)


def _bias(path: Path) -> float:
    import keras

    return float(keras.models.load_model(path).layers[-1].bias.numpy()[0])


def test_an_interrupted_rerun_of_lesson_05_keeps_the_finished_models_and_says_so(
        smoke_cfg: Config, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import training

    _train(smoke_cfg, "transfer", 1.0)
    with training.phase_model_help(smoke_cfg, "transfer") as transfer_record:
        pass
    _train(smoke_cfg, "finetune", 2.0, started_from=transfer_record)
    finished = {phase: runs.model_path(smoke_cfg, phase).read_bytes() for phase in ("transfer", "finetune")}
    _train(smoke_cfg, "transfer", 3.0, finish=False)                    # lesson 05 again, stopped halfway
    assert {phase: runs.model_path(smoke_cfg, phase).read_bytes() for phase in finished} == finished
    assert _bias(runs.model_path(smoke_cfg, "transfer")) == 1.0        # still loadable, the finished one
    runs.check_identity(smoke_cfg, "finetune")                          # the lineage still chains
    capsys.readouterr()
    with training.phase_model_help(smoke_cfg, "transfer"):               # lesson 06 says which model it uses
        pass
    assert "lesson 05's transfer phase started and did not finish" in capsys.readouterr().out
    _train(smoke_cfg, "transfer", 4.0)                                  # run again to the end
    assert "did not finish" in capsys.readouterr().out                 # the leftover run is named once
    assert _bias(runs.model_path(smoke_cfg, "transfer")) == 4.0
    assert runs.interrupted_note(smoke_cfg, "transfer") is None
    assert not runs.model_path(smoke_cfg, "finetune").exists()          # built on the old one: retired
    assert not list(runs.model_path(smoke_cfg, "transfer").parent.glob("*.unfinished.*"))


def test_a_run_that_saved_no_model_keeps_the_last_finished_one(smoke_cfg: Config) -> None:
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    record = runs.read_record(smoke_cfg, "transfer")
    runs.begin_phase(smoke_cfg, "transfer")                              # every val_loss NaN: no checkpoint
    with pytest.raises(FlowersError, match="saved no model .* the last finished transfer files are kept"):
        runs.finish_phase(smoke_cfg, "transfer")
    assert runs.read_record(smoke_cfg, "transfer") == record and _bias(runs.model_path(smoke_cfg, "transfer")) == 1.0
    with pytest.raises(FlowersError, match="No unfinished run of the finetune phase"):
        runs.finish_phase(smoke_cfg, "finetune")


def test_lesson_06_refuses_at_once_to_fine_tune_a_transfer_model_replaced_since_it_was_loaded(
        smoke_cfg: Config) -> None:
    """The two-tab race of lessons 05 and 06, in order: 06 loads A, 05 finishes B, 06 starts fine-tuning."""
    from helpers import training
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    with training.phase_model_help(smoke_cfg, "transfer") as loaded:     # lesson 06 loads run A
        pass
    _train(smoke_cfg, "transfer", 5.0)                                  # lesson 05, in another tab, finishes B
    with pytest.raises(FlowersError, match="The transfer model this lesson loaded has been replaced or retired "
                                           r"since \(lesson 05 or an earlier one ran again\).*run lesson 06 again"):
        _train(smoke_cfg, "finetune", 2.0, started_from=loaded)
    assert not runs.read_record(smoke_cfg, "finetune"), "nothing was started"
    assert _other_process_can_take_the_lock(smoke_cfg)                         # the refusal gave the lock back
    _train(smoke_cfg, "finetune", 2.0, started_from=runs.read_record(smoke_cfg, "transfer"))   # 06 again
    runs.check_identity(smoke_cfg, "finetune")


def test_a_transfer_model_replaced_during_fine_tuning_is_caught_at_the_end_and_refused_by_lesson_07(
        smoke_cfg: Config) -> None:
    """The last check, for a replacement the lock cannot see (one process, whose lock is re-entrant)."""
    from helpers import training
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    with training.phase_model_help(smoke_cfg, "transfer") as loaded:
        pass
    runs.begin_phase(smoke_cfg, "finetune", started_from=loaded)
    _train(smoke_cfg, "transfer", 5.0)                                  # a new transfer model, mid-training
    _train_files = runs.unfinished_files(smoke_cfg, "finetune")
    _train_files.model.write_bytes(runs.model_path(smoke_cfg, "transfer").read_bytes())
    with pytest.raises(FlowersError, match="Lesson 05 trained a new transfer model while this run of the "
                                           "finetune phase was training on the earlier one.*run lesson 06 again"):
        runs.finish_phase(smoke_cfg, "finetune")
    assert runs.read_record(smoke_cfg, "finetune")["started_from"] == loaded
    with pytest.raises(FlowersError, match="built on an earlier transfer model.*run lesson 06 again"):
        training.phase_model_help(smoke_cfg, "finetune").__enter__()     # lesson 07 refuses the mixed lineage


def test_lesson_07_records_the_fine_tuned_run_it_loaded_and_refuses_to_save_after_a_new_one(
        smoke_cfg: Config) -> None:
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    _train(smoke_cfg, "finetune", 2.0)
    loaded_from = runs.read_record(smoke_cfg, "finetune")                # lesson 07 loads its candidates
    _train(smoke_cfg, "finetune", 3.0)                                  # lesson 06 again, in another tab
    kept = runs.model_path(smoke_cfg, "finetune").read_bytes()
    with pytest.raises(FlowersError, match="The finetune model this lesson loaded has been replaced or retired "
                                           ".*run lesson 07 again from the top"):
        runs.start_clean(smoke_cfg, "final", started_from=loaded_from)
    assert runs.model_path(smoke_cfg, "finetune").read_bytes() == kept and not runs.read_record(smoke_cfg, "final")
    runs.start_clean(smoke_cfg, "final", started_from=runs.read_record(smoke_cfg, "finetune"))
    assert runs.read_record(smoke_cfg, "final")["started_from"] == runs.read_record(smoke_cfg, "finetune")


#: Lesson 05 in another process: it starts its transfer run (taking the build folder's lock), says so, and
#: holds the lock until a line arrives on its stdin, then ends.
OTHER_LESSON_05 = """
import sys
from helpers import runs
from helpers.config import load_config
cfg = load_config(env={}, profile="smoke", data_dir=sys.argv[1], build_dir=sys.argv[2])
runs.begin_phase(cfg, "transfer")
print("TRAINING", flush=True)
sys.stdin.readline()
"""


def _other_lesson_05(cfg: Config):
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", OTHER_LESSON_05, str(cfg.data_dir), str(cfg.build_dir)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    said = [other.stdout.readline().strip()]
    while said[-1] not in ("TRAINING", ""):         # after any note on an earlier run
        said.append(other.stdout.readline().strip())
    assert said[-1] == "TRAINING", said
    return other


def _other_process_can_take_the_lock(cfg: Config) -> bool:
    """Whether another holder (its own handle, as another process has) could take the build folder's lock now."""
    from filelock import FileLock, Timeout

    other = FileLock(cfg.build_dir / ".lock")
    try:
        other.acquire(timeout=0)
    except Timeout:
        return False
    other.release()
    return True


def test_a_second_lesson_that_would_train_waits_for_the_first_and_names_it(
        smoke_cfg: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Lessons 05 and 06 started together: 06 does not start while 05 trains, and says who it waits for."""
    import threading

    from helpers import locks
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    other = _other_lesson_05(smoke_cfg)
    try:
        monkeypatch.setattr(locks, "LOCK_TIMEOUT", 0.3)
        with pytest.raises(FlowersError, match=rf"Lesson 05, training its transfer phase \(process {other.pid}, "
                                               r"since \d\d:\d\d:\d\d\) has been using .* for over 0 s.*restarted"):
            runs.begin_phase(smoke_cfg, "finetune", started_from=runs.read_record(smoke_cfg, "transfer"))
        assert not runs.unfinished_path(runs.identity_path(smoke_cfg, "finetune")).exists(), "it did not start"
        monkeypatch.setattr(locks, "LOCK_TIMEOUT", 60)
        threading.Timer(0.5, lambda: (other.stdin.write("done\n"), other.stdin.flush())).start()
        capsys.readouterr()
        with locks.folder_lock(smoke_cfg.build_dir, "lesson 07, loading its candidates"):   # lesson 07 waits
            assert other.wait(timeout=10) == 0, "the holder ended before the waiter got the lock"
        out = capsys.readouterr().out
        assert f"Lesson 05, training its transfer phase (process {other.pid}" in out and "This cell waits" in out
    finally:
        other.kill()
        other.wait()
    crashed = _other_lesson_05(smoke_cfg)
    crashed.kill()                                                      # SIGKILL: no Python code runs
    crashed.wait()
    monkeypatch.setattr(locks, "LOCK_TIMEOUT", 0.3)
    capsys.readouterr()
    runs.begin_phase(smoke_cfg, "finetune", started_from=runs.read_record(smoke_cfg, "transfer"))
    assert "waits" not in capsys.readouterr().out, "a holder that crashed blocks nobody"
    runs.unfinished_files(smoke_cfg, "finetune").model.write_bytes(runs.model_path(smoke_cfg, "transfer").read_bytes())
    runs.finish_phase(smoke_cfg, "finetune")
    assert _other_process_can_take_the_lock(smoke_cfg)                         # finishing gave the lock back


def test_a_model_replaced_while_it_was_loading_is_refused(smoke_cfg: Config) -> None:
    from helpers import training
    from helpers.errors import FlowersError

    _train(smoke_cfg, "transfer", 1.0)
    with pytest.raises(FlowersError, match="put a new transfer model in place while this cell was loading"):
        with training.phase_model_help(smoke_cfg, "transfer"):
            _train(smoke_cfg, "transfer", 5.0)                          # lesson 05 finishes during the load


def test_an_interrupted_fit_phase_gives_the_build_folder_back(smoke_cfg: Config,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 08's runs (``fit_phase``): a click on Stop mid-training frees the folder for other lessons."""
    from types import SimpleNamespace

    import keras
    import numpy as np
    import tensorflow as tf

    from helpers import training

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "make_callbacks", lambda *args, **kwargs: [Stop()])
    batches = tf.data.Dataset.from_tensor_slices((np.zeros((8, 1)), np.zeros((8, 1)))).batch(4).repeat()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    with pytest.raises(KeyboardInterrupt):
        training.fit_phase(smoke_cfg, model, SimpleNamespace(train=batches, validation=batches.take(2)),
                           "transfer", epochs=3)
    assert _other_process_can_take_the_lock(smoke_cfg)
    assert "did not finish" in runs.interrupted_note(smoke_cfg, "transfer")


def test_a_run_inside_a_with_block_gives_back_only_its_own_level_of_the_lock(smoke_cfg: Config) -> None:
    """``begin_phase``/``finish_phase`` inside ``folder_lock`` (or the other way round) keep the outer hold."""
    from helpers import locks

    _train(smoke_cfg, "transfer", 1.0)
    with locks.folder_lock(smoke_cfg.build_dir, "lesson 07, loading its candidates"):
        _train(smoke_cfg, "finetune", 2.0)                                # a whole run, inside the block
        assert not _other_process_can_take_the_lock(smoke_cfg), "the block still holds the folder"
    assert _other_process_can_take_the_lock(smoke_cfg)
    runs.begin_phase(smoke_cfg, "finetune")
    with locks.folder_lock(smoke_cfg.build_dir, "lesson 07, loading its candidates"):
        pass
    assert not _other_process_can_take_the_lock(smoke_cfg), "the run still holds the folder after a block inside it"
    locks.release(smoke_cfg.build_dir)
    assert _other_process_can_take_the_lock(smoke_cfg)
    assert not (smoke_cfg.build_dir / ".lock-holder").exists(), "the last holder's name goes with its lock"
