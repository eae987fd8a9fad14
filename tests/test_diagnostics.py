"""helpers.diagnostics (lesson 11): each check finds its failure, stays silent on a sound model, and is the lesson's.

The failures are built on a tiny model shaped like the course's: a base whose
blocks end in ``_add`` layers (as MobileNetV2's and EfficientNet's do), with
BatchNormalization, then lesson 04's pooling and output layers.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import layers
from support import lesson_cell, run_cell

from helpers import diagnostics, training
from helpers.models import BLOCK_END, OUTPUT_NAME, POOL_NAME


def tiny_model(n_classes: int = 3) -> keras.Model:
    """stem -> block_1 (conv, BN, conv, add) -> block_2 (the same) -> pooling -> Dense."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", name="stem_conv")(inputs)
    for block in (1, 2):
        y = layers.Conv2D(4, 3, padding="same", name=f"block_{block}_conv")(x)
        y = layers.BatchNormalization(name=f"block_{block}_bn")(y)
        y = layers.Conv2D(4, 1, name=f"block_{block}_project")(y)
        x = layers.Add(name=f"block_{block}_add")([x, y])
    x = layers.GlobalAveragePooling2D(name=POOL_NAME)(x)
    return keras.Model(inputs, layers.Dense(n_classes, activation="softmax", name=OUTPUT_NAME)(x))


def lesson_unfreeze():
    """Lesson 11's own `unfreeze` function, from its cell."""
    cell = lesson_cell("11", "def unfreeze(model, freeze_through")
    source = cell[cell.index("def unfreeze"):cell.index("def compile_at")]
    spec = type("Spec", (), {"freeze_through": "block_1_add"})
    from helpers import models
    return run_cell(source, {"spec": spec, "models": models, "layers": layers})["unfreeze"]


def test_lesson_11_unfreezes_as_training_unfreeze_top_does() -> None:
    unfreeze = lesson_unfreeze()
    for keep in (True, False):
        mine, theirs = tiny_model(), tiny_model()
        unfreeze(mine, "block_1_add", keep_batchnorm_frozen=keep)
        training.unfreeze_top(theirs, "block_1_add", keep_batchnorm_frozen=keep)
        assert [layer.trainable for layer in mine.layers] == [layer.trainable for layer in theirs.layers]


def test_trainable_batchnorm_is_found_and_named() -> None:
    model = tiny_model()
    training.unfreeze_top(model, "stem_conv")
    assert diagnostics.trainable_batchnorm(model) is None
    training.unfreeze_top(model, "stem_conv", keep_batchnorm_frozen=False)
    problem = diagnostics.trainable_batchnorm(model)
    assert problem.startswith("2 BatchNormalization layers are trainable (block_1_bn, block_2_bn)")
    ns = run_cell(lesson_cell("11", "trainable_bn = [layer.name"), {"model": model, "layers": layers,
                                                                  "print": lambda *a: None})
    assert ns["trainable_bn"] == ["block_1_bn", "block_2_bn"]


def test_a_high_learning_rate_counts_only_while_the_base_trains() -> None:
    model = tiny_model()
    training.freeze_base(keras.Model(model.input, model.get_layer("block_2_add").output))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    assert diagnostics.learning_rate_too_high(model) is None          # a new head may train fast
    training.unfreeze_top(model, "block_1_add")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    assert "The learning rate is 0.01 while base layers train" in diagnostics.learning_rate_too_high(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    assert diagnostics.learning_rate_too_high(model) is not None        # lesson 11 measured 1e-3 losing accuracy
    model.compile(optimizer=keras.optimizers.Adam(training.FINETUNE_LEARNING_RATE), loss="categorical_crossentropy")
    assert diagnostics.learning_rate_too_high(model) is None


def test_a_loss_above_log_n_classes_is_flagged() -> None:
    assert diagnostics.loss_above_chance([1.2, 1.0], 17) is None
    assert "above log(3) = 1.10" in diagnostics.loss_above_chance([0.9, 1.3], 3)


def test_weights_that_did_not_move_are_found_as_the_lesson_finds_them() -> None:
    model = tiny_model()
    training.unfreeze_top(model, "stem_conv")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(8, 16, 16, 3)).astype("float32"), np.eye(3)[[0, 1, 2, 0] * 2]
    model.fit(x, y, epochs=1, verbose=0)                       # the training step is built now
    training.unfreeze_top(model, "stem_conv")
    for layer in model.layers[:2]:
        layer.trainable = True                                 # the stem unfrozen, without compiling again
    before = [w.numpy() for w in model.trainable_weights]
    model.fit(x, y, epochs=1, verbose=0)
    problem = diagnostics.unmoved_weights(model, before)
    assert problem.startswith(f"2 of {len(before)} trainable weights did not move (stem_conv/kernel")
    ns = run_cell(lesson_cell("11", "unmoved = [w.path for w"), {"model": model, "before": before, "np": np,
                                                               "print": lambda *a: None})
    assert ns["unmoved"] == ["stem_conv/kernel", "stem_conv/bias"]
    model.compile(optimizer="adam", loss="categorical_crossentropy")    # the fix
    before = [w.numpy() for w in model.trainable_weights]
    model.fit(x, y, epochs=1, verbose=0)
    assert diagnostics.unmoved_weights(model, before) is None


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (0.0, 255.0)])
def test_inputs_for_another_network_are_found_and_right_ones_pass(low: float, high: float) -> None:
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    right = low + pixels / 255 * (high - low)
    assert diagnostics.wrong_input_range(right, (low, high)) is None
    for wrong in (pixels / 255, (right - low) / (high - low) * 2 - 1 if low == 0 else pixels,
                  (right / 127.5 - 1) if low == -1 else right / 255):
        assert "prepare them with the backbone's own preprocess_input" in diagnostics.wrong_input_range(
            wrong, (low, high))
    lesson = lesson_cell("11", "covered = max(0.0,")
    formula = lesson[lesson.index("covered ="):].splitlines()[0].strip()
    assert formula == "covered = max(0.0, (min(batch.max(), high) - max(batch.min(), low)) / (high - low))"
    batch = pixels / 255
    assert eval(formula.split("=", 1)[1], {"batch": batch, "low": low, "high": high, "max": max, "min": min}) == \
        pytest.approx(diagnostics.input_range_covered(batch, (low, high)))


def test_a_shuffling_iterator_and_a_collapsed_model_are_found() -> None:
    assert diagnostics.shuffled_order(type("It", (), {"shuffle": False})()) is None
    assert "shuffle=False" in diagnostics.shuffled_order(type("It", (), {"shuffle": True})())
    true = np.repeat(np.arange(4), 5)
    assert diagnostics.one_class_for_everything(true, true) is None
    assert diagnostics.one_class_for_everything(np.r_[np.zeros(12, int), true[12:]], true).startswith(
        "Class 0 is the answer for 60% of the photos and the true class of 25%")
    assert diagnostics.one_class_for_everything(np.zeros(20, int), np.zeros(20, int)) is None   # it is true
    mostly = np.r_[np.zeros(14, int), np.ones(6, int)]                  # a folder of 70 / 30
    assert diagnostics.one_class_for_everything(mostly, mostly) is None
    assert "the answer for 100% of the photos and the true class of 70%" in diagnostics.one_class_for_everything(
        np.zeros(20, int), mostly)


def test_a_head_at_chance_is_found() -> None:
    assert diagnostics.head_at_chance(0.9, 17) is None
    assert "near chance (1/17 = 0.059)" in diagnostics.head_at_chance(0.07, 17)
    assert diagnostics.head_at_chance(0.95, 2) is None                  # two classes: halfway to 1, not 2/n
    assert "near chance (1/2 = 0.500)" in diagnostics.head_at_chance(0.6, 2)


def test_a_cut_inside_a_block_is_found_and_one_at_a_block_end_passes() -> None:
    assert BLOCK_END.endswith("_add$")
    model = tiny_model()
    training.unfreeze_top(model, "block_1_add")
    assert diagnostics.cut_inside_block(model) is None
    training.unfreeze_top(model, "block_2_conv")                 # half of block 2 trains
    assert diagnostics.cut_inside_block(model) == (
        "Training starts at block_2_project, inside a block (the layer before it, block_2_bn, does not end one): "
        "cut at a block's end, such as the backbone's freeze_through.")
    spec = type("Spec", (), {"block_pattern": r"^block_\d+_bn$"})
    assert diagnostics.cut_inside_block(model, spec.block_pattern) is None     # a block's last layer by the table
    ns = run_cell(lesson_cell("11", "first = next(i for i, layer"), {"model": model, "re": __import__("re"),
                                                                     "models": __import__("helpers.models").models,
                                                                     "spec": type("Spec", (), {"block_pattern": "^$"}),
                                                                     "print": lambda *a: None})
    assert (ns["first"], ns["before_first"]) == (model.layers.index(model.get_layer("block_2_project")), "block_2_bn")
    assert ns["ends_block"] is False
    ns = run_cell(lesson_cell("11", "first = next(i for i, layer"), {**ns, "spec": spec})
    assert ns["ends_block"] is True
    for layer in model.layers:
        layer.trainable = True
    assert diagnostics.cut_inside_block(model) is None           # no cut: everything trains
    training.freeze_base(model)
    assert diagnostics.cut_inside_block(model) is None           # nothing trains


def test_the_checklist_runs_every_check_and_names_what_it_finds(tmp_path) -> None:
    model = tiny_model()
    training.unfreeze_top(model, "block_1_conv", keep_batchnorm_frozen=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    batch = np.random.default_rng(2).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    iterator = type("It", (), {"shuffle": True, "classes": np.array([0, 1, 2, 0]),
                               "__getitem__": lambda self, i: (batch, None), "__len__": lambda self: 3})()
    checks = diagnostics.checklist(model, iterator, ["a", "b", "c"], (-1.0, 1.0), losses=[math.log(3) + 0.5],
                                   predicted=[0, 0, 0, 0], val_accuracy=0.3)
    found = {check.name for check in checks if check.problem}
    assert found == {"BatchNormalization frozen", "learning rate for fine-tuning", "inputs in the backbone's range",
                     "iterator in file order", "cut at a block's end", "training loss below chance's",
                     "answers spread over the classes", "head trained before fine-tuning"}


@pytest.mark.parametrize("backbone", ["inception_v3", "mobilenet_v2", "efficientnet_b0"])
def test_lesson_11s_cut_falls_inside_a_block_of_every_backbone_and_the_check_finds_it(backbone: str) -> None:
    """The lesson's "halfway through the next block" is inside it, and only that cut is flagged."""
    import re

    from helpers import models
    from helpers.backbones import BACKBONES

    spec = BACKBONES[backbone]
    model = models.add_head(spec.build(None, (spec.min_size, spec.min_size, 3)), 3, hidden=8)
    cell = lesson_cell("11", "middle = model.layers[(cut + next_end) // 2].name")
    source = "\n".join(line for line in cell.splitlines() if line.startswith(("cut =", "next_end =", "middle =")))
    ns = run_cell(source, {"model": model, "models": models, "spec": spec, "re": re})
    assert ns["cut"] < models.layer_index(model, ns["middle"]) < ns["next_end"]
    training.unfreeze_top(model, spec.freeze_through)
    assert diagnostics.cut_inside_block(model, spec.block_pattern) is None
    training.unfreeze_top(model, ns["middle"])
    assert "inside a block" in diagnostics.cut_inside_block(model, spec.block_pattern)
