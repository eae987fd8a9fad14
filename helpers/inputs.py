"""How a photo becomes the network's input: the crop and the resize, shared by every pipeline.

Lesson 02's generators, lesson 08's ``tf.data`` pipeline and lesson 07's
single-photo path (:mod:`helpers.evaluation`) all read these settings, so a
photo is cropped and resized the same way wherever it comes from. The module
imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

from PIL import Image

#: How photos are resized to the network's input size (``flow_from_directory`` and
#: ``image_dataset_from_directory`` take the name).
INTERPOLATION = "bilinear"

#: Crop each photo to a centred square before resizing, instead of squashing it
#: (``flow_from_directory(keep_aspect_ratio=True)``; ``crop_to_aspect_ratio`` in tf.data).
KEEP_ASPECT_RATIO = True

#: Pillow's resampling filter for each interpolation name the pipelines accept.
PIL_RESAMPLING: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def crop_box(width: int, height: int) -> tuple[int, int, int, int] | None:
    """The part of a ``width`` x ``height`` photo the pipelines keep: the centred square, or all of it.

    ``None`` (the whole photo) when :data:`KEEP_ASPECT_RATIO` is off.
    """
    if not KEEP_ASPECT_RATIO:
        return None
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)
