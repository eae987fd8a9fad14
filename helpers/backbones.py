"""The pretrained networks the course knows, described without importing Keras.

``config`` checks ``FLOWERS_BACKBONE`` against :data:`BACKBONES`, and
``models`` builds them; both import this module, which imports neither.
Keras is imported inside the two methods that need it, not at the top, so
that ``load_config`` stays free of TensorFlow: the tools and the tests that
only read settings rely on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: The start of the warning MobileNetV2 gives when its input side is not one its
#: ImageNet weights were published for (a regular expression, as ``warnings`` takes).
WEIGHTS_SIZE_WARNING = r"`input_shape` is undefined or non-square, or `rows` is not in"
#: The input sides MobileNetV2 has ImageNet weights for.
MOBILENET_V2_SIDES = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class BackboneSpec:
    """What the course needs to know about one ``keras.applications`` network."""

    name: str
    #: Name of the constructor in ``keras.applications``.
    constructor: str
    #: Module in ``keras.applications`` that holds ``preprocess_input``.
    module: str
    #: The input side of the full profile: usually the side the ImageNet weights were
    #: trained at; a network without its top accepts other sides with the same weights
    #: (lesson 03 says why MobileNetV2 at width 0.35 gets a larger one).
    image_size: int
    #: The smallest input side the constructor accepts (used by the smoke profile).
    min_size: int
    #: Fine-tuning freezes every layer up to and including this one.
    freeze_through: str
    #: The same cut one block deeper (lesson 06's "one block more" exercise).
    deeper_cut: str
    #: Names of the blocks shown in the block table.
    block_pattern: str
    #: The name Keras caches the ImageNet weights (without top) under, in ``$KERAS_HOME/models/``;
    #: ``{rows}`` stands for the side whose weights MobileNetV2 loads (:meth:`weights_file`).
    weights_name: str = ""
    #: The pixel range ``preprocess_input`` produces (EfficientNet rescales inside the model).
    input_range: tuple[float, float] = (-1.0, 1.0)
    kwargs: dict[str, object] = field(default_factory=dict)

    def weights_file(self, image_size: int) -> str:
        """The file in Keras' weights cache that the constructor reads at ``image_size`` px.

        MobileNetV2 has weights for sides 96, 128, 160, 192 and 224, and takes
        the 224-px ones at any other side.
        """
        rows = image_size if image_size in MOBILENET_V2_SIDES else 224
        return self.weights_name.format(rows=rows)

    @property
    def preprocess(self) -> Callable[[np.ndarray], np.ndarray]:
        """The backbone's own ``preprocess_input``."""
        import keras

        return getattr(keras.applications, self.module).preprocess_input

    def size_for(self, profile: str) -> int:
        """The input side a profile uses: :attr:`image_size` in ``full``, :attr:`min_size` in ``smoke``."""
        return self.image_size if profile == "full" else self.min_size

    def build(self, weights: str | None, input_shape: tuple[int, int, int]):
        """Call the constructor with ``include_top=False``.

        MobileNetV2's warning that it loads its 224-px ImageNet weights (at any side
        but 96, 128, 160, 192 or 224 px) is silenced: that file is the one wanted,
        because convolutions and pooling work at any size. Other warnings show.
        """
        import keras

        fn = getattr(keras.applications, self.constructor)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=WEIGHTS_SIZE_WARNING, category=UserWarning)
            return fn(include_top=False, weights=weights, input_shape=input_shape, **self.kwargs)


#: The backbones the course knows. InceptionV3 is the default; the others are
#: faster on a CPU (lesson 08 compares them). ``FLOWERS_BACKBONE`` picks one.
BACKBONES: dict[str, BackboneSpec] = {
    "inception_v3": BackboneSpec(
        name="inception_v3", constructor="InceptionV3", module="inception_v3",
        image_size=299, min_size=75, freeze_through="mixed8", deeper_cut="mixed7", block_pattern=r"^mixed\d+$",
        weights_name="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "mobilenet_v2": BackboneSpec(
        name="mobilenet_v2", constructor="MobileNetV2", module="mobilenet_v2",
        image_size=224, min_size=32, freeze_through="block_12_add", deeper_cut="block_11_add",
        block_pattern=r"^(expanded_conv|block_\d+)_project_BN$",
        weights_name="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"),
    "mobilenet_v2_035": BackboneSpec(
        name="mobilenet_v2_035", constructor="MobileNetV2", module="mobilenet_v2",
        image_size=288, min_size=32, freeze_through="block_12_add", deeper_cut="block_11_add",
        block_pattern=r"^(expanded_conv|block_\d+)_project_BN$", kwargs={"alpha": 0.35},
        weights_name="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_{rows}_no_top.h5"),
    "efficientnet_b0": BackboneSpec(
        name="efficientnet_b0", constructor="EfficientNetB0", module="efficientnet",
        image_size=224, min_size=32, freeze_through="block5c_add", deeper_cut="block5b_add",
        block_pattern=r"^block\d[a-z]_project_bn$", input_range=(0.0, 255.0), weights_name="efficientnetb0_notop.h5"),
}


