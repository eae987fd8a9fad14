"""Training helpers: learning really happens, freezing really freezes, phases restart cleanly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from support import smoke_split

from helpers import data, files, generators, models, runs, training
from helpers.config import Config, load_config
from helpers.flowers17 import SPECIES


@pytest.fixture(scope="module")
def split_cfg(tmp_path_factory: pytest.TempPathFactory, synthetic_source: Path) -> tuple[Config, Path]:
    """A smoke configuration with its split prepared once for this module."""
    return smoke_split(tmp_path_factory.mktemp("training"), synthetic_source)


def tiny_backbone(size: int):
    """A small convolutional base, documented stand-in for InceptionV3 in the learning test.

    Random-weight InceptionV3 cannot learn 17 classes from 680 images in a CI
    budget; this base can, so the test checks the *pipeline* (labels, order,
    shuffling between training and evaluation), not the backbone.
    """
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 3))
    x = inputs
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="tiny_cnn")


@pytest.fixture(scope="module")
def trained(split_cfg: tuple[Config, Path]):
    """The project's generators, head and training helpers on the synthetic set, with the tiny base."""
    import keras

    cfg, folder = split_cfg
    cfg = cfg.replace(image_size=64, batch_size=32, steps_per_epoch=None)
    keras.utils.set_random_seed(cfg.seed)
    gens = generators.make_generators(cfg, folder)
    model = models.add_head(tiny_backbone(cfg.image_size), len(SPECIES))
    training.compile_transfer(model)
    start = time.perf_counter()
    result = training.fit_phase(cfg, model, gens, "transfer", epochs=12, patience=4, verbose=0)
    return cfg, gens, model, result, time.perf_counter() - start


def test_the_pipeline_learns_the_synthetic_set(trained) -> None:
    """At least 60% test accuracy (chance: 5.9%) catches label, order and shuffle bugs."""
    cfg, gens, model, result, seconds = trained
    _, accuracy = model.evaluate(gens.test, verbose=0)
    assert accuracy >= 0.60, f"test accuracy {accuracy:.3f} after {result.epochs_run} epochs"
    assert seconds < 240, f"training took {seconds:.0f} s"


def test_fit_phase_logs_checkpoints_and_reports(trained) -> None:
    cfg, gens, model, result, _ = trained
    log = training.read_log(cfg, "transfer")
    assert len(log["epoch"]) == result.epochs_run
    assert log["val_accuracy"] == pytest.approx(result.history["val_accuracy"], abs=1e-6)
    assert runs.model_path(cfg, "transfer").exists()
    kept = training.best_epoch(result.history)
    assert result.history["val_loss"][kept] == min(result.history["val_loss"])
    assert result.best_val_accuracy == result.history["val_accuracy"][kept]


def test_the_checkpoint_holds_the_epoch_with_the_lowest_validation_loss(trained) -> None:
    """ModelCheckpoint and EarlyStopping both watch val_loss: the saved model scores the kept epoch's loss."""
    import keras

    cfg, gens, model, result, _ = trained
    saved = keras.models.load_model(runs.model_path(cfg, "transfer"))
    loss, _ = saved.evaluate(gens.validation, verbose=0)
    assert loss == pytest.approx(min(result.history["val_loss"]), rel=1e-4)
    restored_loss, _ = model.evaluate(gens.validation, verbose=0)   # restore_best_weights
    assert restored_loss == pytest.approx(loss, rel=1e-4)


def test_best_epoch_is_the_lowest_validation_loss_not_the_highest_accuracy() -> None:
    """An accuracy tie at epoch 1 does not win over a later, lower loss; the first of equal losses wins."""
    history = {"val_accuracy": [0.88, 0.85, 0.88, 0.88], "val_loss": [0.43, 0.35, 0.28, 0.30]}
    assert training.best_epoch(history) == 2
    assert training.best_epoch({"val_loss": [0.5, 0.2, 0.2]}) == 1


def test_callbacks_watch_the_validation_loss(tmp_path: Path) -> None:
    import keras

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path, build_dir=tmp_path)
    checkpoint, stopping, _ = training.make_callbacks(cfg, "transfer")
    assert isinstance(stopping, keras.callbacks.EarlyStopping)
    assert checkpoint.monitor == stopping.monitor == "val_loss"
    assert stopping.patience == training.PATIENCE == 5 and stopping.restore_best_weights


def test_predictions_of_the_unshuffled_test_generator_line_up_with_its_classes(trained) -> None:
    """Lesson 07's way: model.predict rows in file order, scikit-learn's confusion matrix, same accuracy."""
    from sklearn.metrics import confusion_matrix

    _, gens, model, _, _ = trained
    _, accuracy = model.evaluate(gens.test, verbose=0)
    assert not gens.test.shuffle
    predicted = model.predict(gens.test, verbose=0).argmax(axis=1)
    matrix = confusion_matrix(gens.test.classes, predicted, labels=range(17))
    assert matrix.shape == (17, 17) and matrix.sum() == gens.test.samples
    assert np.trace(matrix) / matrix.sum() == pytest.approx(accuracy, abs=1e-6)
    assert accuracy > 0.5, "the tiny base learns the synthetic set, so a misaligned order would show"


# ----------------------------------------------------------------- freezing (InceptionV3, 75 px)


def _snapshot(layers) -> list[list[np.ndarray]]:
    return [[np.array(w) for w in layer.get_weights()] for layer in layers]


def _changed(before, after) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


@pytest.fixture(scope="module")
def inception(split_cfg: tuple[Config, Path]):
    cfg, folder = split_cfg
    model, base = models.build_model(cfg, len(SPECIES))
    images, labels = generators.make_generators(cfg, folder).train[0]
    return cfg, model, base, images, labels


def test_transfer_phase_trains_only_the_head(inception) -> None:
    cfg, model, base, images, labels = inception
    training.freeze_base(base)
    assert models.parameter_counts(model) == {"total": 23_918_385, "trainable": 2_115_601,
                                              "non_trainable": 21_802_784}
    training.compile_transfer(model)
    before = _snapshot(model.layers)
    model.train_on_batch(images, labels)
    after = _snapshot(model.layers)
    n = len(base.layers)
    frozen_changed = [model.layers[i].name for i in range(n) if _changed(before[i], after[i])]
    assert frozen_changed == [], "frozen base layers (incl. BatchNorm statistics) must not change"
    dense = [i for i in range(n, len(model.layers)) if model.layers[i].name in ("fc1024", "predictions")]
    assert len(dense) == 2 and all(_changed(before[i], after[i]) for i in dense), "the head must train"


def test_finetune_phase_trains_only_above_the_cut_and_never_batchnorm(inception) -> None:
    from keras import layers

    cfg, model, base, images, labels = inception
    cut = training.unfreeze_top(model, "mixed8")
    assert cut == 248
    assert models.parameter_counts(model)["trainable"] == 13_223_953
    training.compile_finetune(model)
    before = _snapshot(model.layers)
    model.train_on_batch(images, labels)
    after = _snapshot(model.layers)
    for i, layer in enumerate(model.layers):
        moved = _changed(before[i], after[i])
        if i <= cut or isinstance(layer, layers.BatchNormalization):
            assert not moved, f"layer {i} ({layer.name}) must stay frozen"
    trained_convs = [i for i, layer in enumerate(model.layers)
                     if i > cut and isinstance(layer, layers.Conv2D) and _changed(before[i], after[i])]
    assert len(trained_convs) > 10, "the convolutions of mixed9 and mixed10 must train"


def test_the_original_tutorials_cut_trains_almost_everything(inception) -> None:
    _, model, _, _, _ = inception
    training.set_trainable_from(model, 18, keep_batchnorm_frozen=False)
    assert round(models.parameter_counts(model)["trainable"] / 1e6, 1) == 23.7
    training.unfreeze_top(model, "mixed8")
    assert round(models.parameter_counts(model)["trainable"] / 1e6, 1) == 13.2


# ----------------------------------------------------------------- restarting a phase


def test_rerunning_a_phase_restarts_it_cleanly(split_cfg: tuple[Config, Path], tmp_path: Path) -> None:
    """Lesson 06's promise: a rerun deletes the old checkpoint and log, never appends to them."""
    import keras

    cfg, folder = split_cfg
    cfg = cfg.replace(build_dir=tmp_path, image_size=32, batch_size=32, steps_per_epoch=1)
    gens = generators.make_generators(cfg, folder)
    model = models.add_head(tiny_backbone(32), len(SPECIES))
    training.compile_finetune(model)
    training.fit_phase(cfg, model, gens, "finetune", epochs=3, initial_epoch=2, verbose=0)
    assert training.read_log(cfg, "finetune")["epoch"] == [2, 3, 4]
    first_checkpoint = runs.model_path(cfg, "finetune").stat().st_mtime_ns

    # An interrupted run leaves a half-written log behind...
    runs.log_path(cfg, "finetune").write_text("epoch,accuracy\n9,0.5\n")
    training.fit_phase(cfg, model, gens, "finetune", epochs=2, initial_epoch=2, verbose=0)
    assert training.read_log(cfg, "finetune")["epoch"] == [2, 3], "old rows must not survive a rerun"
    assert runs.model_path(cfg, "finetune").stat().st_mtime_ns != first_checkpoint
    assert isinstance(keras.models.load_model(runs.model_path(cfg, "finetune")), keras.Model)


@pytest.mark.parametrize("kept_before_the_end", [False, True], ids=["natural run", "best epoch not the last"])
def test_fine_tuning_keeps_the_averaged_weights_of_its_best_epoch(split_cfg: tuple[Config, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   kept_before_the_end: bool) -> None:
    """compile_finetune averages the weights; fit_phase validates, checkpoints and restores that average.

    The average is computed here from the weights after every step (Keras: the
    first step's weights, then 0.99 x average + 0.01 x weights). In the second
    case the validation loss after the first epoch is made to look worse, so
    EarlyStopping keeps epoch 1 and stops: the model must then be the average
    at the end of epoch 1, not what the optimizer leaves at the end of fit.
    """
    import keras

    cfg, folder = split_cfg
    cfg = cfg.replace(build_dir=tmp_path, image_size=32, batch_size=32, steps_per_epoch=3)
    keras.utils.set_random_seed(cfg.seed)
    gens = generators.make_generators(cfg, folder)
    model = models.add_head(tiny_backbone(32), len(SPECIES))
    training.compile_finetune(model)
    assert training.averages_weights(model) and model.optimizer.ema_momentum == 0.99
    raw: list[list[np.ndarray]] = []

    class Watch(keras.callbacks.Callback):
        """Last in the list: the weights after every training step."""

        def on_train_batch_end(self, batch, logs=None):
            raw.append([w.copy() for w in self.model.get_weights()])

    class WorseLater(keras.callbacks.Callback):
        """Right after the swap: every epoch after the first reports a higher validation loss."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch > 2:                       # fine-tuning starts at epoch index 2 here
                logs["val_loss"] = 10.0 + epoch

    course_callbacks = training.make_callbacks

    def with_probes(*args, **kwargs):
        swap, *rest = course_callbacks(*args, **kwargs)
        return [swap, *([WorseLater()] if kept_before_the_end else []), *rest, Watch()]

    monkeypatch.setattr(training, "make_callbacks", with_probes)
    patience = 1 if kept_before_the_end else 2
    result = training.fit_phase(cfg, model, gens, "finetune", epochs=4, initial_epoch=2, patience=patience, verbose=0)
    kept = training.best_epoch(result.history)
    if kept_before_the_end:
        assert (kept, result.epochs_run) == (0, 2), "EarlyStopping kept the first epoch and stopped after the second"
    average = [w.astype("float64") for w in raw[0]]
    averages = [average]
    for step in raw[1:]:
        average = [0.99 * a + 0.01 * w for a, w in zip(average, step)]
        averages.append(average)
    expected = averages[(kept + 1) * cfg.steps_per_epoch - 1]       # the average at the end of the kept epoch
    kept_weights = model.get_weights()
    close = lambda xs, ys: all(np.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(xs, ys))  # noqa: E731
    assert close(kept_weights, expected), "the model keeps the average of the kept epoch"
    assert not close(kept_weights, raw[(kept + 1) * cfg.steps_per_epoch - 1]), "not the weights themselves"
    saved = keras.models.load_model(runs.model_path(cfg, "finetune"))
    assert close(saved.get_weights(), expected), "the checkpoint holds that average too"
    loss, _ = model.evaluate(gens.validation, verbose=0)
    if not kept_before_the_end:                # (the other case's logged losses were rewritten)
        assert loss == pytest.approx(result.history["val_loss"][kept], rel=1e-5), "validation scored the average"


def test_the_transfer_phase_does_not_average(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    training.compile_transfer(model)
    assert not training.averages_weights(model)
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path, build_dir=tmp_path)
    assert not any(isinstance(c, keras.callbacks.SwapEMAWeights) for c in training.make_callbacks(cfg, "transfer"))


def test_missing_phase_results_name_the_lesson_to_run(tmp_path: Path) -> None:
    from helpers.errors import FlowersError

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path, build_dir=tmp_path)
    with pytest.raises(FlowersError, match="Run lesson 05 first"):
        training.load_phase_model(cfg, "transfer")
    with pytest.raises(FlowersError, match="Run lesson 06 first"):
        training.read_log(cfg, "finetune")


def test_a_model_of_another_size_is_refused(split_cfg: tuple[Config, Path], tmp_path: Path) -> None:
    from helpers.errors import FlowersError

    cfg, _ = split_cfg
    cfg = cfg.replace(build_dir=tmp_path)
    path = runs.model_path(cfg, "transfer")
    runs.start_clean(cfg.replace(image_size=32), "transfer")     # trained at 32 px...
    models.add_head(tiny_backbone(32), len(SPECIES)).save(path)
    with pytest.raises(FlowersError, match=r"image_size 32 -> 75.*run lesson 05 again"):
        training.load_phase_model(cfg, "transfer")                    # ...loaded at 75 px
    runs.start_clean(cfg, "transfer")                               # a record that claims 75 px
    models.add_head(tiny_backbone(32), len(SPECIES)).save(path)                       # beside a 32 px model
    with pytest.raises(FlowersError, match="expects 32 px images.*Run lesson 05 again"):
        training.load_phase_model(cfg, "transfer")


def test_an_uncompiled_saved_model_loads_ready_to_evaluate(split_cfg: tuple[Config, Path], tmp_path: Path) -> None:
    """Lesson 05 saves its linear probe without compile settings; lesson 07 evaluates it without warnings."""
    import warnings

    cfg, folder = split_cfg
    cfg = cfg.replace(build_dir=tmp_path, image_size=32, batch_size=32)
    path = runs.model_path(cfg, "probe")
    runs.start_clean(cfg, "probe")
    models.add_head(tiny_backbone(32), len(SPECIES)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probe = training.load_phase_model(cfg, "probe")
    loss, accuracy = probe.evaluate(generators.make_generators(cfg, folder).validation, verbose=0)
    assert loss > 0 and 0 <= accuracy <= 1


# ----------------------------------------------------------------- run identity: no model of another split


def _train_phase(cfg: Config, folder: Path, phase: str, initial_epoch: int = 0) -> None:
    """One short phase with the tiny base, through the helper the lessons package (fit_phase)."""
    gens = generators.make_generators(cfg, folder)
    model = models.add_head(tiny_backbone(cfg.image_size), len(SPECIES))
    training.compile_transfer(model)
    training.fit_phase(cfg, model, gens, phase, epochs=1, initial_epoch=initial_epoch, verbose=0)


@pytest.fixture
def seed42(tmp_path: Path, synthetic_source: Path) -> tuple[Config, Path]:
    """Seed 42's smoke split, with a transfer and a fine-tuned model trained on it (32 px, one step)."""
    cfg, folder = smoke_split(tmp_path, synthetic_source)
    cfg = cfg.replace(image_size=32, batch_size=32, steps_per_epoch=1)
    _train_phase(cfg, folder, "transfer")
    _train_phase(cfg, folder, "finetune", initial_epoch=1)
    return cfg, folder


def test_a_model_trained_on_another_seeds_split_is_refused(seed42: tuple[Config, Path]) -> None:
    """The leak: seed 42's models would have trained on about half of seed 7's test photos."""
    cfg, _ = seed42
    seven = cfg.replace(seed=7)
    folder = data.ensure_split(seven, verbose=False)
    old_train = {r["image"] for r in data.read_manifest(data.split_dir(cfg))
                 if r["split"] == "train"}
    assert folder == data.split_dir(seven) != data.split_dir(cfg) and old_train  # seed 42's split stays
    for phase, lesson in (("transfer", "05"), ("finetune", "06")):
        with pytest.raises(training.FlowersError, match=rf"seed 42.*seed 7.*run lesson {lesson} again"):
            training.load_phase_model(seven, phase)
        with pytest.raises(training.FlowersError, match=rf"seed 42.*seed 7.*run lesson {lesson} again"):
            training.read_log(seven, phase)
    # Back on seed 42, the same files are accepted again: nothing was deleted.
    data.ensure_split(cfg, verbose=False)
    assert training.load_phase_model(cfg, "finetune") is not None


def test_rerunning_the_transfer_phase_retires_the_fine_tuned_model(seed42: tuple[Config, Path]) -> None:
    cfg, folder = seed42
    finetuned = runs.model_path(cfg, "finetune")
    assert finetuned.exists() and runs.identity_path(cfg, "finetune").exists()
    _train_phase(cfg, folder, "transfer")
    assert not finetuned.exists() and not runs.log_path(cfg, "finetune").exists()
    with pytest.raises(training.FlowersError, match="Run lesson 06 first"):
        training.load_phase_model(cfg, "finetune")


def test_a_fine_tuned_model_built_on_an_older_transfer_model_is_refused(seed42: tuple[Config, Path]) -> None:
    """Lesson 07 never mixes two runs: a fine-tuned model must come from the transfer model on disk."""
    cfg, _ = seed42
    record = runs.identity_path(cfg, "transfer")
    saved = record.read_text()
    record.write_text(saved.replace('"run": "', '"run": "0'))   # the transfer phase ran again since
    with pytest.raises(training.FlowersError, match="earlier transfer model.*run lesson 06 again"):
        training.load_phase_model(cfg, "finetune")
    assert training.load_phase_model(cfg, "transfer") is not None


def test_a_model_without_a_record_is_refused(seed42: tuple[Config, Path]) -> None:
    cfg, _ = seed42
    runs.identity_path(cfg, "transfer").unlink()
    with pytest.raises(training.FlowersError, match="no readable record.*Run lesson 05 again"):
        training.load_phase_model(cfg, "transfer")


def test_the_identity_names_split_seed_sizes_backbone_size_archive_and_run(seed42: tuple[Config, Path]) -> None:
    cfg, _ = seed42
    identity = runs.run_identity(cfg)
    assert identity == {"profile": "smoke", "backbone": "inception_v3", "image_size": 32, "split": "seeded",
                        "seed": 42, "split_sizes": [40, 20, 20], "training_run": 1,
                        "archive_md5": json.loads((data.split_dir(cfg) / "split.json").read_text())["md5"]}
    assert identity["archive_md5"] == files.md5_of(cfg.work_dir / "downloads" / "17flowers.tgz")


def test_lesson_07s_final_model_records_the_run_it_was_chosen_from(seed42: tuple[Config, Path]) -> None:
    cfg, _ = seed42
    runs.start_clean(cfg, "final")                 # what lesson 07 does before saving
    record = json.loads(runs.identity_path(cfg, "final").read_text())
    assert record["identity"] == runs.run_identity(cfg)
    assert record["started_from"]["run"] == json.loads(runs.identity_path(cfg, "finetune").read_text())["run"]
    runs.check_identity(cfg, "final")
    with pytest.raises(training.FlowersError, match="seed 42.*seed 7"):
        data.ensure_split(cfg.replace(seed=7), verbose=False)
        runs.check_identity(cfg.replace(seed=7), "final")


def test_a_model_recorded_before_training_runs_were_recorded_counts_as_run_1(seed42: tuple[Config, Path]) -> None:
    cfg, _ = seed42
    runs.start_clean(cfg, "transfer")
    path = runs.identity_path(cfg, "transfer")
    record = json.loads(path.read_text())
    del record["identity"]["training_run"]
    path.write_text(json.dumps(record))
    runs.check_identity(cfg, "transfer")                    # run 1: accepted
    with pytest.raises(training.FlowersError, match="another training run"):
        runs.check_identity(cfg.replace(run=2), "transfer")


def test_a_model_of_another_training_run_of_the_split_is_refused_as_such(seed42: tuple[Config, Path]) -> None:
    """Lesson 06 must not fine-tune run 1's transfer model in run 2: one run's numbers come from one run."""
    cfg, _ = seed42
    runs.start_clean(cfg, "transfer")
    with pytest.raises(training.FlowersError, match=r"training run 1; .*training run 2 .*another training run of "
                                                    r"this split.*run lesson 05 again"):
        runs.check_identity(cfg.replace(run=2), "transfer")
