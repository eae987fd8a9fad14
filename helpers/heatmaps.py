"""Lesson 10: Grad-CAM, a map of where in a photo a model found the evidence for a class.

Lesson 10 writes :func:`gradcam` inline and explains it; this module packages
it for later lessons and for ``tests/test_heatmaps.py``, which checks on
synthetic images (:func:`helpers.synthetic.patch_images`) that its peak falls
where the evidence really is. It works on any model built like lesson 04's (and
lesson 05's saved probe): a flat graph in which the last feature map feeds a
``GlobalAveragePooling2D`` layer and the last layer is the Dense layer of
class scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf


def pooling_layer(model):
    """The model's last ``GlobalAveragePooling2D`` layer: the head's (EfficientNet has more inside its blocks)."""
    return next(layer for layer in reversed(model.layers) if isinstance(layer, keras.layers.GlobalAveragePooling2D))


def gradcam(model, batch: np.ndarray, class_indices: Sequence[int], feature_layer=None) -> np.ndarray:
    """Grad-CAM maps of ``class_indices`` (one per image) for a preprocessed ``batch``: (n, h, w), each 0..1.

    The feature map is the input of the head's pooling layer
    (:func:`pooling_layer`), or ``feature_layer``'s output when given (an
    earlier layer of the same flat model). ``h`` and ``w`` are its height and
    width (9 x 9 for MobileNetV2 at 288 px). A map is the feature map's
    channels weighted by the mean gradient of the class's score (before the
    softmax) over each channel, kept where positive and scaled so that its
    peak is 1; a map with no positive part is all zeros.
    """
    output_layer = model.layers[-1]
    feature_map_out = pooling_layer(model).input if feature_layer is None else feature_layer.output
    grad_model = keras.Model(model.input, [feature_map_out, output_layer.input])
    with tf.GradientTape() as tape:
        feature_map, features = grad_model(batch, training=False)
        logits = tf.matmul(tf.cast(features, output_layer.kernel.dtype), output_layer.kernel) + output_layer.bias
        scores = tf.gather(logits, np.asarray(class_indices), axis=1, batch_dims=1)
    gradients = tape.gradient(scores, feature_map)
    weights = tf.reduce_mean(tf.cast(gradients, "float32"), axis=(1, 2))                # one per channel
    maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", tf.cast(feature_map, "float32"), weights)).numpy()
    highest = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, highest, out=np.zeros_like(maps), where=highest > 0)


def upsample(maps: np.ndarray, size: int) -> np.ndarray:
    """Maps of shape (n, h, w) resized bilinearly to (n, size, size), to lie over the photos."""
    return tf.image.resize(np.asarray(maps)[..., None], (size, size), method="bilinear").numpy()[..., 0]


def peaks(maps: np.ndarray) -> np.ndarray:
    """The (row, column) of each map's highest value: shape (n, 2)."""
    maps = np.asarray(maps)
    flat = maps.reshape(len(maps), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)
