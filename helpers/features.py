"""Lesson 08: cached bottleneck features, the fast way to train the head (lesson 09 trains on them too).

The frozen base computes the same features for an image every epoch. Without
augmentation, we can compute them **once**, keep them as arrays, and train the
head on the arrays: an epoch then costs a few dense layers instead of the
whole network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import Model, layers

from helpers.models import HEAD_DENSE_NAMES, HEAD_DROPOUT, POOL_NAME, head_layers
from helpers.training import LABEL_SMOOTHING, PATIENCE, best_epoch


def feature_extractor(base):
    """The base followed by global average pooling: one vector per image (2,048 for InceptionV3)."""
    return Model(base.input, layers.GlobalAveragePooling2D(name=POOL_NAME)(base.output),
                 name=f"{base.name}_features")


@dataclass
class Features:
    """Cached features of one split, in the unshuffled iterator's file order."""

    x: np.ndarray
    y: np.ndarray
    filenames: list[str]
    seconds: float


def extract_features(extractor, iterator, mirror: bool = False) -> Features:
    """Run every image of an unshuffled, unaugmented iterator through ``extractor`` once.

    With ``mirror``, each image is mirrored first (``batch[:, :, ::-1]``, lesson
    08's ``extract``): the other version of a training photo that the course's
    augmentation shows.

    Raises:
        ValueError: if the iterator shuffles (features and labels would not line up).
    """
    if getattr(iterator, "shuffle", False):
        raise ValueError("extract features from an iterator with shuffle=False")
    start = time.perf_counter()
    if mirror:
        x = np.concatenate([extractor.predict_on_batch(iterator[i][0][:, :, ::-1]) for i in range(len(iterator))])
    else:
        x = extractor.predict(iterator, verbose=0)
    n_classes = len(iterator.class_indices)
    y = np.eye(n_classes, dtype="float32")[np.asarray(iterator.classes)]
    return Features(x, y, list(iterator.filenames), time.perf_counter() - start)


def feature_head(n_features: int, n_classes: int, hidden: int = 1024, dropout: float | None = None):
    """The head of lesson 04 without its pooling layer, for pooled feature vectors.

    It is built from the same layers as :func:`helpers.models.add_head`
    (:func:`helpers.models.head_layers`): the Dense layers have the same names
    and shapes, so their weights can be copied over, and the same Dropout
    (default: ``models.HEAD_DROPOUT``).
    """
    dropout = HEAD_DROPOUT if dropout is None else dropout
    return keras.Sequential([keras.Input((n_features,)), *head_layers(n_classes, hidden, dropout)],
                            name="feature_head")


def copy_head_weights(head, model) -> None:
    """Put a trained :func:`feature_head`'s weights into the full model's head.

    The full model then predicts exactly what the feature head predicts on
    cached features, and fine-tuning can start from it.
    """
    for name in HEAD_DENSE_NAMES:
        model.get_layer(name).set_weights(head.get_layer(name).get_weights())


#: Lesson 05's probe: its Dropout rate and EarlyStopping patience (it trains on plain cross-entropy).
PROBE_DROPOUT = 0.2
PROBE_PATIENCE = 20


def probe_head(n_features: int, n_classes: int):
    """Lesson 05's linear probe: Dropout and one softmax layer on the pooled features."""
    return keras.Sequential([keras.Input((n_features,)), layers.Dropout(PROBE_DROPOUT),
                             layers.Dense(n_classes, activation="softmax")], name="probe_head")


@dataclass
class HeadRun:
    """A head trained on cached features: the model at its kept epoch, and its history."""

    head: object
    history: dict[str, list[float]]

    @property
    def kept_epoch(self) -> int:
        """The index of the epoch EarlyStopping restored (the lowest validation loss)."""
        return best_epoch(self.history)


def fit_on_features(head, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                    epochs: int, class_weight: dict[int, float] | None = None) -> HeadRun:
    """Train ``head`` on cached features as lessons 05 and 08 do; the best epoch (validation loss) is kept.

    A :func:`probe_head` trains as lesson 05's probe (plain cross-entropy,
    patience :data:`PROBE_PATIENCE`); any other head as lesson 08's
    ``train_head`` (label smoothing, patience ``training.PATIENCE``). Both use
    Adam at 1e-3 and batches of 32. ``class_weight`` goes to ``fit`` as it is.
    """
    probe = head.name == "probe_head"
    loss = (keras.losses.CategoricalCrossentropy() if probe
            else keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING))
    head.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss, metrics=["accuracy"])
    history = head.fit(*train, validation_data=validation, epochs=epochs, batch_size=32, verbose=0,
                       class_weight=class_weight,
                       callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True,
                                                                patience=PROBE_PATIENCE if probe else PATIENCE)])
    return HeadRun(head, dict(history.history))
