"""Lesson 07: scoring the test set and classifying single photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.config import Config
from helpers.generators import KEEP_ASPECT_RATIO


@dataclass
class TestPredictions:
    """Predictions for every test image, in the (unshuffled) generator's file order."""

    probabilities: np.ndarray
    true: np.ndarray
    filenames: list[str]

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class of each image."""
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The probability the model gave its predicted class."""
        return self.probabilities.max(axis=1)


def predict_iterator(model, iterator) -> TestPredictions:  # noqa: ANN001
    """Predict every image of an unshuffled iterator (e.g. the test generator).

    Raises:
        ValueError: if the iterator shuffles, since predictions would not line up with ``.classes``.
    """
    if iterator.shuffle:
        raise ValueError("predict on an iterator with shuffle=False, or labels will not line up")
    probabilities = model.predict(iterator, verbose=0)
    return TestPredictions(probabilities, np.asarray(iterator.classes), list(iterator.filenames))


def confusion(true: np.ndarray, predicted: np.ndarray, n_classes: int = 17) -> np.ndarray:
    """The confusion matrix: rows are true classes, columns predicted ones."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(true, predicted, labels=list(range(n_classes)))


def accuracy_from_confusion(matrix: np.ndarray) -> float:
    """Correct predictions (the diagonal) over all predictions."""
    return float(np.trace(matrix) / matrix.sum())


def per_class_report(true: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> str:
    """Precision, recall and F1 per species (scikit-learn's ``classification_report``)."""
    from sklearn.metrics import classification_report

    return classification_report(true, predicted, labels=list(range(len(names))),
                                 target_names=list(names), digits=3, zero_division=0)


def misclassified(preds: TestPredictions) -> np.ndarray:
    """Indices of the wrongly classified images, most confident mistakes first."""
    wrong = np.flatnonzero(preds.predicted != preds.true)
    return wrong[np.argsort(-preds.confidence[wrong], kind="stable")]


def load_image_for_model(path: Path, cfg: Config) -> np.ndarray:
    """Read any image file as one preprocessed batch of shape (1, size, size, 3).

    PNG with transparency, greyscale, palette and CMYK images are converted to
    RGB (transparent areas become white). Like the generators, it crops the
    centred square of the photo and resizes it to the network's input size.
    """
    from PIL import Image

    from helpers.models import backbone_spec

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba)
        rgb = im.convert("RGB")
        box = None
        if KEEP_ASPECT_RATIO:  # the centred square the generators crop (resized as Keras does it)
            side = min(rgb.size)
            left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
            box = (left, top, left + side, top + side)
        rgb = rgb.resize((cfg.image_size, cfg.image_size), Image.Resampling.BILINEAR, box=box)
    x = np.asarray(rgb, dtype="float32")[None]
    return backbone_spec(cfg).preprocess(x)


def predict_file(model, path: Path, cfg: Config, names: tuple[str, ...], top: int = 3) -> list[tuple[str, float]]:  # noqa: ANN001
    """The ``top`` most likely species for one image file, with their probabilities."""
    # Calling the model directly (not predict) avoids re-tracing a function per file.
    probabilities = np.asarray(model(load_image_for_model(path, cfg), training=False))[0]
    order = np.argsort(-probabilities)[:top]
    return [(names[i], float(probabilities[i])) for i in order]
