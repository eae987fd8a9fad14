"""Lessons 03 and 04: the pretrained base, the new head, and maps of the network.

The base is a ``keras.applications`` network without its ImageNet classifier
(``include_top=False``). The head is the original tutorial's
``GlobalAveragePooling2D -> Dense(1024, relu) -> Dense(n_classes, softmax)``
(one per class of the data), with Dropout before each Dense layer
(:data:`HEAD_DROPOUT`; lesson 04 explains why).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from keras import Model, layers

from helpers.backbones import BACKBONES, BackboneSpec
from helpers.config import Config
from helpers.errors import FlowersError


def backbone_spec(cfg: Config) -> BackboneSpec:
    """The :class:`BackboneSpec` the configuration names."""
    return BACKBONES[cfg.backbone]


def _keras_cache() -> Path:
    """The folder ``keras.utils.get_file`` really caches in.

    Keras reads ``KERAS_HOME`` once, when it is imported (and falls back to
    ``/tmp/.keras`` when the home folder is not writable), so ask Keras rather
    than the environment: a ``KERAS_HOME`` set later does not move its cache.
    """
    try:
        from keras.src.backend.config import keras_home
    except ImportError:  # pragma: no cover - a Keras without this (private) accessor
        return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    return Path(keras_home())


def _damaged_weights() -> list[Path]:
    """The ``.h5`` files in Keras' weights cache that cannot be opened (a cut-off download)."""
    damaged = []
    for path in sorted((_keras_cache() / "models").glob("*.h5")):
        try:
            with h5py.File(path, "r"):
                pass
        except OSError:
            damaged.append(path)
    return damaged


class DamagedWeights(FlowersError):
    """A weights file in Keras' cache could not be read; it was renamed to ``<name>.damaged``."""

    def __init__(self, damaged: list[Path]) -> None:
        #: What happened, in one sentence (the message adds what to do).
        self.what = (f"The weights file {', '.join(p.name for p in damaged)} in {damaged[0].parent} cannot be "
                     f"read (a download cut off?); it was renamed to {damaged[0].name}.damaged.")
        super().__init__(f"{self.what} Run the cell again, and Keras downloads it again.")


class WrongWeights(DamagedWeights):
    """The weights file in Keras' cache does not fit the backbone (another width or network); renamed ``.damaged``."""

    def __init__(self, path: Path, constructor: str) -> None:
        super().__init__([path])
        self.what = (f"The weights file {path.name} in {path.parent} does not fit {constructor} (its shapes "
                     f"differ: weights of another width or network under this name?); it was renamed to "
                     f"{path.name}.damaged.")
        self.args = (f"{self.what} Run the cell again, and Keras downloads it again.",)


@contextmanager
def weights_help(cfg: Config) -> Iterator[None]:
    """Turn what can go wrong while Keras gets ImageNet weights into one message that says what to do.

    Wrap any ``keras.applications`` constructor call (lesson 03 wraps its own
    ``InceptionV3(...)`` call in it):

    - a download that fails (no network) names the file and where to put it;
    - a weights file in Keras' cache that cannot be read (a download cut off)
      is renamed to ``<name>.damaged``, which keeps it, so that the next call
      downloads it again (:class:`DamagedWeights`);
    - so is the backbone's weights file when its shapes do not fit the
      network (Keras' "Shape mismatch" ``ValueError``; :class:`WrongWeights`).

    Raises:
        FlowersError: for those cases; anything else passes through.
    """
    try:
        yield
    except ValueError as exc:
        spec = backbone_spec(cfg)
        cached = _keras_cache() / "models" / spec.weights_file(cfg.image_size)
        if not (cfg.weights and "mismatch" in str(exc).lower() and cached.is_file()):
            raise
        cached.replace(cached.with_name(f"{cached.name}.damaged"))
        raise WrongWeights(cached, spec.constructor) from None
    except OSError:
        damaged = _damaged_weights() if cfg.weights else []
        if not damaged:
            raise
        for path in damaged:
            path.replace(path.with_name(f"{path.name}.damaged"))
        raise DamagedWeights(damaged) from None
    except Exception as exc:  # get_file wraps network errors in a bare Exception
        m = re.search(r"URL fetch failure on (\S+?):? ", str(exc))
        if not m:
            raise
        url = m.group(1)
        target = _keras_cache() / "models" / url.rsplit("/", 1)[-1]
        raise FlowersError(
            f"Could not download the ImageNet weights of {backbone_spec(cfg).constructor} from {url}.\n"
            f"What to do next: check your internet connection and run the cell again; or "
            f"download that file elsewhere and put it at {target} (Keras looks there first; "
            f"KERAS_HOME moves the folder); or run the course without pretrained weights "
            f"with FLOWERS_PROFILE=smoke."
        ) from None


def load_base(cfg: Config):
    """The backbone without its top, with ImageNet weights (full) or random ones (smoke).

    Lesson 03's call, for the configured backbone: Keras downloads the weights
    once into ``$KERAS_HOME/models/`` (default ``~/.keras/models/``) and reuses
    them from there. A damaged weights file is set aside and downloaded again
    (:func:`weights_help`), once, without asking.

    Raises:
        FlowersError: when the weights cannot be downloaded, naming the file
            that is needed and where to put it.
    """
    spec = backbone_spec(cfg)

    def build():
        with weights_help(cfg):
            return spec.build(cfg.weights, (cfg.image_size, cfg.image_size, 3))

    try:
        return build()
    except DamagedWeights as exc:
        print(f"{exc.what} Downloading it again.")
    return build()


#: The Dropout rate before each Dense layer of the head (lesson 04 gives the measurement).
HEAD_DROPOUT = 0.5


#: The names of the head's layers, shared by :func:`add_head` and the cached-features head of
#: lesson 08 (``helpers.features``), which copies the Dense layers' weights by these names.
POOL_NAME = "avg_pool"
HIDDEN_NAME = "fc1024"
OUTPUT_NAME = "predictions"
HEAD_DENSE_NAMES: tuple[str, ...] = (HIDDEN_NAME, OUTPUT_NAME)


def head_layers(n_classes: int, hidden: int = 1024, dropout: float = HEAD_DROPOUT) -> list[layers.Layer]:
    """The head's layers after the pooling: ``Dropout -> Dense(hidden, relu) -> Dropout -> Dense(n_classes)``.

    ``dropout=0`` leaves the Dropout layers out. The output layer computes in
    float32 (under ``mixed_float16`` too), which keeps the softmax stable.
    """
    stack: list[layers.Layer] = []
    if dropout:
        stack.append(layers.Dropout(dropout, name="dropout_features"))
    stack.append(layers.Dense(hidden, activation="relu", name=HIDDEN_NAME))
    if dropout:
        stack.append(layers.Dropout(dropout, name="dropout_fc1024"))
    stack.append(layers.Dense(n_classes, activation="softmax", name=OUTPUT_NAME, dtype="float32"))
    return stack


def add_head(base, n_classes: int, hidden: int = 1024, dropout: float = HEAD_DROPOUT):
    """Put the new classifier on ``base`` and return the whole model.

    ``GlobalAveragePooling2D -> Dropout -> Dense(hidden, relu) -> Dropout ->
    Dense(n_classes, softmax)`` (:func:`head_layers`); ``n_classes`` comes from
    the data (the number of class folders). ``dropout=0`` gives the original
    tutorial's head exactly (Dropout layers have no parameters, so the counts
    are the same). The model shares its layers with ``base``:
    ``model.layers[i] is base.layers[i]``, so freezing a layer of ``base``
    freezes it in ``model`` too.
    """
    x = layers.GlobalAveragePooling2D(name=POOL_NAME)(base.output)
    for layer in head_layers(n_classes, hidden, dropout):
        x = layer(x)
    return Model(inputs=base.input, outputs=x, name=f"{base.name}_flowers17")


def build_model(cfg: Config, n_classes: int) -> tuple[object, object]:
    """``(model, base)``: :func:`load_base` plus :func:`add_head` for ``n_classes`` classes."""
    base = load_base(cfg)
    return add_head(base, n_classes), base


def parameter_counts(model) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts of ``model``."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def format_counts(counts: dict[str, int]) -> str:
    """``total / trainable / non-trainable`` with thousands separators, one per line."""
    return "\n".join(f"{k.replace('_', '-'):<13} {v:>12,}" for k, v in counts.items())


@dataclass(frozen=True)
class Block:
    """One row of the block table."""

    name: str
    index: int
    output_shape: tuple[int | None, ...]


def block_table(base, pattern: str = r"^mixed\d+$") -> list[Block]:
    """The network's main blocks (InceptionV3: ``mixed0`` ... ``mixed10``) with layer index and shape."""
    return [Block(layer.name, i, tuple(layer.output.shape))
            for i, layer in enumerate(base.layers) if re.match(pattern, layer.name)]


#: Layers that end a block, where a cut between frozen and trainable layers belongs
#: (InceptionV3's ``mixed8``, MobileNetV2's ``block_12_add``, EfficientNet's ``block5c_add``).
BLOCK_END = r"^mixed\d+$|_add$"


def layer_index(model, name: str) -> int:
    """The index of the layer called ``name`` in ``model.layers``.

    Raises:
        FlowersError: when ``model`` has no such layer (a ``freeze_through`` of
            another backbone, say), listing the block ends it has (:data:`BLOCK_END`).
    """
    for i, layer in enumerate(model.layers):
        if layer.name == name:
            return i
    ends = [layer.name for layer in model.layers if re.search(BLOCK_END, layer.name)]
    listed = ", ".join(ends) if len(ends) <= 12 else ", ".join(ends[:4] + ["..."] + ends[-4:])
    raise FlowersError(f"{name!r} is not a layer of this model, so it cannot be where freezing stops. "
                       f"Give one of its block ends: {listed or '(none found)'}.")


def architecture(model) -> list[tuple[str, int, dict[str, object]]]:
    """Layer class, parameter count and key settings of each layer: to compare two builds."""
    keys = ("units", "activation", "rate", "filters", "kernel_size", "strides", "pool_size")
    out = []
    for layer in model.layers:
        conf = layer.get_config()
        out.append((type(layer).__name__, layer.count_params(), {k: conf[k] for k in keys if k in conf}))
    return out
