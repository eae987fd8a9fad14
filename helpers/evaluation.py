"""Lesson 07: scoring the test set and classifying single photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.config import Config
from helpers.errors import FlowersError
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


#: The most pixels :func:`load_image_for_model` opens (about 50 megapixels: a large phone photo).
MAX_PIXELS = 50_000_000


def _local_photo(path: Path | str, cfg: Config) -> Path:
    """``path`` as a checked local file; an http(s) URL is downloaded first with ``get_file``.

    Raises:
        FlowersError: for an unreachable URL, a missing path or a folder.
    """
    text = str(path)
    if text.startswith(("http://", "https://")):
        from keras.utils import get_file

        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "photo"
        try:
            return Path(get_file(fname=name, origin=text, cache_dir=str(cfg.build_dir), cache_subdir="photos"))
        except Exception as exc:  # get_file wraps network failures in a bare Exception
            raise FlowersError(f"Could not download the photo from {text} ({exc}). Check the address, "
                               f"or download it yourself and give its path.") from None
    local = Path(text).expanduser()
    if not local.exists():
        raise FlowersError(f"There is no file at {local}: check the path (and the working folder, "
                           f"{Path.cwd()}).")
    if local.is_dir():
        raise FlowersError(f"{local} is a folder: give the path of one image file in it.")
    return local


def load_image_for_model(path: Path | str, cfg: Config) -> np.ndarray:
    """Read any image file (or http(s) URL) as one preprocessed batch of shape (1, size, size, 3).

    The photo is turned upright by its EXIF orientation (phones store it that
    way). PNG with transparency, greyscale, 16-bit, palette and CMYK images
    are converted to RGB (transparent areas become white). Like the
    generators, it crops the centred square of the photo and resizes it to
    the network's input size.

    Raises:
        FlowersError: for a missing path, a folder, a file that is not an
            image, an image over :data:`MAX_PIXELS`, or an unreachable URL.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from helpers.models import backbone_spec

    local = _local_photo(path, cfg)
    try:
        with Image.open(local) as im:
            if im.width * im.height > MAX_PIXELS:
                raise FlowersError(f"{local} is {im.width:,} x {im.height:,} pixels, more than the "
                                   f"{MAX_PIXELS:,} this course opens: make a smaller copy first.")
            im.load()
            im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError:
        raise FlowersError(f"{local} is far larger than the {MAX_PIXELS:,} pixels this course opens: "
                           f"make a smaller copy first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise FlowersError(f"{local} is not an image file that can be read ({type(exc).__name__}); "
                           f"give a JPEG, PNG or similar photo.") from None
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale: 0..65535, not 0..255
        im = Image.fromarray((np.asarray(im, dtype="float64") / 257.0).clip(0, 255).astype("uint8"), "L")
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


def predict_file(model, path: Path | str, cfg: Config, names: tuple[str, ...], top: int = 3) -> list[tuple[str, float]]:  # noqa: ANN001
    """The ``top`` most likely species for one image file, with their probabilities."""
    # Calling the model directly (not predict) avoids re-tracing a function per file.
    probabilities = np.asarray(model(load_image_for_model(path, cfg), training=False))[0]
    order = np.argsort(-probabilities)[:top]
    return [(names[i], float(probabilities[i])) for i in order]
