"""Lesson 08: cached bottleneck features, the fast way to train the head.

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


def extract_features(extractor, iterator) -> Features:
    """Run every image of an unshuffled, unaugmented iterator through ``extractor`` once.

    Raises:
        ValueError: if the iterator shuffles (features and labels would not line up).
    """
    if getattr(iterator, "shuffle", False):
        raise ValueError("extract features from an iterator with shuffle=False")
    start = time.perf_counter()
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
