"""A synthetic stand-in for ``17flowers.tgz``, for the offline smoke profile and the tests.

The archive has the official layout (:mod:`helpers.flowers17`): ``jpg/image_0001.jpg``
... ``jpg/image_1360.jpg`` and ``jpg/files.txt``, 80 consecutive images per class
in the official species order. Each class is a procedurally drawn flower with its own petal count,
petal colour, centre colour and petal shape; within a class the position,
size, rotation, background and exact colours vary. A small network can learn
it, which lets the tests check that training really works.

Everything is drawn from one seed, and the archive is written byte for byte
the same each time (fixed tar and gzip timestamps), so its md5 is stable for a
given Pillow version. The smoke profile then "downloads" it over ``file://``
with the same code that downloads the real archive.

:func:`write_photo_folder` draws the smoke profile's stand-in for a learner's
own folder of photos (``<class name>/*.jpg``): uneven classes, a class name
with a space, bad files and duplicates, as real folders have.
"""

from __future__ import annotations

import gzip
import io
import math
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.io import savemat

from helpers.errors import FlowersError
from helpers.files import md5_of, write_bytes_atomic, write_text_atomic
from helpers.flowers17 import ARCHIVE_NAME, IMAGES_PER_CLASS, N_IMAGES, SPECIES, label_of


@dataclass(frozen=True)
class FlowerStyle:
    """What makes one synthetic species look like itself."""

    petals: int
    petal_rgb: tuple[int, int, int]
    centre_rgb: tuple[int, int, int]
    #: Petal length / width; large values give thin, star-like petals.
    slenderness: float


#: One style per class, in the official species order. Colours loosely follow
#: the real flowers (daffodils yellow, bluebells blue...), but what matters is
#: that every pair of classes differs in colour, petal count or shape.
STYLES: tuple[FlowerStyle, ...] = (
    FlowerStyle(6, (250, 220, 40), (240, 140, 20), 1.6),    # Daffodil
    FlowerStyle(3, (245, 245, 245), (120, 200, 90), 1.8),   # Snowdrop
    FlowerStyle(5, (235, 250, 225), (250, 250, 180), 1.1),  # Lily of the Valley
    FlowerStyle(6, (70, 90, 220), (40, 40, 120), 2.2),      # Bluebell
    FlowerStyle(6, (170, 90, 220), (250, 170, 20), 1.5),    # Crocus
    FlowerStyle(3, (110, 60, 200), (250, 230, 60), 2.4),    # Iris
    FlowerStyle(6, (250, 110, 20), (120, 30, 20), 2.6),     # Tigerlily
    FlowerStyle(4, (230, 30, 50), (40, 20, 20), 1.2),       # Tulip
    FlowerStyle(6, (140, 40, 90), (230, 230, 230), 1.3),    # Fritillary
    FlowerStyle(16, (255, 200, 0), (90, 50, 20), 2.8),      # Sunflower
    FlowerStyle(14, (250, 250, 250), (250, 200, 0), 3.0),   # Daisy
    FlowerStyle(22, (250, 180, 30), (250, 120, 0), 4.0),    # Colts' Foot
    FlowerStyle(28, (240, 230, 40), (210, 200, 30), 3.5),   # Dandelion
    FlowerStyle(5, (250, 240, 130), (230, 120, 30), 1.0),   # Cowslip
    FlowerStyle(5, (255, 230, 0), (200, 170, 0), 0.9),      # Buttercup
    FlowerStyle(8, (240, 120, 190), (60, 40, 80), 1.7),     # Windflower
    FlowerStyle(5, (120, 20, 160), (255, 235, 0), 0.8),     # Pansy
)


def draw_flower(style: FlowerStyle, rng: np.random.Generator, short_side: int) -> Image.Image:
    """Draw one photo-like RGB image of a flower in ``style``, with random variation."""
    aspect = rng.uniform(1.0, 1.6)
    w, h = short_side, int(round(short_side * aspect))
    if rng.random() < 0.5:
        w, h = h, w
    # A leafy or earthy background with a vertical gradient.
    base = np.array([rng.uniform(30, 110), rng.uniform(70, 150), rng.uniform(20, 80)])
    top = base + rng.uniform(-30, 30, size=3)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    bg = (top * (1 - ramp) + base * ramp) * np.ones((h, w, 3))
    bg += rng.normal(0, 8, size=(h, w, 3))
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)

    cx = rng.uniform(0.35, 0.65) * w
    cy = rng.uniform(0.35, 0.65) * h
    radius = rng.uniform(0.25, 0.4) * min(w, h)
    # A stem, pointing roughly down.
    draw.line([(cx, cy), (cx + rng.uniform(-0.2, 0.2) * w, h)], fill=(40, 110, 40),
              width=max(2, int(radius * 0.08)))

    jitter = lambda rgb: tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in rgb)  # noqa: E731
    petal_rgb, centre_rgb = jitter(style.petal_rgb), jitter(style.centre_rgb)
    petal_len = radius
    petal_w = max(2.0, 2 * math.pi * radius * 0.5 / style.petals / style.slenderness * 1.6)
    turn = rng.uniform(0, 2 * math.pi)
    for k in range(style.petals):
        a = turn + 2 * math.pi * k / style.petals
        # Each petal is a polygon: base at the centre, widest in the middle, tip at petal_len.
        pts = []
        for t, half in ((0.0, 0.0), (0.45, 0.5), (0.8, 0.4), (1.0, 0.0), (0.8, -0.4), (0.45, -0.5)):
            px = cx + math.cos(a) * t * petal_len - math.sin(a) * half * petal_w
            py = cy + math.sin(a) * t * petal_len + math.cos(a) * half * petal_w
            pts.append((px, py))
        draw.polygon(pts, fill=petal_rgb, outline=tuple(max(0, c - 40) for c in petal_rgb))
    centre = radius * 0.28
    draw.ellipse([cx - centre, cy - centre, cx + centre, cy + centre], fill=centre_rgb)
    return img.filter(ImageFilter.GaussianBlur(radius=short_side / 400))


def generate_images(seed: int = 0, short_side: int = 128) -> list[tuple[str, bytes]]:
    """All 1,360 images as ``(name, jpeg_bytes)`` pairs, in archive order."""
    out = []
    for n in range(1, N_IMAGES + 1):
        rng = np.random.default_rng([seed, n])
        img = draw_flower(STYLES[label_of(n)], rng, short_side)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        out.append((f"image_{n:04d}.jpg", buf.getvalue()))
    return out


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 1_200_000_000, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_archive(path: Path, seed: int = 0, short_side: int = 128) -> str:
    """Write the synthetic ``17flowers.tgz`` to ``path`` and return its md5.

    The file is written whole (:func:`helpers.files.write_bytes_atomic`), so an
    interrupted run never leaves a half-written archive behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = generate_images(seed, short_side)
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in images:
                _tar_member(tar, f"jpg/{name}", data)
            names = "".join(f"{name}\n" for name, _ in images).encode()
            _tar_member(tar, "jpg/files.txt", names)
    write_bytes_atomic(path, raw.getvalue())
    return md5_of(path)


def write_datasplits(path: Path, seed: int = 0) -> None:
    """Write a synthetic ``datasplits.mat`` with the official file's structure.

    Like the real one it holds ``trn1..3`` (680 ids), ``val1..3`` and
    ``tst1..3`` (340 ids each): 1-based image numbers, 40/20/20 per class.
    """
    mats: dict[str, np.ndarray] = {}
    for k in (1, 2, 3):
        rng = np.random.default_rng([seed, 1000 + k])
        parts: dict[str, list[int]] = {"trn": [], "val": [], "tst": []}
        for c in range(len(SPECIES)):
            ids = rng.permutation(np.arange(c * IMAGES_PER_CLASS, (c + 1) * IMAGES_PER_CLASS) + 1)
            parts["trn"] += ids[:40].tolist()
            parts["val"] += ids[40:60].tolist()
            parts["tst"] += ids[60:].tolist()
        for key, ids in parts.items():
            mats[f"{key}{k}"] = np.asarray(sorted(ids), dtype=np.float64)[None, :]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    savemat(buffer, mats)
    write_bytes_atomic(path, buffer.getvalue())


def recorded_md5(folder: Path) -> str | None:
    """The md5 :func:`ensure_synthetic_source` recorded for the archive in ``folder``, or ``None``."""
    record = Path(folder) / f"{ARCHIVE_NAME}.md5"
    if not record.exists():
        return None
    return record.read_text().strip() or None


def ensure_synthetic_source(folder: Path, seed: int = 0, short_side: int = 128) -> str:
    """Make sure ``folder`` holds the synthetic archive and split file; return the archive's md5.

    Generation happens once; the md5 is kept next to the archive in
    ``17flowers.tgz.md5`` so later runs check against it.
    """
    folder = Path(folder)
    archive, md5_file = folder / ARCHIVE_NAME, folder / f"{ARCHIVE_NAME}.md5"
    splits = folder / "datasplits.mat"
    if not (archive.exists() and recorded_md5(folder) == md5_of(archive)):
        md5 = write_archive(archive, seed, short_side)
        write_text_atomic(md5_file, md5 + "\n")
    if not splits.exists():
        write_datasplits(splits, seed)
    return md5_file.read_text().strip()


# --------------------------------------------------------------------------- a learner's own folder

#: The synthetic "own photos" folder: class folder name -> (the species whose style it is drawn in, photos).
#: Uneven on purpose (40 against 12), with a class name that has a space and one in capitals.
PHOTO_FOLDER_CLASSES: dict[str, tuple[str, int]] = {
    "sun flower": ("Sunflower", 40),
    "Tulip": ("Tulip", 30),
    "bluebell": ("Bluebell", 20),
    "Pansy": ("Pansy", 12),
}

#: The bad files in it (under the folder): a text note, a web page saved as .jpg, a cut-off JPEG.
PHOTO_FOLDER_BAD_FILES: tuple[str, ...] = ("Tulip/notes.txt", "Pansy/page.jpg", "bluebell/broken.jpg")

#: The duplicates in it: (copy, the photo it copies), both under the folder. The first is in another class
#: (a label conflict), the second in its own class (harmless, but counted twice).
PHOTO_FOLDER_DUPLICATES: tuple[tuple[str, str], ...] = (
    ("sun flower/tulip by mistake.jpg", "Tulip/photo_000.jpg"),
    ("Pansy/photo_000 (1).jpg", "Pansy/photo_000.jpg"),
)

#: The file that marks a folder as drawn by :func:`write_photo_folder` (hidden: the folder check skips it).
PHOTO_FOLDER_MARK = ".drawn-by-flowers-transfer"


def write_photo_folder(root: Path, seed: int = 0, short_side: int = 96) -> Path:
    """Draw the smoke profile's stand-in for a learner's folder of photos into ``root``; return ``root``.

    ``root/<class name>/photo_NNN.jpg`` for :data:`PHOTO_FOLDER_CLASSES`, plus
    :data:`PHOTO_FOLDER_BAD_FILES` and :data:`PHOTO_FOLDER_DUPLICATES`. The
    same seed draws the same bytes. A folder that exists is used as it is when
    this function drew it (it holds :data:`PHOTO_FOLDER_MARK`) and otherwise
    refused, so a learner's own folder is never written into.

    Raises:
        FlowersError: when ``root`` exists and was not drawn here.
    """

    root = Path(root)
    if root.exists():
        if (root / PHOTO_FOLDER_MARK).exists():
            return root
        raise FlowersError(f"{root} exists and is not the course's synthetic photo folder, so nothing is "
                           f"drawn into it. Choose another folder (or remove this one yourself).")
    tmp = root.with_name(f"{root.name}.part")
    if tmp.exists():
        shutil.rmtree(tmp)   # left by an interrupted drawing: ours
    for c, (folder, (species, count)) in enumerate(PHOTO_FOLDER_CLASSES.items()):
        (tmp / folder).mkdir(parents=True)
        for i in range(count):
            img = draw_flower(STYLES[SPECIES.index(species)], np.random.default_rng([seed, 5000 + c, i]),
                              short_side)
            img.save(tmp / folder / f"photo_{i:03d}.jpg", format="JPEG", quality=90)
    (tmp / "Tulip" / "notes.txt").write_text("Tulips from the market, bought on Saturday.\n")
    (tmp / "Pansy" / "page.jpg").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    (tmp / "bluebell" / "broken.jpg").write_bytes((tmp / "bluebell" / "photo_000.jpg").read_bytes()[:400])
    for copy, original in PHOTO_FOLDER_DUPLICATES:
        (tmp / copy).write_bytes((tmp / original).read_bytes())
    (tmp / PHOTO_FOLDER_MARK).write_text(f"drawn by helpers.synthetic.write_photo_folder (seed {seed})\n")
    tmp.rename(root)   # whole or not at all
    return root


# --------------------------------------------------------------------------- a check for lesson 10's Grad-CAM

#: The colours of :func:`patch_images`' classes (RGB, 0..1): the colour of the patch is the class.
PATCH_COLOURS: tuple[tuple[float, float, float], ...] = ((1.0, 0.15, 0.15), (0.15, 0.9, 0.15), (0.2, 0.3, 1.0))
#: The names of those classes, for titles.
PATCH_CLASSES: tuple[str, ...] = ("red", "green", "blue")


@dataclass(frozen=True)
class PatchImages:
    """Images whose class is decided by one coloured patch, and where that patch is."""

    x: np.ndarray       # (n, size, size, 3) float32 in 0..1
    y: np.ndarray       # (n,) class indices into PATCH_COLOURS
    boxes: np.ndarray   # (n, 4): the patch's first row, first column, end row, end column (pixels)


def patch_images(n: int, seed: int, size: int = 64, patch: int = 12) -> PatchImages:
    """``n`` grey noise images, each with a coloured patch (its class) and a bright grey one (a distractor).

    The coloured patch is the only evidence of the class; the grey patch, as
    bright, carries none and never overlaps it. So a method that shows where
    a model's evidence lies must point at the coloured patch, wherever it is:
    lesson 10 and ``tests/test_heatmaps.py`` check Grad-CAM with these.
    The same seed gives the same images.
    """
    rng = np.random.default_rng([seed, 1010])
    x = np.repeat(rng.uniform(0.3, 0.6, (n, size, size, 1)), 3, axis=3).astype("float32")
    y = rng.integers(0, len(PATCH_COLOURS), n)
    boxes = np.zeros((n, 4), dtype=int)
    for i in range(n):
        while True:
            (r, c), (r2, c2) = rng.integers(0, size - patch + 1, 2), rng.integers(0, size - patch + 1, 2)
            if abs(r - r2) >= patch or abs(c - c2) >= patch:
                break
        x[i, r2:r2 + patch, c2:c2 + patch] = 0.95
        x[i, r:r + patch, c:c + patch] = PATCH_COLOURS[y[i]]
        boxes[i] = (r, c, r + patch, c + patch)
    return PatchImages(x, y, boxes)
