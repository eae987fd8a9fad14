"""The helpers later lessons use do exactly what the lesson that taught them wrote inline.

Each test runs the lesson's own cell (its source, read from the notebook) and
compares the result with the helper. That way a lesson shows only its code to
the learner, and these tests, not asserts in front of the learner, keep the
two from drifting apart. (Lesson 04's head: tests/test_models.py.)
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from support import ROOT, lesson_cell, run_cell, smoke_split

from helpers import data, generators, models, training
from helpers.config import Config, load_config
from helpers.flowers17 import SPECIES


def test_lesson_01_labels_and_seeded_split_are_the_helpers(tmp_path: Path) -> None:
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "d", build_dir=tmp_path / "b")
    good = [n for n in range(1, 1361) if n % 97]        # a few images left out, as check_images may
    ns = run_cell(lesson_cell("01", "def label_of("), {"checked": data.ImageCheck(good=good, bad=[])})
    assert ns["labels"] == data.label_images(good)
    for seed in (42, 7):
        ns = run_cell(lesson_cell("01", "my_split = {}"), {"labels": ns["labels"], "cfg": cfg.replace(seed=seed)})
        assert ns["my_split"] == data.seeded_split(ns["labels"], cfg.split_sizes, seed)


def test_lesson_02_iterators_are_the_ones_make_generators_builds(tmp_path: Path, synthetic_source: Path) -> None:
    cfg, folder = smoke_split(tmp_path, synthetic_source)
    ns: dict[str, object] = {"cfg": cfg, "folder": folder}
    for marker in ("from tensorflow.keras.preprocessing.image import ImageDataGenerator",
                   "train_datagen = ImageDataGenerator(", "eval_datagen = ImageDataGenerator(",
                   "train_gen = train_datagen.flow_from_directory("):
        run_cell(lesson_cell("02", marker), ns)
    gens = generators.make_generators(cfg, folder)
    for mine, theirs in ((ns["train_gen"], gens.train), (ns["val_gen"], gens.validation),
                         (ns["test_gen"], gens.test)):
        assert mine.filenames == theirs.filenames and mine.class_indices == theirs.class_indices
        assert (mine.target_size, mine.batch_size, mine.shuffle) == (theirs.target_size, theirs.batch_size,
                                                                     theirs.shuffle)
        assert (mine.interpolation, mine.keep_aspect_ratio) == (theirs.interpolation, theirs.keep_aspect_ratio)
        settings = ("rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range",
                    "horizontal_flip", "vertical_flip", "brightness_range", "channel_shift_range")
        assert [getattr(mine.image_data_generator, key) for key in settings] == \
            [getattr(theirs.image_data_generator, key) for key in settings]
        assert mine.image_data_generator.preprocessing_function is theirs.image_data_generator.preprocessing_function
    for mine, theirs in ((ns["val_gen"], gens.validation), (ns["test_gen"], gens.test)):   # unaugmented
        np.testing.assert_array_equal(mine[0][0], theirs[0][0])
    assert len(ns["train_gen"]) == generators.steps_for(ns["train_gen"].samples, cfg.batch_size)


def test_lesson_06_unfreeze_loop_is_unfreeze_top(tmp_path: Path) -> None:
    cfg: Config = load_config(env={}, profile="smoke", backbone="mobilenet_v2_035", data_dir=tmp_path / "d",
                              build_dir=tmp_path / "b")
    spec = models.backbone_spec(cfg)
    mine, _ = models.build_model(cfg, len(SPECIES))
    theirs = models.add_head(models.load_base(cfg), len(SPECIES))
    run_cell(lesson_cell("06", "cut = models.layer_index(model, freeze_through)"),
             {"model": mine, "models": models, "freeze_through": spec.freeze_through})
    cut = training.unfreeze_top(theirs, spec.freeze_through)
    assert cut == models.layer_index(mine, spec.freeze_through)
    assert [layer.trainable for layer in mine.layers] == [layer.trainable for layer in theirs.layers]
    assert any(layer.trainable for layer in mine.layers) and not all(layer.trainable for layer in mine.layers)


def test_lesson_05_freeze_and_compile_are_freeze_base_and_compile_transfer(tmp_path: Path) -> None:
    import keras

    cfg = load_config(env={}, profile="smoke", backbone="mobilenet_v2_035", data_dir=tmp_path / "d",
                      build_dir=tmp_path / "b")
    mine, my_base = models.build_model(cfg, len(SPECIES))
    theirs, their_base = models.build_model(cfg, len(SPECIES))
    ns = run_cell(lesson_cell("05", "    layer.trainable = False"), {"base_model": my_base})
    run_cell(lesson_cell("05", "model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate)"),
             {**ns, "model": mine, "keras": keras, "learning_rate": 1e-3})
    training.freeze_base(their_base)
    training.compile_transfer(theirs)
    assert [layer.trainable for layer in mine.layers] == [layer.trainable for layer in theirs.layers]
    assert len(mine.trainable_weights) == len(theirs.trainable_weights) == 4      # the head's two Dense layers
    assert type(mine.optimizer) is type(theirs.optimizer)
    assert float(mine.optimizer.learning_rate) == float(theirs.optimizer.learning_rate) == pytest.approx(1e-3)
    assert mine.loss.get_config() == theirs.loss.get_config()


def test_lesson_03_block_list_is_block_table(tmp_path: Path) -> None:
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "d", build_dir=tmp_path / "b")
    base = models.load_base(cfg)
    ns = run_cell(lesson_cell("03", "blocks = [(i, layer) for i, layer in enumerate(base_model.layers)"),
                  {"base_model": base, "models": models, "cfg": cfg})
    spec = models.backbone_spec(cfg)
    assert [(layer.name, i, tuple(layer.output.shape)) for i, layer in ns["blocks"]] == \
        [(b.name, b.index, b.output_shape) for b in models.block_table(base, spec.block_pattern)]
    assert len(ns["blocks"]) == 11                               # mixed0 ... mixed10


def test_lesson_08_features_and_pipeline_are_the_helpers(tmp_path: Path, synthetic_source: Path) -> None:
    import keras
    from keras import layers

    from helpers import features

    cfg, folder = smoke_split(tmp_path, synthetic_source)
    cfg = cfg.replace(backbone="mobilenet_v2_035", image_size=32)
    ns = run_cell(lesson_cell("08", "extractor = keras.Model(base_model.input"), {"cfg": cfg, "verbose": 0})
    helper = features.extract_features(features.feature_extractor(ns["base_model"]), ns["plain"].test)
    np.testing.assert_allclose(ns["cached"]["test"].x, helper.x, atol=1e-5)
    np.testing.assert_array_equal(ns["cached"]["test"].y, helper.y)

    ns = run_cell(lesson_cell("08", "train_ds = keras.utils.image_dataset_from_directory("),
                  {**ns, "keras": keras, "layers": layers, "models": models, "folder": folder})
    theirs = generators.make_datasets(cfg, folder)["train"]
    assert ns["class_names"] == theirs.class_names
    assert ns["train_ds"].element_spec == theirs.element_spec
    assert sum(len(y) for _, y in ns["train_ds"]) == sum(len(y) for _, y in theirs) == 680


def test_lesson_02_bar_chart_is_speed_bars() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    rates = {"workers=1": 212.4, "workers=2": 388.9}
    ns = run_cell(lesson_cell("02", "ax.barh("), {"rates": rates, "plt": plt})
    theirs = plots.speed_bars(rates).axes[0]
    for ax in (ns["ax"], theirs):
        assert [bar.get_width() for bar in ax.patches] == list(rates.values())
        assert [t.get_text() for t in ax.get_yticklabels()] == list(rates)
        assert [t.get_text() for t in ax.texts] == ["212", "389"]
    assert ns["ax"].get_xlabel() == theirs.get_xlabel()
    assert ns["ax"].yaxis_inverted() and theirs.yaxis_inverted()
    plt.close("all")


def test_lesson_06_fine_tunes_with_the_helpers_learning_rate_and_patience() -> None:
    """Lesson 08 fine-tunes through compile_finetune and fit_phase: they must use lesson 06's settings."""
    import papermill as pm

    lesson = next((ROOT / "notebooks").glob("06_*.ipynb"))
    assert float(pm.inspect_notebook(str(lesson))["learning_rate"]["default"]) == training.FINETUNE_LEARNING_RATE
    assert "patience=training.FINETUNE_PATIENCE" in lesson_cell("06", "callbacks=training.make_callbacks(")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    training.compile_finetune(model)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(training.FINETUNE_LEARNING_RATE)
