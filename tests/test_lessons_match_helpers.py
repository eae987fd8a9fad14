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
    good = [n for n in range(1, 1361) if n % 97]        # a few images left out, as the image check may
    ns = run_cell(lesson_cell("01", "def label_of("), {"good": good})
    assert ns["labels"] == data.label_images(good)
    for seed in (42, 7):
        ns = run_cell(lesson_cell("01", "def seeded_split("), {"labels": ns["labels"], "cfg": cfg.replace(seed=seed)})
        assert ns["my_split"] == data.seeded_split(ns["labels"], cfg.split_sizes, seed)
        for sizes in ((60, 10, 10), (50, 15, 15), (70, 10, 10)):    # cell 28, solution 2, a short class
            assert ns["seeded_split"](ns["labels"], sizes, seed) == data.seeded_split(ns["labels"], sizes, seed)


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_lesson_01_get_file_cell_is_download_archive(tmp_path: Path, synthetic_source: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from support import copy_synthetic_source

    from helpers import download
    from helpers.errors import FlowersError

    cell = lesson_cell("01", "get_file(")
    mine, theirs = (load_config(env={}, profile="smoke", data_dir=tmp_path / name / "data",
                                build_dir=tmp_path / name / "build") for name in ("mine", "theirs"))
    for cfg in (mine, theirs):
        copy_synthetic_source(synthetic_source, cfg.data_dir)
    ns = run_cell(cell, {"cfg": mine})
    helper = download.download_archive(theirs, verbose=False)
    assert Path(ns["extracted"]) == mine.work_dir / "downloads" / "17flowers_extracted"
    mine_tree, their_tree = _tree(mine.work_dir / "downloads"), _tree(theirs.work_dir / "downloads")
    assert mine_tree.keys() == their_tree.keys()
    for name in mine_tree.keys() - {"17flowers.tgz.source", "17flowers_extracted/.complete"}:  # those name the URL
        assert mine_tree[name] == their_tree[name], name
    capsys.readouterr()
    assert download.download_archive(mine) == Path(ns["extracted"])    # the helper reuses the cell's work
    assert "Already downloaded and extracted" in capsys.readouterr().out
    assert helper == theirs.work_dir / "downloads" / "17flowers_extracted"

    nowhere = (tmp_path / "nowhere" / "17flowers.tgz").as_uri()    # bad input: the same one message
    messages = []
    for cfg in (mine, theirs):
        with pytest.raises(FlowersError) as info:
            if cfg is mine:
                run_cell(cell, {"cfg": load_config(env={}, profile="full", data_dir=cfg.data_dir, archive_url=nowhere)})
            else:
                download.download_archive(load_config(env={}, profile="full", data_dir=cfg.data_dir,
                                                      archive_url=nowhere), verbose=False)
        messages.append(str(info.value).replace(str(cfg.data_dir), "DATA"))
    assert messages[0] == messages[1] and nowhere in messages[0]


def test_lesson_01_image_check_is_check_images(tmp_path: Path, synthetic_source: Path, capsys) -> None:
    from support import bomb_png, copy_synthetic_source

    from helpers import download

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    copy_synthetic_source(synthetic_source, cfg.data_dir)
    extracted = download.download_archive(cfg, verbose=False)        # a fresh extraction: safe to damage
    jpg = extracted / "jpg"
    (jpg / "image_0083.jpg").write_bytes(b"<html><body>not a JPEG</body></html>")
    (jpg / "image_0165.jpg").write_bytes((jpg / "image_0165.jpg").read_bytes()[:300])
    (jpg / "image_0250.jpg").unlink()
    (jpg / "image_1361.jpg").write_bytes((jpg / "image_0001.jpg").read_bytes())
    (jpg / "image_0005.jpg").write_bytes(bomb_png(30000, 30000))            # an image bomb
    listed = (jpg / "files.txt").read_text().replace("image_0400.jpg", "")  # on disk, not listed
    (jpg / "files.txt").write_text(listed + "image_1361.jpg\nnotes.jpg\n")

    ns = run_cell(lesson_cell("01", "im.draft("), {"extracted": str(extracted)})
    ns["data"] = data
    run_cell(lesson_cell("01", "images listed in files.txt"), ns)
    checked = data.check_images(extracted)
    assert ns["good"] == checked.good and len(ns["good"]) == 1355
    assert [name for name, _ in ns["bad"]] == [name for name, _ in checked.bad] == \
        ["image_0005.jpg", "image_0083.jpg", "image_0165.jpg", "image_0250.jpg", "image_1361.jpg", "notes.jpg"]
    assert checked.unlisted == ns["unlisted"] == ["image_0400.jpg"]
    assert "files.txt does not list 1 of the photos in jpg/ (image_0400.jpg)" in capsys.readouterr().out


def test_lesson_01_class_folders_are_write_split(tmp_path: Path, synthetic_source: Path) -> None:
    from support import copy_synthetic_source

    from helpers import download
    from helpers.errors import FlowersError

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    copy_synthetic_source(synthetic_source, cfg.data_dir)
    extracted = download.download_archive(cfg, verbose=False)
    labels = data.label_images([n for n in range(1, 1361) if n % 97])
    assignment = data.seeded_split(labels, cfg.split_sizes, cfg.seed)
    assignment = {n: p for n, p in assignment.items() if not (labels[n] == 5 and p == "test")}  # an empty folder
    cell = lesson_cell("01", "with data.new_split(")
    folder = data.write_split(cfg, extracted, assignment)
    theirs = _tree(folder)
    ns = run_cell(cell, {"cfg": cfg, "data": data, "extracted": str(extracted), "assignment": assignment,
                         "labels": labels})
    assert ns["folder"] == folder and _tree(folder) == theirs          # same files, manifest and split.json
    assert (folder / "test" / "05_iris").is_dir() and not any((folder / "test" / "05_iris").iterdir())
    assert data.split_problem(folder) is None

    # Bad input gets one clear message and loses nothing: a photo the cell fails to write.
    broken = cell.replace("for n, part in assignment.items():", "for n, part in list(assignment.items())[1:]:")
    with pytest.raises(FlowersError, match="do not match the split.*left as it was"):
        run_cell(broken, {**ns})
    assert _tree(folder) == theirs and not folder.with_name("split.tmp").exists()


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
    helper = features.extract_features(features.feature_extractor(ns["base_model"]), ns["plain"].validation)
    np.testing.assert_allclose(ns["x"]["validation"], helper.x, atol=1e-5)
    np.testing.assert_array_equal(ns["y"]["validation"], helper.y)
    assert "test" not in ns["x"], "lesson 08 trains and chooses without the test photos"
    # The mirrored features are the features of the mirrored photos.
    batch, _ = ns["plain"].train[0]
    np.testing.assert_allclose(ns["x"]["train_mirrored"][: len(batch)],
                               ns["extractor"].predict_on_batch(batch[:, :, ::-1]), atol=1e-5)

    # The lesson's feature head is features.feature_head, layer for layer.
    ns = run_cell(lesson_cell("08", "def feature_head(n_features, n_classes)"), {**ns, "head_epochs": 1})
    ours, theirs = ns["feature_head"](1280, 17), features.feature_head(1280, 17)
    assert [(type(a), a.get_config() | {"seed": None}) for a in ours.layers] == \
           [(type(b), b.get_config() | {"seed": None}) for b in theirs.layers]

    # Its weight copy into the full model is features.copy_head_weights.
    head = ns["feature_head"](1280, 17)
    ns = run_cell(lesson_cell("08", "model.get_layer(name).set_weights("), {**ns, "head": head})
    other = models.add_head(ns["base_model"], 17)
    features.copy_head_weights(head, other)
    for a, b in zip(ns["model"].get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)

    ns = run_cell(lesson_cell("08", "photos = keras.utils.image_dataset_from_directory("),
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
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    training.compile_finetune(model)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(training.FINETUNE_LEARNING_RATE)


def test_lesson_06_fits_with_the_callbacks_fit_phase_gives_an_averaging_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 06's fit cell, run on a stand-in model: its callbacks are what fit_phase passes for a model
    compiled by compile_finetune, make_callbacks(..., average_weights=True)."""
    import time

    from helpers import runs
    from helpers.config import load_config

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path, build_dir=tmp_path)
    monkeypatch.setattr(training, "read_log", lambda cfg, phase: {"val_loss": [0.9, 0.8]})
    monkeypatch.setattr(runs, "begin_phase", lambda cfg, phase, started_from=None: None)
    passed: dict[str, object] = {}

    class StandIn:
        def fit(self, *args, **kwargs):
            passed.update(kwargs)
            return type("History", (), {"history": {}, "epoch": []})()

    ns = run_cell(lesson_cell("06", "training.make_callbacks(cfg, \"finetune\""),
                  {"keras": keras, "training": training, "runs": runs, "time": time, "cfg": cfg, "model": StandIn(),
                   "gens": type("G", (), {"train": None, "validation": None})(), "verbose": 0,
                   "transfer_record": {}})
    assert ns["initial_epoch"] == 2 and passed["initial_epoch"] == 2
    mine = passed["callbacks"]
    theirs = training.make_callbacks(cfg, "finetune", training.FINETUNE_PATIENCE, average_weights=True)
    assert [type(c) for c in mine] == [type(c) for c in theirs]
    assert isinstance(mine[0], keras.callbacks.SwapEMAWeights) and mine[0].swap_on_epoch
    for a, b in zip(mine, theirs):
        for attribute in ("monitor", "patience", "restore_best_weights", "save_best_only", "filepath", "filename",
                          "min_delta", "swap_on_epoch"):
            assert getattr(a, attribute, None) == getattr(b, attribute, None), (type(a).__name__, attribute)
    assert mine[2].patience == training.FINETUNE_PATIENCE
    averaging = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    training.compile_finetune(averaging)
    assert training.averages_weights(averaging), "so fit_phase asks make_callbacks for average_weights=True"


def test_lesson_05_writes_the_unfinished_files_make_callbacks_names_and_finishes_them(tmp_path: Path) -> None:
    """Lesson 05's callbacks are make_callbacks' (the unfinished files), and its next cell puts them in place."""
    from helpers import runs
    from helpers.config import load_config

    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path, build_dir=tmp_path)
    ns = run_cell(lesson_cell("05", "files = runs.begin_phase(cfg, \"transfer\")"),
                  {"keras": keras, "runs": runs, "cfg": cfg})
    mine, theirs = ns["callbacks"], training.make_callbacks(cfg, "transfer")
    assert [type(c) for c in mine] == [type(c) for c in theirs]
    for a, b in zip(mine, theirs):
        for attribute in ("monitor", "patience", "restore_best_weights", "save_best_only", "filepath", "filename"):
            assert getattr(a, attribute, None) == getattr(b, attribute, None), (type(a).__name__, attribute)
    assert mine[0].filepath == str(runs.unfinished_path(runs.model_path(cfg, "transfer")))
    finish = lesson_cell("05", "runs.finish_phase(cfg, \"transfer\")")
    assert finish.index("finish_phase") < finish.index("update_results(")   # numbers follow the finished record


def _lesson_06_finetune_compile_matches_compile_finetune(mine: keras.Model) -> None:
    """``mine`` was compiled by lesson 06's own code: the same optimizer, learning rate, loss and metrics."""
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(17, activation="softmax")])
    training.compile_finetune(theirs)
    assert type(mine.optimizer) is type(theirs.optimizer) is keras.optimizers.Adam
    assert mine.optimizer.use_ema and theirs.optimizer.use_ema, "both average the weights"
    assert mine.optimizer.ema_momentum == theirs.optimizer.ema_momentum
    assert float(mine.optimizer.learning_rate) == float(theirs.optimizer.learning_rate) == \
        pytest.approx(training.FINETUNE_LEARNING_RATE)
    assert type(mine.loss) is type(theirs.loss) is keras.losses.CategoricalCrossentropy
    assert mine.loss.get_config() == theirs.loss.get_config()
    assert mine.loss.get_config()["label_smoothing"] == training.LABEL_SMOOTHING
    assert mine.get_compile_config()["metrics"] == theirs.get_compile_config()["metrics"] == ["accuracy"]


def test_lesson_06_compiles_as_compile_finetune(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 08 fine-tunes through compile_finetune; lesson 06 compiles inline, for its model and its timing copies."""
    import papermill as pm

    lesson = next((ROOT / "notebooks").glob("06_*.ipynb"))
    learning_rate = float(pm.inspect_notebook(str(lesson))["learning_rate"]["default"])
    mine = keras.Sequential([keras.Input((3,)), keras.layers.Dense(17, activation="softmax")])
    run_cell(lesson_cell("06", "model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, use_ema"),
             {"model": mine, "keras": keras, "training": training, "learning_rate": learning_rate})
    _lesson_06_finetune_compile_matches_compile_finetune(mine)

    copy = keras.Sequential([keras.Input((3,)), keras.layers.Dense(17, activation="softmax")])
    monkeypatch.setattr(keras.models, "clone_model", lambda model: copy)
    batch = (np.zeros((4, 3)), np.eye(17)[:4])
    source = lesson_cell("06", "def images_per_second(").split("if compare_speed:")[0]
    ns = run_cell(source, {"keras": keras, "training": training, "learning_rate": learning_rate,
                           "gens": type("G", (), {"train": [batch]})()})
    assert ns["images_per_second"](mine, steps=1) > 0
    _lesson_06_finetune_compile_matches_compile_finetune(copy)


def test_lesson_06_original_cut_loop_is_set_trainable_from(tmp_path: Path) -> None:
    cfg = load_config(env={}, profile="smoke", backbone="mobilenet_v2_035", data_dir=tmp_path / "d",
                      build_dir=tmp_path / "b")
    spec = models.backbone_spec(cfg)
    model, _ = models.build_model(cfg, len(SPECIES))
    cut = training.unfreeze_top(model, spec.freeze_through)
    ours = [layer.trainable for layer in model.layers]
    ns = run_cell(lesson_cell("06", "original = keras.models.clone_model(model)"),
                  {"model": model, "models": models, "keras": keras, "freeze_through": spec.freeze_through})
    theirs = models.add_head(models.load_base(cfg), len(SPECIES))
    training.set_trainable_from(theirs, 18, keep_batchnorm_frozen=False)
    assert [layer.trainable for layer in ns["original"].layers] == [layer.trainable for layer in theirs.layers]
    assert ns["original_counts"] == models.parameter_counts(theirs)
    assert [layer.trainable for layer in model.layers] == ours, "the lesson's model keeps its cut"
    assert ns["ours"] == models.parameter_counts(model) and cut > 18


def test_lesson_06_loads_the_transfer_model_as_load_phase_model_does(tmp_path: Path, synthetic_source: Path) -> None:
    from helpers import runs
    from helpers.errors import FlowersError

    cfg, _ = smoke_split(tmp_path, synthetic_source)
    cfg = cfg.replace(backbone="mobilenet_v2_035", image_size=32)
    cell = lesson_cell("06", "model = keras.models.load_model(path)")
    with pytest.raises(FlowersError, match="does not exist yet. Run lesson 05 first"):
        run_cell(cell, {"cfg": cfg, "freeze_through": None})
    runs.start_clean(cfg, "transfer")
    saved, base = models.build_model(cfg, len(SPECIES))
    training.freeze_base(base)
    training.compile_transfer(saved)
    saved.train_on_batch(np.zeros((2, 32, 32, 3)), np.eye(len(SPECIES))[:2])   # as lesson 05 saves it: trained
    saved.save(runs.model_path(cfg, "transfer"))
    ns = run_cell(cell, {"cfg": cfg, "freeze_through": None})
    theirs = training.load_phase_model(cfg, "transfer")
    assert ns["path"] == runs.model_path(cfg, "transfer")
    assert ns["freeze_through"] == models.backbone_spec(cfg).freeze_through
    assert [w.shape for w in ns["model"].weights] == [w.shape for w in theirs.weights]
    for mine, helper in zip(ns["model"].get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(mine, helper)
    path = runs.model_path(cfg, "transfer")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])                   # cut off, as by an interrupted run
    with pytest.raises(FlowersError, match="cannot be read .* Run lesson 05 again"):
        run_cell(cell, {"cfg": cfg, "freeze_through": None})
    path.write_bytes(whole)
    runs.identity_path(cfg, "transfer").write_text("{}")       # a record of some other run
    with pytest.raises(FlowersError, match="run lesson 05 again"):
        run_cell(cell, {"cfg": cfg, "freeze_through": None})


@pytest.mark.parametrize("backbone", ["inception_v3", "efficientnet_b0"])
def test_lesson_07_single_photo_steps_are_predict_file(tmp_path: Path, backbone: str, capsys) -> None:
    """Lesson 07's own cells (upright, RGB on white, crop and resize, preprocess, model) are predict_file."""
    from PIL import Image

    from helpers import evaluation

    cfg = load_config(env={}, profile="smoke", backbone=backbone, data_dir=tmp_path / "d", build_dir=tmp_path / "b")
    cfg.build_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (90, 140, 3), dtype=np.uint8), "RGB")
    photo.paste((255, 0, 0), (0, 0, 40, 90))                       # a red left edge, to see a turn
    exif = Image.Exif()
    exif[0x0112] = 6                                               # turn 90 degrees clockwise to show
    alpha = Image.fromarray(np.tile(np.linspace(0, 255, 140, dtype=np.uint8), (90, 1)), "L")
    rgba = photo.convert("RGBA")
    rgba.putalpha(alpha)                                           # from transparent to opaque
    folder = tmp_path / "photos"
    folder.mkdir()
    photo.transpose(Image.Transpose.ROTATE_90).save(folder / "phone.jpg", exif=exif, quality=95)
    rgba.save(folder / "with_alpha.png")
    photo.convert("L").save(folder / "greyscale.jpg")
    photo.convert("LA").save(folder / "grey_alpha.png")
    photo.convert("P").save(folder / "palette.png", transparency=0)
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    photo.save(folder / "plain.png")
    paths = sorted(folder.iterdir())
    with Image.open(folder / "phone.jpg") as stored:
        assert stored.size == (90, 140) and stored.getexif().get(0x0112) == 6, "stored sideways, with its turn"

    model = keras.Sequential([keras.Input((cfg.image_size, cfg.image_size, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(len(SPECIES), activation="softmax")])
    ns: dict[str, object] = {"paths": paths, "Image": Image, "np": np, "cfg": cfg, "model": model, "data": data,
                             "evaluation": evaluation, "demo": folder, "class_names": list(SPECIES)}
    run_cell(lesson_cell("07", "photos = [ImageOps.exif_transpose(Image.open(path)) for path in paths]"), ns)
    assert {photo.size for photo in ns["photos"]} == {(140, 90)}, "every photo upright"
    for marker in ("photos = [on_white(photo) for photo in photos]", "photos = [photo.resize(size",
                   "x = preprocess_input(np.stack(", "chances = np.asarray(model(x, training=False))",
                   "def classify(path", "evaluation.predict_file(model, not_a_photo"):
        run_cell(lesson_cell("07", marker), ns)
    for path, x, chances in zip(paths, ns["x"], ns["chances"]):
        np.testing.assert_allclose(x[None], evaluation.load_image_for_model(path, cfg), atol=1e-5,
                                   err_msg=path.name)
        helper = dict(evaluation.predict_file(model, path, cfg, SPECIES, top=len(SPECIES)))
        # A batch of seven and a batch of one may run other kernels, which round differently.
        np.testing.assert_allclose(chances, [helper[name] for name in SPECIES], rtol=1e-4, atol=1e-6, err_msg=path.name)
        # The same three answers, in the same order, except where two are equal within that rounding.
        for mine in (ns["top3"][path], ns["classify"](path)):
            for (name, p), (their_name, their_p) in zip(mine, list(helper.items())[:3], strict=True):
                assert name == their_name or abs(p - their_p) <= 1e-6 + 1e-4 * their_p, (path.name, mine)
                assert p == pytest.approx(helper[name], rel=1e-4, abs=1e-6)
    shown = capsys.readouterr().out.strip().splitlines()[-1]
    assert shown.startswith(str(cfg.build_dir / "notes.txt")) and "does not open as an image" in shown



def _no_plots():
    """matplotlib.pyplot with the Agg backend, for a lesson cell that draws (nothing is shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def test_lesson_09_folder_checks_find_what_read_photos_leaves_out(tmp_path: Path) -> None:
    """Lesson 09's inline checks (photo check, content hashes) name the files `own_split.read_photos` leaves out."""
    from helpers import own_split, photo_folder, synthetic

    photos = synthetic.write_photo_folder(tmp_path / "my photos")
    cfg = load_config({"FLOWERS_PROFILE": "smoke", "FLOWERS_DATA_DIR": str(tmp_path / "data"),
                       "FLOWERS_BUILD_DIR": str(tmp_path / "build"), "FLOWERS_PHOTOS": str(photos)})
    ns = run_cell(lesson_cell("09", "layout = photo_folder.scan_folder(root"), {"cfg": cfg})
    for marker in ("bad = {}", "by_hash = defaultdict(list)"):
        run_cell(lesson_cell("09", marker), ns)
    assert sorted(ns["bad"]) == sorted(photos / name for name in synthetic.PHOTO_FOLDER_BAD_FILES)
    copies = sorted(sorted(group) for group in ns["by_hash"].values() if len(group) > 1)
    checked = photo_folder.scan_folder(photos)
    assert copies == photo_folder.duplicate_groups(checked) and len(copies) == 2
    left_out = {path for path, _ in own_split.read_photos(cfg, verbose=False).left_out}
    conflict = next(group for group in copies if len({p.parent for p in group}) > 1)
    assert set(ns["bad"]) | set(conflict) <= left_out, "what the lesson shows is what the split leaves out"
    _no_plots()
    run_cell(lesson_cell("09", "conflicts = {h for h, group"), ns)
    assert ns["usable"] == own_split.read_photos(cfg, verbose=False).counts(), "the bar chart counts the split's photos"


def test_lesson_09_trains_on_features_as_lessons_05_and_08_do() -> None:
    """`features.probe_head` and `features.fit_on_features` are lesson 05's probe and lesson 08's `train_head`."""
    from helpers import features

    probe_cell = lesson_cell("05", "probe_head = keras.Sequential(")
    lesson_probe = run_cell(probe_cell.split("probe_head.compile")[0],
                            {"keras": keras, "x_train": np.zeros((2, 8)), "n_classes": 3})["probe_head"]
    ours = features.probe_head(8, 3)
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in lesson_probe.layers]
    assert ours.layers[0].rate == lesson_probe.layers[0].rate
    assert ours.layers[1].get_config()["activation"] == lesson_probe.layers[1].get_config()["activation"]
    assert f"patience={features.PROBE_PATIENCE}," in probe_cell and '"categorical_crossentropy"' in probe_cell
    head_cell = lesson_cell("08", "def train_head(")
    assert f"label_smoothing={training.LABEL_SMOOTHING})" in head_cell
    assert f"patience={training.PATIENCE}," in head_cell and "Adam(1e-3)" in head_cell and "batch_size=32" in head_cell
    x, y = np.random.default_rng(0).normal(size=(12, 8)).astype("float32"), np.eye(3, dtype="float32")[[0, 1, 2] * 4]
    run = features.fit_on_features(features.probe_head(8, 3), (x, y), (x, y), epochs=2, class_weight={0: 2.0, 1: 1.0,
                                                                                                       2: 1.0})
    assert len(run.history["val_loss"]) == 2 and run.kept_epoch in (0, 1)
    assert run.head.loss.get_config()["label_smoothing"] == 0.0, "the probe trains on plain cross-entropy"


def test_lesson_10_gradcam_cells_are_helpers_heatmaps() -> None:
    """Lesson 10's inline Grad-CAM, its nested-base version and its patch check are `helpers.heatmaps`."""
    import tensorflow as tf
    from keras import layers

    from helpers import heatmaps
    from helpers.synthetic import patch_images

    ns = run_cell(lesson_cell("10", "def gradcam(model, batch, class_indices, feature_layer=None):"), {})
    keras.utils.set_random_seed(3)
    inputs = keras.Input((64, 64, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D(name=models.POOL_NAME)(x)
    x = layers.Dropout(0.5, name="dropout_features")(x)
    x = layers.Dense(6, activation="relu", name=models.HIDDEN_NAME)(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", name=models.OUTPUT_NAME)(x))
    images = patch_images(6, seed=0)
    classes = [0, 1, 2, 2, 1, 0]
    expected = heatmaps.gradcam(model, images.x, classes)
    assert expected.max() > 0, "a map with evidence in it, so the comparison means something"
    assert np.allclose(ns["gradcam"](model, images.x, classes), expected, atol=1e-6)
    earlier = model.layers[1]                                   # solution 3's feature_layer
    assert np.allclose(ns["gradcam"](model, images.x, classes, feature_layer=earlier),
                       heatmaps.gradcam(model, images.x, classes, feature_layer=earlier), atol=1e-6)
    # The nested form the lesson builds from the flat model's own layers gives the same maps.
    nested_ns = run_cell(lesson_cell("10", "pool_index = max("), {
        "keras": keras, "models": models, "model": model, "np": np, "tf": tf})
    assert [layer.name for layer in nested_ns["nested"].layers][1:] == [
        "base", models.POOL_NAME, "dropout_features", models.HIDDEN_NAME, models.OUTPUT_NAME]
    fix = run_cell(lesson_cell("10", "def gradcam_nested(").split("some = chosen")[0], {"np": np, "tf": tf})
    assert np.allclose(fix["gradcam_nested"](nested_ns["nested"], images.x, classes), expected, atol=1e-5)
    # The lesson's peak-in-the-patch count is what helpers.heatmaps' upsample and peaks give.
    test = patch_images(20, seed=2)
    check = run_cell(lesson_cell("10", "patch_maps = tf.image.resize(").split("fig, axes")[0],
                     {"gradcam": heatmaps.gradcam, "tiny": model, "test": test, "side": 64, "np": np, "tf": tf,
                      "print": lambda *a, **k: None})
    peaks = heatmaps.peaks(heatmaps.upsample(heatmaps.gradcam(model, test.x, test.y), 64))
    assert np.array_equal(np.stack([check["rows"], check["cols"]], axis=1), peaks)
