"""The Oxford Flowers17 data set's facts, in one place: its species, its numbering and its archive.

Flowers17 has 17 species with 80 photos each, ``image_0001.jpg`` to
``image_1360.jpg`` in one folder: image *n* belongs to species
``SPECIES[(n - 1) // 80]``. The archive (:data:`ARCHIVE_NAME`) and its
synthetic stand-in (:mod:`helpers.synthetic`) both follow this layout. Nothing
else in ``helpers`` assumes 17 classes: the models take the class count from
the data.
"""

from __future__ import annotations

import re

#: The archive's file name, for the download and for the synthetic stand-in.
ARCHIVE_NAME = "17flowers.tgz"
#: About the archive's size in bytes (60 MB; its photos take as much again once extracted).
ARCHIVE_BYTES = 60_000_000

#: The 17 species in the official order: image n has species SPECIES[(n - 1) // 80].
SPECIES: tuple[str, ...] = (
    "Daffodil", "Snowdrop", "Lily of the Valley", "Bluebell", "Crocus", "Iris",
    "Tigerlily", "Tulip", "Fritillary", "Sunflower", "Daisy", "Colts' Foot",
    "Dandelion", "Cowslip", "Buttercup", "Windflower", "Pansy",
)
#: Photos per species.
IMAGES_PER_CLASS = 80
#: Photos in the archive (1,360).
N_IMAGES = len(SPECIES) * IMAGES_PER_CLASS


def label_of(number: int) -> int:
    """The class index of ``image_<number>.jpg``: 80 consecutive images per species.

    Raises:
        ValueError: for a number outside 1..1360.
    """
    if not 1 <= number <= N_IMAGES:
        raise ValueError(f"image number {number} is outside 1..{N_IMAGES}")
    return (number - 1) // IMAGES_PER_CLASS


def class_folder(label: int) -> str:
    """The folder name of a class: ``00_daffodil`` ... ``16_pansy``.

    The number in front keeps the folders' alphabetical order, which is the
    order ``flow_from_directory`` numbers classes in, equal to the official one.
    """
    slug = re.sub(r"[^a-z]+", "_", SPECIES[label].lower()).strip("_")
    return f"{label:02d}_{slug}"
