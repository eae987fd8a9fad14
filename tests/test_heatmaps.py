"""Grad-CAM (helpers.heatmaps, lesson 10) points where the evidence is, not only somewhere.

A tiny network learns images whose class is the colour of one patch
(helpers.synthetic.patch_images), next to an equally bright grey patch that
says nothing. Where Grad-CAM's peak falls is then checkable: in the coloured
patch. The same check on the untrained network shows that it can fail.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import heatmaps
from helpers.models import OUTPUT_NAME, POOL_NAME
from helpers.synthetic import PATCH_COLOURS, patch_images

SIZE = 64


def tiny_network() -> keras.Model:
    """Three convolutions, then lesson 04's pooling and output layer names, as a flat functional model."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D(name=POOL_NAME)(x)
    return keras.Model(inputs, layers.Dense(len(PATCH_COLOURS), activation="softmax", name=OUTPUT_NAME)(x))


def in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether each (row, column) lies inside its (row, column, end row, end column) box."""
    r, c = points[:, 0], points[:, 1]
    return (boxes[:, 0] <= r) & (r < boxes[:, 2]) & (boxes[:, 1] <= c) & (c < boxes[:, 3])


def peak_hits(model: keras.Model, images) -> float:
    """The share of images whose Grad-CAM peak (true class) falls inside the coloured patch."""
    maps = heatmaps.upsample(heatmaps.gradcam(model, images.x, images.y), SIZE)
    return float(in_boxes(heatmaps.peaks(maps), images.boxes).mean())


@pytest.fixture(scope="module")
def trained() -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(0)
    untrained = tiny_network()
    model = keras.models.clone_model(untrained)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = patch_images(600, seed=1, size=SIZE)
    model.fit(train.x, train.y, epochs=12, batch_size=32, verbose=0)
    return model, untrained


def test_the_grad_cam_peak_falls_inside_the_patch_that_decides_the_class(trained) -> None:
    model, untrained = trained
    test = patch_images(200, seed=2, size=SIZE)
    assert model.evaluate(test.x, test.y, verbose=0)[1] > 0.95      # it learned the colours
    hits = peak_hits(model, test)
    print(f"Grad-CAM peak inside the patch on {hits:.1%} of {len(test.y)} test images")
    assert hits >= 0.9
    # The check can fail: the untrained network's peaks land in the patch (3.5% of the image) by chance only.
    assert peak_hits(untrained, test) < 0.5


def test_the_map_for_another_class_does_not_point_at_the_patch(trained) -> None:
    model, _ = trained
    test = patch_images(200, seed=3, size=SIZE)
    other = (test.y + 1) % len(PATCH_COLOURS)
    maps = heatmaps.upsample(heatmaps.gradcam(model, test.x, other), SIZE)
    assert in_boxes(heatmaps.peaks(maps), test.boxes).mean() < 0.5


def test_maps_have_the_feature_maps_shape_peak_at_one_and_do_not_change_the_model(trained) -> None:
    model, _ = trained
    test = patch_images(8, seed=4, size=SIZE)
    before = [w.copy() for w in model.get_weights()]
    maps = heatmaps.gradcam(model, test.x, test.y)
    assert maps.shape == (8, SIZE // 4, SIZE // 4)
    assert maps.min() >= 0
    assert np.allclose(maps.max(axis=(1, 2)), 1.0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_map_with_no_positive_evidence_is_all_zeros_not_nan() -> None:
    keras.utils.set_random_seed(0)
    model = tiny_network()
    out = model.get_layer(OUTPUT_NAME)
    out.kernel.assign(np.zeros(out.kernel.shape, dtype="float32"))     # no channel raises any class's score
    maps = heatmaps.gradcam(model, patch_images(2, seed=5, size=SIZE).x, [0, 1])
    assert np.array_equal(maps, np.zeros_like(maps))


def test_patch_images_are_repeatable_and_keep_the_two_patches_apart() -> None:
    a, b = patch_images(50, seed=9), patch_images(50, seed=9)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and np.array_equal(a.boxes, b.boxes)
    for x, y, (r, c, r2, c2) in zip(a.x, a.y, a.boxes):
        assert np.allclose(x[r:r2, c:c2], PATCH_COLOURS[y])          # the class is the patch's colour
        assert (np.isclose(x, 0.95).all(axis=2)).sum() == 144        # one whole grey patch, not covered


def test_on_a_linear_probe_grad_cam_is_the_class_activation_map() -> None:
    """Pooling then one Dense layer (lesson 05's probe): the map is ReLU(feature map . the class's weights)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIZE, SIZE, 3))
    feature_map = layers.Conv2D(8, 5, strides=4, padding="same", activation="relu")(inputs)
    pooled = layers.GlobalAveragePooling2D()(feature_map)                   # Keras' own name, as in lesson 05
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(layers.Dropout(0.2)(pooled)))
    images = patch_images(4, seed=6, size=SIZE)
    classes = np.array([0, 1, 2, 1])
    activations = keras.Model(inputs, feature_map)(images.x).numpy()
    cam = np.maximum(np.einsum("nhwc,cn->nhw", activations, model.layers[-1].kernel.numpy()[:, classes]), 0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    assert (peak > 0).sum() >= 2, "at least two maps with evidence, so the comparison means something"
    assert np.allclose(heatmaps.gradcam(model, images.x, classes), cam, atol=1e-5)


def test_on_efficientnet_the_map_comes_from_the_heads_pooling_not_a_squeeze_block() -> None:
    """EfficientNet's blocks pool too (squeeze-and-excitation): the feature map is the last pooling layer's input."""
    from helpers.backbones import BACKBONES
    from helpers.models import add_head

    keras.utils.set_random_seed(0)
    base = BACKBONES["efficientnet_b0"].build(None, (96, 96, 3))
    model = add_head(base, 3, hidden=8)
    pools = [layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D)]
    assert len(pools) > 1 and heatmaps.pooling_layer(model) is pools[-1]
    maps = heatmaps.gradcam(model, np.zeros((2, 96, 96, 3), "float32") + 100.0, [0, 1])
    assert maps.shape == (2, *base.output.shape[1:3]) == (2, 3, 3)
