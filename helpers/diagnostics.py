"""Lesson 11: checks for the usual ways fine-tuning goes wrong, each one sentence when it finds a problem.

Lesson 11 reproduces each failure and writes its check inline; this module
packages the checks so that a learner can run them on their own training
(:func:`checklist`), and ``tests/test_diagnostics.py`` compares them with the
lesson's cells. Every check returns ``None`` when it finds nothing, otherwise
one sentence that names the problem and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from keras import layers

from helpers.heatmaps import pooling_layer
from helpers.models import BLOCK_END
from helpers.training import FINETUNE_LEARNING_RATE

#: A learning rate above this, with base layers training, is lesson 11's first failure: lesson 06's rate
#: (at 1e-3, lesson 11's one-epoch run already lost accuracy on the real photos).
HIGH_FINETUNE_RATE = FINETUNE_LEARNING_RATE
#: Inputs that cover less than this share of the backbone's expected range were prepared for another network.
MIN_RANGE_COVERED = 0.6


def trainable_batchnorm(model) -> str | None:
    """BatchNormalization layers left trainable (they would normalise with each batch's statistics)."""
    names = [layer.name for layer in model.layers if isinstance(layer, layers.BatchNormalization) and layer.trainable]
    if not names:
        return None
    return (f"{len(names)} BatchNormalization layers are trainable ({', '.join(names[:3])}"
            f"{', ...' if len(names) > 3 else ''}): keep them frozen, as lesson 06 does.")


def base_is_training(model) -> bool:
    """Whether a layer before the head's pooling layer (:func:`helpers.heatmaps.pooling_layer`) trains."""
    pool = model.layers.index(pooling_layer(model))
    return any(layer.trainable and layer.trainable_weights for layer in model.layers[:pool])


def learning_rate_too_high(model, limit: float = HIGH_FINETUNE_RATE) -> str | None:
    """A compiled learning rate above ``limit`` while layers of the pretrained base train."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not base_is_training(model):
        return None
    rate = float(np.asarray(optimizer.learning_rate))
    if rate <= limit * (1 + 1e-6):                                  # the optimizer keeps it in float32
        return None
    return (f"The learning rate is {rate:g} while base layers train: fine-tune at {limit:g} or lower, "
            f"lesson 06's rate.")


def loss_above_chance(losses: Sequence[float], n_classes: int) -> str | None:
    """A training loss above log(n_classes), the loss of a model that answers every class alike."""
    worst = max(losses)
    if worst <= math.log(n_classes):
        return None
    return (f"The training loss reached {worst:.2f}, above log({n_classes}) = {math.log(n_classes):.2f}, the loss "
            f"of knowing nothing: the steps are too large (lower the learning rate) or the inputs are wrong.")


def unmoved_weights(model, before: Sequence[np.ndarray]) -> str | None:
    """Trainable weights that training did not change (``before``: ``model.trainable_weights`` copied before it)."""
    now = model.trainable_weights
    if len(now) != len(before):
        return (f"The model has {len(now)} trainable weights now and had {len(before)} when the copy was taken: "
                f"take the copy after setting trainable and compiling.")
    unmoved = [w.path for w, b in zip(now, before) if np.array_equal(w.numpy(), b)]
    if not unmoved:
        return None
    return (f"{len(unmoved)} of {len(now)} trainable weights did not move ({unmoved[0]}, ...): compile the "
            f"model again after changing trainable.")


def input_range_covered(batch: np.ndarray, input_range: tuple[float, float]) -> float:
    """The share of the backbone's expected input range that a batch's values span (1.0: all of it)."""
    low, high = input_range
    return max(0.0, (min(float(batch.max()), high) - max(float(batch.min()), low)) / (high - low))


def wrong_input_range(batch: np.ndarray, input_range: tuple[float, float]) -> str | None:
    """A batch outside the backbone's input range, or squeezed into a small part of it."""
    low, high = input_range
    margin = 0.01 * (high - low)
    covered = input_range_covered(batch, input_range)
    if batch.min() >= low - margin and batch.max() <= high + margin and covered >= MIN_RANGE_COVERED:
        return None
    return (f"The inputs run from {batch.min():.3g} to {batch.max():.3g}, and the backbone expects {low:g} to "
            f"{high:g}: prepare them with the backbone's own preprocess_input, and nothing else.")


def shuffled_order(iterator) -> str | None:
    """An iterator that shuffles: its predictions do not line up with its ``.classes``."""
    if not getattr(iterator, "shuffle", False):
        return None
    return ("The iterator shuffles, so its predictions come in another order than its .classes: make the one "
            "you predict on with shuffle=False.")


def head_at_chance(val_accuracy: float, n_classes: int) -> str | None:
    """A model whose validation accuracy is near chance: below twice chance, or halfway to 1 for few classes."""
    if val_accuracy >= min(2 / n_classes, (1 + 1 / n_classes) / 2):
        return None
    return (f"The validation accuracy is {val_accuracy:.3f}, near chance (1/{n_classes} = {1 / n_classes:.3f}): "
            f"train the head on the frozen base first (lesson 05), then fine-tune.")


def one_class_for_everything(predicted: Sequence[int], true: Sequence[int]) -> str | None:
    """One class given as the answer for at least half the photos, far more often than it is true.

    Far more: twice its true share, or halfway from its true share to every photo
    (so a collapse onto a class that holds most photos is found too).
    """
    predicted, true = np.asarray(predicted), np.asarray(true)
    top = int(np.bincount(predicted).argmax())
    share, true_share = float(np.mean(predicted == top)), float(np.mean(true == top))
    if share < 0.5 or share <= true_share or share < min(2 * true_share, (1 + true_share) / 2):
        return None
    return (f"Class {top} is the answer for {share:.0%} of the photos and the true class of {true_share:.0%}: "
            f"the model has collapsed (a learning rate too high, or wrong inputs).")


def cut_inside_block(model, block_pattern: str | None = None) -> str | None:
    """A fine-tuning cut inside a block: the layer before the first one that trains ends none.

    A block ends at an ``_add`` or ``mixed`` layer (:data:`helpers.models.BLOCK_END`) or, with
    ``block_pattern`` (the backbone's, lesson 03's block table), at a layer it matches.
    """
    first = next((i for i, layer in enumerate(model.layers) if layer.trainable and layer.trainable_weights), None)
    if first is None or not base_is_training(model):
        return None
    if not any(layer.weights and not layer.trainable for layer in model.layers[:first]):
        return None                                            # nothing before it is frozen: no cut at all
    before = model.layers[first - 1].name
    if re.search(BLOCK_END, before) or (block_pattern and re.match(block_pattern, before)):
        return None
    return (f"Training starts at {model.layers[first].name}, inside a block (the layer before it, {before}, "
            f"does not end one): cut at a block's end, such as the backbone's freeze_through.")


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, and the problem found (``None``: none)."""

    name: str
    problem: str | None


def checklist(model, iterator, class_names: Sequence[str], input_range: tuple[float, float],
              losses: Sequence[float] | None = None, before: Sequence[np.ndarray] | None = None,
              predicted: Sequence[int] | None = None, val_accuracy: float | None = None,
              block_pattern: str | None = None) -> list[Check]:
    """Every check lesson 11 teaches that can be run on ``model`` and the iterator it is scored on.

    ``losses`` (the training loss, batch by batch), ``before`` (the trainable
    weights copied before training), ``predicted`` (answers for the
    iterator's photos, in its order) and ``val_accuracy`` (the model's
    validation accuracy before fine-tuning) add the checks that need them;
    ``block_pattern`` (the backbone's) marks more block ends for the cut's check.
    """
    spread = sorted({0, len(iterator) // 2, len(iterator) - 1})          # batches from several classes
    batch = np.concatenate([np.asarray(iterator[i][0]) for i in spread])
    checks = [Check("BatchNormalization frozen", trainable_batchnorm(model)),
              Check("learning rate for fine-tuning", learning_rate_too_high(model)),
              Check("inputs in the backbone's range", wrong_input_range(batch, input_range)),
              Check("iterator in file order", shuffled_order(iterator)),
              Check("cut at a block's end", cut_inside_block(model, block_pattern))]
    if losses is not None:
        checks.append(Check("training loss below chance's", loss_above_chance(losses, len(class_names))))
    if before is not None:
        checks.append(Check("every trainable weight moved", unmoved_weights(model, before)))
    if val_accuracy is not None:
        checks.append(Check("head trained before fine-tuning", head_at_chance(val_accuracy, len(class_names))))
    if predicted is not None:
        checks.append(Check("answers spread over the classes", one_class_for_everything(predicted, iterator.classes)))
    return checks
