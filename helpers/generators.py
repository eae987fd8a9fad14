"""Lesson 02's input pipeline: ``ImageDataGenerator.flow_from_directory``.

In Keras 3, ``ImageDataGenerator`` lives only in
``tensorflow.keras.preprocessing.image`` (it is a legacy API, kept for code
like the original tutorial; lesson 08 shows the modern ``tf.data``
pipeline). Its rotation, shift, shear and zoom need SciPy.

Only the training images are augmented. Validation and test images get the
same preprocessing and nothing else, so their scores measure the real photos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import Sequential, layers
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from helpers.config import Config
from helpers.errors import FlowersError
from helpers.inputs import INTERPOLATION, KEEP_ASPECT_RATIO
from helpers.models import backbone_spec

#: The training augmentation: mirroring only. Lesson 02 measures why the original
#: tutorial's rotation, shifts, shear and zoom are left out.
AUGMENTATION: dict[str, object] = dict(
    horizontal_flip=True,     # mirror left-right half of the time
)

def preprocess_function(cfg: Config) -> Callable[[np.ndarray], np.ndarray]:
    """The backbone's ``preprocess_input`` (InceptionV3: pixels 0..255 -> -1..1)."""
    return backbone_spec(cfg).preprocess


def training_datagen(cfg: Config):
    """An ``ImageDataGenerator`` that preprocesses and augments (training set only)."""
    return ImageDataGenerator(preprocessing_function=preprocess_function(cfg), **AUGMENTATION)


def evaluation_datagen(cfg: Config):
    """An ``ImageDataGenerator`` that only preprocesses (validation and test sets)."""
    return ImageDataGenerator(preprocessing_function=preprocess_function(cfg))


@dataclass
class Generators:
    """The training, validation and test inputs of a split: ``DirectoryIterator``s, or ``tf.data`` datasets.

    :func:`make_generators` fills it with iterators; lesson 08 fills it with
    its ``tf.data`` datasets, for :func:`helpers.training.fit_phase`.
    """

    train: object
    validation: object
    test: object

    def all(self) -> dict[str, object]:
        """``{"train": ..., "validation": ..., "test": ...}``."""
        return {"train": self.train, "validation": self.validation, "test": self.test}


def flow_settings(cfg: Config) -> dict[str, object]:
    """``flow_from_directory``'s settings for every iterator of the course (lesson 02): size, batch, labels, crop.

    One-hot labels (``class_mode="categorical"``), and the centred square of
    each photo resized to the input side (:mod:`helpers.inputs`); add
    ``shuffle`` (and ``seed``) for the iterator at hand.
    """
    return dict(target_size=(cfg.image_size, cfg.image_size), batch_size=cfg.batch_size, class_mode="categorical",
                interpolation=INTERPOLATION, keep_aspect_ratio=KEEP_ASPECT_RATIO)


def make_generators(cfg: Config, folder: Path, workers: int = 2, augment_train: bool = True) -> Generators:
    """Build the training, validation and test iterators over the split in ``folder``.

    - training: augmented, shuffled (seeded);
    - validation: preprocessing only, shuffled order does not matter, so not shuffled;
    - test: preprocessing only, ``shuffle=False`` so predictions line up with ``.classes``.

    ``workers`` threads load batches in parallel while ``model.fit`` trains
    (Keras 3 reads it from the iterator, not from ``fit``). When
    ``cfg.deterministic`` is on, the augmented training iterator uses one:
    its random flips come from NumPy's global generator, reseeded batch by
    batch, and two threads would share it in an order that changes from run
    to run. Under op determinism Keras then loads each batch between training
    steps, not ahead of them; CONTRIBUTING gives what that cost. With
    ``augment_train=False`` the training iterator is plain and unshuffled too,
    for computing cached features (lesson 08).

    Raises:
        FlowersError: if the three iterators disagree on ``class_indices``.
    """
    common = flow_settings(cfg)
    folder = Path(folder)
    if augment_train:
        train = training_datagen(cfg).flow_from_directory(folder / "train", shuffle=True, seed=cfg.training_seed,
                                                          **common)
    else:
        train = evaluation_datagen(cfg).flow_from_directory(folder / "train", shuffle=False, **common)
    validation = evaluation_datagen(cfg).flow_from_directory(folder / "validation", shuffle=False, **common)
    test = evaluation_datagen(cfg).flow_from_directory(folder / "test", shuffle=False, **common)
    if not train.class_indices == validation.class_indices == test.class_indices:
        raise FlowersError(f"The train, validation and test folders of {folder} do not hold the same class "
                           f"folders, so their classes would be numbered differently. Run lesson 01 again "
                           f"to rebuild the split.")
    for it in (train, validation, test):
        it.workers = workers
    if cfg.deterministic and augment_train:
        # The flips draw from NumPy's one global generator, which the iterator reseeds per batch:
        # with two threads, which batch gets which draws changes from run to run.
        train.workers = 1
    return Generators(train, validation, test)


def steps_for(samples: int, batch_size: int) -> int:
    """Batches in one pass over ``samples`` images: ``ceil(samples / batch_size)``."""
    return math.ceil(samples / batch_size)


def undo_preprocessing(x: np.ndarray, input_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Turn a preprocessed image back into displayable 0..1 colours.

    ``input_range`` is what the backbone's ``preprocess_input`` produces:
    -1..1 for InceptionV3 and MobileNetV2 (the default), 0..255 for EfficientNet.
    """
    low, high = input_range
    return np.clip((np.asarray(x, dtype="float32") - low) / (high - low), 0.0, 1.0)


# --------------------------------------------------------------------------- tf.data (lesson 08)


def augmentation_layers(seed: int | None = None, settings: dict[str, object] | None = None) -> Sequential:
    """The ``tf.data`` pipeline's augmentation, built from ``ImageDataGenerator`` settings.

    ``settings`` defaults to :data:`AUGMENTATION`, so both pipelines augment
    alike from one constant. Each setting becomes its Keras preprocessing layer:

    - ``horizontal_flip`` / ``vertical_flip`` -> ``RandomFlip``;
    - ``rotation_range`` (degrees) -> ``RandomRotation`` (a fraction of a full turn);
    - ``width_shift_range`` / ``height_shift_range`` (fractions) -> ``RandomTranslation``;
    - ``zoom_range`` (``z`` or ``[low, high]``; below 1 zooms in) -> ``RandomZoom`` (negative zooms in).

    Raises:
        FlowersError: for a setting with no layer here (``shear_range``, say).
    """
    settings = AUGMENTATION if settings is None else settings
    steps = []
    flips = [mode for key, mode in (("horizontal_flip", "horizontal"), ("vertical_flip", "vertical"))
             if settings.get(key)]
    if flips:
        steps.append(layers.RandomFlip("horizontal_and_vertical" if len(flips) == 2 else flips[0], seed=seed))
    if settings.get("rotation_range"):
        steps.append(layers.RandomRotation(float(settings["rotation_range"]) / 360.0, fill_mode="nearest",
                                           seed=seed))
    if settings.get("width_shift_range") or settings.get("height_shift_range"):
        steps.append(layers.RandomTranslation(float(settings.get("height_shift_range", 0.0)),
                                              float(settings.get("width_shift_range", 0.0)),
                                              fill_mode="nearest", seed=seed))
    if settings.get("zoom_range"):
        zoom = settings["zoom_range"]
        low, high = (1 - zoom, 1 + zoom) if isinstance(zoom, (int, float)) else zoom
        steps.append(layers.RandomZoom((low - 1.0, high - 1.0), fill_mode="nearest", seed=seed))
    unknown = sorted(set(settings) - {"horizontal_flip", "vertical_flip", "rotation_range", "width_shift_range",
                                      "height_shift_range", "zoom_range"})
    if unknown:
        raise FlowersError(f"augmentation_layers has no Keras layer for {unknown}; add one, or drop the setting.")
    return Sequential(steps, name="augmentation")


def make_datasets(cfg: Config, folder: Path, augment: bool = True, cache: bool = True) -> dict[str, object]:
    """The modern pipeline: ``image_dataset_from_directory`` + cache + shuffle + augmentation layers + prefetch.

    Returns ``{"train": ..., "validation": ..., "test": ...}`` ``tf.data.Dataset``s of
    batches of ``(preprocessed images, one-hot labels)``, in the same class
    order as the generators (``dataset.class_names``). Each split is read one
    decoded, resized image at a time (``batch_size=None``), in file order, and
    kept in memory after its first pass (``cache``). Only then is the training
    set shuffled, with a buffer as large as the set and a new order every
    epoch, batched and augmented; so every epoch serves every photo once, in a
    new order, in new batches, with new random flips. (TensorFlow's
    ``Dataset.cache`` documentation: a cache produces the same elements in
    every pass, so shuffle *after* it.) Validation and test sets are neither
    shuffled nor augmented.

    Read a cached dataset in whole passes (``fit``, ``predict``, a ``for``
    loop to the end). The same documentation says that a cache whose first
    pass was not read to the end may not be used by later passes; what that
    did on this course's machine is in CONTRIBUTING ("Measurements behind the
    code"). Peek at a batch of an uncached copy (``cache=False``) instead.
    """
    preprocess = preprocess_function(cfg)
    augmenter = augmentation_layers(cfg.training_seed) if augment else None
    size = (cfg.image_size, cfg.image_size)
    out: dict[str, object] = {}
    for part in ("train", "validation", "test"):
        training = part == "train"
        ds = keras.utils.image_dataset_from_directory(
            Path(folder) / part, label_mode="categorical", image_size=size, batch_size=None,
            shuffle=False, interpolation=INTERPOLATION, crop_to_aspect_ratio=KEEP_ASPECT_RATIO, verbose=False)
        class_names, n_images = ds.class_names, len(ds.file_paths)
        if cache:
            ds = ds.cache()
        if training:
            ds = ds.shuffle(n_images, seed=cfg.training_seed, reshuffle_each_iteration=True)
        ds = ds.batch(cfg.batch_size)
        if training and augmenter is not None:
            ds = ds.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.map(lambda x, y: (preprocess(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)
        ds.class_names = class_names
        out[part] = ds
    return out
