"""Lessons 03 and 04: the InceptionV3 base, the new head, and the maps of the network (helpers.models).

Models are built with ``weights=None`` (no download) at 75 px, the smallest size
InceptionV3 accepts, and shared through module-scoped fixtures: building one
takes a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import keras.src.applications.inception_v3 as keras_inception_v3
import keras.src.backend.config as keras_config
import numpy as np
import pytest
from support import lesson_cell, run_cell

from helpers import models
from helpers.backbones import BACKBONES
from helpers.config import REPO_ROOT, Config, load_config
from helpers.errors import FlowersError
from helpers.flowers17 import SPECIES

LESSON_04 = REPO_ROOT / "notebooks" / "04_building_the_new_head.ipynb"
WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"

BLOCK_NAMES = [f"mixed{i}" for i in range(11)]
BLOCK_INDICES = [40, 63, 86, 100, 132, 164, 196, 228, 248, 279, 310]
BLOCK_CHANNELS = [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]

HEAD_PARAMS = 2048 * 1024 + 1024 + 1024 * 17 + 17  # 2,115,601
MODEL_COUNTS = {"total": 23_918_385, "trainable": 23_883_953, "non_trainable": 34_432}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The smoke profile (weights=None, 75 px); no data is needed to build models."""
    root = tmp_path_factory.mktemp("models")
    return load_config(env={}, profile="smoke", data_dir=root / "data", build_dir=root / "build")


@pytest.fixture(scope="module")
def built(cfg: Config) -> tuple[keras.Model, keras.Model]:
    """``(model, base)`` from ``build_model``, built once for the module.

    Tests that change ``trainable`` flags must restore them.
    """
    return models.build_model(cfg, len(SPECIES))


@pytest.fixture(scope="module")
def base(built: tuple[keras.Model, keras.Model]) -> keras.Model:
    return built[1]


@pytest.fixture(scope="module")
def model(built: tuple[keras.Model, keras.Model]) -> keras.Model:
    return built[0]


def lesson_head_cell() -> str:
    """The source of lesson 04's code cell that builds the head by hand."""
    nb = json.loads(LESSON_04.read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    found = [src for src in cells if "Model(inputs=base_model.input" in src]
    assert len(found) == 1, "lesson 04 must have exactly one cell that builds the head"
    return found[0]


# --------------------------------------------------------------------------- the base


def test_base_is_inception_v3_without_top_at_the_smoke_size(cfg: Config, base: keras.Model) -> None:
    """At 75 px the base turns an image into a 1 x 1 x 2048 block of features (no classifier)."""
    assert cfg.weights is None and cfg.image_size == 75
    assert base.input_shape == (None, 75, 75, 3)
    assert base.output_shape == (None, 1, 1, 2048)
    assert not any(layer.name == "predictions" for layer in base.layers)


def test_base_at_the_full_size_gives_8_by_8_feature_maps(cfg: Config) -> None:
    """At 299 px (the full profile's size) the output is 8 x 8 x 2048; the layers and the head are the same."""
    big = models.load_base(cfg.replace(image_size=299))
    assert big.output_shape == (None, 8, 8, 2048)
    assert len(big.layers) == 311
    assert [(b.name, b.index) for b in models.block_table(big)] == list(zip(BLOCK_NAMES, BLOCK_INDICES))
    assert models.block_table(big)[-1].output_shape == (None, 8, 8, 2048)
    # Global average pooling makes the head's size independent of the input size.
    assert models.parameter_counts(models.add_head(big, len(SPECIES))) == MODEL_COUNTS


def test_base_has_311_layers(base: keras.Model) -> None:
    """InceptionV3 without top: an input layer plus 310 others, the last one being mixed10."""
    assert len(base.layers) == 311
    assert base.layers[-1].name == "mixed10"


def test_block_table_lists_mixed0_to_mixed10(base: keras.Model) -> None:
    """The block table names the 11 mixed blocks with their layer index and channel count."""
    table = models.block_table(base)
    assert [b.name for b in table] == BLOCK_NAMES
    assert [b.index for b in table] == BLOCK_INDICES
    assert [b.output_shape[-1] for b in table] == BLOCK_CHANNELS
    assert all(base.layers[b.index].name == b.name for b in table)
    assert all(b.output_shape[0] is None for b in table)


def test_block_table_ignores_layers_that_only_start_with_mixed(base: keras.Model) -> None:
    """mixed9_0 and mixed9_1 (inner concatenations of mixed9/10) are not blocks."""
    names = [layer.name for layer in base.layers]
    assert "mixed9_0" in names and "mixed9_1" in names
    assert "mixed9_0" not in [b.name for b in models.block_table(base)]


def test_layer_index_finds_layers_by_name(cfg: Config, base: keras.Model, model: keras.Model) -> None:
    """mixed8 (where fine-tuning stops freezing) is layer 248; mixed7 is 228; same in base and model."""
    assert models.layer_index(base, "mixed8") == 248
    assert models.layer_index(base, "mixed7") == 228
    assert models.layer_index(model, "mixed8") == 248
    assert models.backbone_spec(cfg).freeze_through == "mixed8"


def test_a_freeze_through_the_backbone_lacks_is_refused_with_its_block_ends(base: keras.Model) -> None:
    """Lesson 06's freeze_through="block5c_add" (EfficientNet's cut) on InceptionV3 was a raw KeyError."""
    from helpers.errors import FlowersError

    with pytest.raises(FlowersError) as info:
        models.layer_index(base, "block5c_add")
    assert str(info.value) == ("'block5c_add' is not a layer of this model, so it cannot be where freezing stops. "
                               "Give one of its block ends: mixed0, mixed1, mixed2, mixed3, mixed4, mixed5, mixed6, "
                               "mixed7, mixed8, mixed9, mixed10.")


def test_mobilenet_block_ends_are_its_residual_adds() -> None:
    from helpers.errors import FlowersError

    small = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    with pytest.raises(FlowersError, match=r"Give one of its block ends: block_2_add, block_4_add, block_5_add, "
                                           r"block_7_add, block_8_add, block_9_add, block_11_add, block_12_add, "
                                           r"block_14_add, block_15_add\.$"):
        models.layer_index(small, "mixed8")


# --------------------------------------------------------------------------- the head


def test_head_is_pooling_then_dense_1024_relu_then_dense_17_softmax(model: keras.Model) -> None:
    """The original tutorial's head, with Dropout(HEAD_DROPOUT) before each Dense layer."""
    pool, drop1, hidden, drop2, out = model.layers[-5:]
    assert isinstance(pool, keras.layers.GlobalAveragePooling2D)
    assert isinstance(drop1, keras.layers.Dropout) and isinstance(drop2, keras.layers.Dropout)
    assert drop1.rate == drop2.rate == models.HEAD_DROPOUT == 0.5
    assert isinstance(hidden, keras.layers.Dense) and isinstance(out, keras.layers.Dense)
    assert (hidden.units, hidden.get_config()["activation"]) == (1024, "relu")
    assert (out.units, out.get_config()["activation"]) == (17, "softmax")
    assert model.output_shape == (None, 17)
    assert len(model.layers) == 311 + 5


def test_without_dropout_the_head_is_the_original_tutorials(model: keras.Model, base: keras.Model) -> None:
    """dropout=0 leaves out the Dropout layers; the parameter counts are the same either way."""
    original = models.add_head(base, len(SPECIES), dropout=0)
    assert [type(layer).__name__ for layer in original.layers[-3:]] == \
        ["GlobalAveragePooling2D", "Dense", "Dense"]
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in original.layers)
    assert models.parameter_counts(original) == models.parameter_counts(model) == MODEL_COUNTS


def test_dropout_is_active_in_training_only(model: keras.Model) -> None:
    """The head's Dropout changes the output in training mode and leaves inference deterministic."""
    x = np.random.default_rng(0).normal(size=(4, 75, 75, 3)).astype("float32")
    first, second = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    assert not np.allclose(np.asarray(model(x, training=True)), np.asarray(first))


def test_head_and_model_parameter_counts(model: keras.Model, base: keras.Model) -> None:
    """Head 2,115,601; model 23,918,385 in all, 23,883,953 trainable, 34,432 non-trainable."""
    counts = models.parameter_counts(model)
    assert counts == MODEL_COUNTS
    assert counts["total"] - models.parameter_counts(base)["total"] == HEAD_PARAMS == 2_115_601
    assert sum(layer.count_params() for layer in model.layers[-5:]) == HEAD_PARAMS
    assert counts["total"] == model.count_params()


def test_add_head_takes_the_number_of_classes_and_hidden_units(base: keras.Model) -> None:
    """A 256-unit head for 5 classes has 2048*256+256 + 256*5+5 parameters."""
    small = models.add_head(base, n_classes=5, hidden=256)
    assert small.output_shape == (None, 5)
    head = models.parameter_counts(small)["total"] - models.parameter_counts(base)["total"]
    assert head == 2048 * 256 + 256 + 256 * 5 + 5


def test_model_shares_its_layers_with_the_base(model: keras.Model, base: keras.Model) -> None:
    """Model(inputs=base.input, ...) reuses the base's layer objects; it does not copy them."""
    assert all(model.layers[i] is base.layers[i] for i in range(len(base.layers)))
    assert model.layers[1].kernel is base.layers[1].kernel


def test_freezing_a_base_layer_freezes_it_in_the_model(model: keras.Model, base: keras.Model) -> None:
    """Setting trainable=False through the base is seen by the model (this is how lesson 05 freezes)."""
    # The first convolution (3*3*3*32 weights), found by type: Keras numbers layer
    # names per session, so "conv2d" is only its name in a fresh process.
    k = next(i for i, layer in enumerate(base.layers) if isinstance(layer, keras.layers.Conv2D))
    before = models.parameter_counts(model)
    base.layers[k].trainable = False
    try:
        assert model.layers[k].trainable is False
        after = models.parameter_counts(model)
        assert after["trainable"] == before["trainable"] - 3 * 3 * 3 * 32
        assert after["total"] == before["total"]
    finally:
        base.layers[k].trainable = True
    assert models.parameter_counts(model) == before


# --------------------------------------------------------------------------- lesson and helper agree


def test_helper_builds_the_same_model_as_lesson_04s_cell(model: keras.Model, base: keras.Model) -> None:
    """Running the notebook's own head cell gives the helper's architecture: notebook and helper cannot drift."""
    source = lesson_head_cell()
    namespace: dict[str, object] = {"base_model": base, "n_classes": len(SPECIES)}   # lesson 04 reads it from the data
    exec(compile(source, str(LESSON_04), "exec"), namespace)
    lesson_model = namespace["model"]
    assert isinstance(lesson_model, keras.Model)
    assert models.architecture(lesson_model) == models.architecture(model)
    assert models.parameter_counts(lesson_model) == models.parameter_counts(model)
    assert lesson_model.layers[0] is base.layers[0]


def test_architecture_tells_different_heads_apart(model: keras.Model, base: keras.Model) -> None:
    """The comparison above means something: a head with other units or activation differs."""
    other = models.add_head(base, len(SPECIES), hidden=512)
    assert models.architecture(other) != models.architecture(model)
    from keras import Model, layers

    x = layers.GlobalAveragePooling2D()(base.output)
    x = layers.Dense(1024, activation="tanh")(x)
    tanh = Model(base.input, layers.Dense(17, activation="softmax")(x))
    assert models.parameter_counts(tanh) == models.parameter_counts(model)
    assert models.architecture(tanh) != models.architecture(model)



def test_lesson_04_counts_with_keras_are_parameter_counts(model: keras.Model, base: keras.Model,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Lesson 04 counts with count_params() and trainable_weights; lessons 05-06 print parameter_counts."""
    cell = lesson_cell("04", "for w in model.trainable_weights")
    for frozen in (False, True):                     # the base trainable (lesson 04), then frozen (lesson 05)
        for layer in base.layers:
            layer.trainable = not frozen
        try:
            capsys.readouterr()
            ns = run_cell(cell, {"model": model, "base_model": base})
            counts = models.parameter_counts(model)
            assert (ns["total"], ns["trainable"], ns["total"] - ns["trainable"]) == \
                (counts["total"], counts["trainable"], counts["non_trainable"])
            assert ns["head"] == HEAD_PARAMS
            assert capsys.readouterr().out == f"head          {HEAD_PARAMS:>12,}\n{models.format_counts(counts)}\n"
        finally:
            for layer in base.layers:
                layer.trainable = True
    assert models.parameter_counts(model) == MODEL_COUNTS


def test_lesson_04_solution_2_is_add_head_with_256_units(base: keras.Model) -> None:
    """The smaller head that solution 2 writes inline is the helper's head with hidden=256."""
    from keras import Model, layers

    ns = run_cell(lesson_cell("04", "layers.Dense(256, activation=\"relu\")"),
                  {"base_model": base, "layers": layers, "Model": Model, "features": 2048, "head": HEAD_PARAMS,
                   "n_classes": len(SPECIES)})
    assert models.architecture(ns["small"]) == models.architecture(models.add_head(base, len(SPECIES), hidden=256))
    assert ns["small_head"] == 2048 * 256 + 256 + 256 * 17 + 17



def test_training_true_replaces_a_nested_training_false_but_not_a_frozen_batchnorm() -> None:
    """Lesson 04, cell 18: in Keras 3 a call with training=True reaches a base recorded with training=False,
    so a trainable BatchNormalization layer inside updates its statistics; one with trainable=False does not."""
    from keras import layers

    inputs = keras.Input((4,))
    base = keras.Model(inputs, layers.BatchNormalization()(layers.Dense(4)(inputs)))
    outer_inputs = keras.Input((4,))
    outer = keras.Model(outer_inputs, layers.Dense(1)(base(outer_inputs, training=False)))
    bn = base.layers[-1]
    x = np.random.default_rng(0).uniform(0, 10, (8, 4)).astype("float32")
    for trainable, moves in ((True, True), (False, False)):
        bn.trainable = trainable
        before = np.array(bn.moving_mean)
        outer(x, training=True)
        assert (not np.allclose(before, np.array(bn.moving_mean))) is moves


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_lesson_03_solution_3_names_every_backbones_non_trainable_weights(name: str) -> None:
    """Lessons 03 and 04 say which weights are non-trainable: BatchNormalization statistics, and in
    EfficientNetB0 also its input Normalization layer's mean, variance and count."""
    spec = BACKBONES[name]
    base = spec.build(None, (spec.min_size, spec.min_size, 3))
    ns = run_cell(lesson_cell("03", "frozen = Counter()"), {"base_model": base})
    expected = {("BatchNormalization", "moving_mean"), ("BatchNormalization", "moving_variance")}
    if name == "efficientnet_b0":
        expected |= {("Normalization", "mean"), ("Normalization", "variance"), ("Normalization", "count")}
    assert set(ns["frozen"]) == expected
    assert sum(ns["frozen"].values()) == models.parameter_counts(base)["non_trainable"]


# --------------------------------------------------------------------------- missing weights


def test_unreachable_weights_raise_one_readable_flowers_error(cfg: Config, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: load_base names the weights file, where to put it, and FLOWERS_PROFILE=smoke."""
    home = tmp_path / "keras_home"
    home.mkdir()
    # KERAS_HOME as if set before Keras started (Keras reads it once, at import), so an
    # already-cached weights file in ~/.keras cannot make the test pass by accident.
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))
    url = f"http://127.0.0.1:9/{WEIGHTS_FILE}"  # the discard port: connection refused at once
    monkeypatch.setattr(keras_inception_v3, "WEIGHTS_PATH_NO_TOP", url)

    with pytest.raises(FlowersError) as info:
        models.load_base(cfg.replace(weights="imagenet", image_size=75))

    message = str(info.value)
    target = home / "models" / WEIGHTS_FILE
    assert WEIGHTS_FILE in message
    assert url in message
    assert str(target) in message
    assert "FLOWERS_PROFILE=smoke" in message
    assert "InceptionV3" in message
    # Keras really looks in that folder (it made it) and left no partial file there.
    assert target.parent.is_dir() and not target.exists()
    # Raised "from None": one message, not a chain of tracebacks.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


def test_weights_message_names_the_folder_keras_really_uses(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """KERAS_HOME changed after Keras was imported does not move Keras' cache, so the message must not follow it."""
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "used_by_keras"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "set_too_late"))
    assert models._keras_cache() == tmp_path / "used_by_keras"


def test_other_build_errors_are_not_disguised_as_download_problems(cfg: Config) -> None:
    """Only URL fetch failures become FlowersError; a too-small input stays Keras' own ValueError."""
    with pytest.raises(ValueError, match="75"):
        models.load_base(cfg.replace(image_size=50))


# --------------------------------------------------------------------------- counting


def test_parameter_counts_of_a_small_model() -> None:
    """Dense(3) 15 + BatchNorm 6 trainable and 6 not + Dense(2) 8; freezing moves counts to non-trainable."""
    from keras import Model, layers

    inputs = layers.Input((4,))
    x = layers.Dense(3)(inputs)
    x = layers.BatchNormalization()(x)
    tiny = Model(inputs, layers.Dense(2)(x))
    assert models.parameter_counts(tiny) == {"total": 35, "trainable": 29, "non_trainable": 6}
    tiny.layers[1].trainable = False
    assert models.parameter_counts(tiny) == {"total": 35, "trainable": 14, "non_trainable": 21}
    assert all(isinstance(v, int) for v in models.parameter_counts(tiny).values())


def test_format_counts_uses_thousands_separators() -> None:
    """One aligned line per count, names with hyphens, numbers with commas."""
    text = models.format_counts(MODEL_COUNTS)
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["total", "23,918,385"]
    assert lines[1].split() == ["trainable", "23,883,953"]
    assert lines[2].split() == ["non-trainable", "34,432"]
    assert len({len(line) for line in lines}) == 1
    assert "23918385" not in text
    assert models.format_counts({"total": 35}).split() == ["total", "35"]
