"""Lesson 07: classifying single photo files of any shape, format or origin."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from helpers.config import Config
from helpers.errors import FlowersError
from helpers.images import PhotoError, open_photo
from helpers.inputs import INTERPOLATION, PIL_RESAMPLING, crop_box
from helpers.models import backbone_spec


def _local_photo(path: Path | str, cfg: Config) -> Path:
    """``path`` as a checked local file; an http(s) URL is downloaded first with ``get_file``.

    Raises:
        FlowersError: for an unreachable URL, a missing path or a folder.
    """
    text = str(path)
    if text.startswith(("http://", "https://")):
        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "photo"
        try:
            return Path(keras.utils.get_file(fname=name, origin=text, cache_dir=str(cfg.build_dir),
                                             cache_subdir="photos"))
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

    :func:`helpers.images.open_photo` opens it, the one check every photo of
    the course goes through: turned upright by its EXIF orientation (phones
    store it that way); PNG with transparency, greyscale, 16-bit, palette and
    CMYK images converted to RGB (transparent areas become white); pipes,
    image bombs and pixel modes with no agreed range (32-bit float) refused.
    Like the generators, it then crops the centred square of the photo and
    resizes it to the network's input size.

    Raises:
        FlowersError: for a missing path, a folder, a file that is not a usable
            image (see :mod:`helpers.images`), or an unreachable URL.
    """
    local = _local_photo(path, cfg)
    try:
        rgb = open_photo(local)
    except PhotoError as exc:
        raise FlowersError(f"{exc} Give a JPEG, PNG or similar photo.") from None
    # The part the generators keep (the centred square), resized with the same filter.
    rgb = rgb.resize((cfg.image_size, cfg.image_size), PIL_RESAMPLING[INTERPOLATION],
                     box=crop_box(rgb.width, rgb.height))
    x = np.asarray(rgb, dtype="float32")[None]
    return backbone_spec(cfg).preprocess(x)


def predict_file(model, path: Path | str, cfg: Config, names: tuple[str, ...], top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` most likely species for one image file, with their probabilities."""
    # Calling the model directly (not predict) avoids re-tracing a function per file.
    probabilities = np.asarray(model(load_image_for_model(path, cfg), training=False))[0]
    order = np.argsort(-probabilities)[:top]
    return [(names[i], float(probabilities[i])) for i in order]
