"""An example of "your own photos": six Flowers17 species arranged as a learner arranges a folder of theirs.

Lesson 09 walks through a folder of class subfolders. A learner who has no
folder yet gets this one: :data:`PLAN`'s species, copied out of the Flowers17
archive (the one lesson 01 downloads; the smoke profile's synthetic one offline)
into ``<class name>/`` folders with names as a person writes them (with
spaces), uneven counts (25 to 80), and the bad files learners' folders hold:
a text note, a web page saved as ``.jpg``, a cut-off JPEG, a GIF placeholder,
one photo in two classes and one twice in a class, plus a thumbnail and a
panorama, usable but worth a look (:func:`add_bad_files`).

:func:`build` makes such a folder anywhere (``python -m tools.own_photos``
uses it on the real photos); :func:`ensure_example_folder` keeps one in the
data folder. Either writes only into a folder it made itself (it holds
:data:`MARK`); any other folder is left alone.
"""

from __future__ import annotations

import random
import shutil
import tarfile
from pathlib import Path

from PIL import Image

from helpers.config import Config
from helpers.download import download_archive, remove_path
from helpers.errors import FlowersError
from helpers.flowers17 import IMAGES_PER_CLASS, SPECIES

#: Folder name (as a learner might write it) -> (the archive's species, how many of its 80 photos).
PLAN: dict[str, tuple[str, int]] = {
    "Sunflower": ("Sunflower", 80),
    "Tiger lily": ("Tigerlily", 75),
    "Daisy": ("Daisy", 65),
    "Lily of the valley": ("Lily of the Valley", 55),
    "Pansy": ("Pansy", 40),
    "Snowdrop": ("Snowdrop", 25),
}

#: The file that says a folder was made here (hidden: the course's folder check skips it).
MARK = ".made-by-flowers-transfer"

#: The bad files added, by path under the folder; what each is is written by :func:`add_bad_files`.
BAD_FILES: tuple[str, ...] = ("Daisy/notes.txt", "Pansy/download.jpg", "Sunflower/IMG_0042.jpg",
                              "Snowdrop/placeholder.gif")
#: The duplicates added: (the copy, the class whose first photo it copies), under the folder.
DUPLICATES: tuple[tuple[str, str], ...] = (("Sunflower/daisy by mistake.jpg", "Daisy"),
                                           ("Tiger lily/copy of the first.jpg", "Tiger lily"))

#: Usable photos a check should still point out: a thumbnail (tiny) and a panorama (3 times wider than tall),
#: each in place of the photo it is made from.
ODD_PHOTOS: tuple[str, ...] = ("Daisy/thumbnail.jpg", "Sunflower/panorama.jpg")

#: The version of the folder's recipe, written into :data:`MARK`: a folder made by an older recipe is made again.
VERSION = 2

#: The example folder's name inside the data folder.
FOLDER_NAME = "example-photos"


def chosen_numbers(seed: int = 0) -> dict[str, list[int]]:
    """The archive's image numbers copied into each class folder (seeded, so every build is the same)."""
    rng = random.Random(seed)
    chosen = {}
    for folder, (species, count) in PLAN.items():
        first = SPECIES.index(species) * IMAGES_PER_CLASS + 1
        chosen[folder] = sorted(rng.sample(range(first, first + IMAGES_PER_CLASS), count))
    return chosen


def copy_photos(source: Path, out: Path, chosen: dict[str, list[int]]) -> None:
    """Copy the chosen photos (``image_NNNN.jpg``) into ``out/<class>/``.

    ``source`` is the Flowers17 archive (``.tgz``) or a folder of its photos
    (the extracted ``jpg/``).

    Raises:
        FlowersError: when ``source`` lacks some of them (it is not Flowers17).
    """
    where = {f"image_{n:04d}.jpg": folder for folder, numbers in chosen.items() for n in numbers}
    for folder in chosen:
        (out / folder).mkdir(parents=True, exist_ok=True)
    if Path(source).is_dir():
        for name, folder in where.items():
            if (Path(source) / name).is_file():
                shutil.copyfile(Path(source) / name, out / folder / name)
    else:
        with tarfile.open(source) as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in where:
                    with tar.extractfile(member) as photo, open(out / where[name] / name, "wb") as f:
                        shutil.copyfileobj(photo, f)
    missing = [name for name, folder in where.items() if not (out / folder / name).exists()]
    if missing:
        raise FlowersError(f"{source} lacks {len(missing)} of the photos (e.g. {missing[0]}): is it Flowers17?")


def add_bad_files(out: Path) -> None:
    """The bad files (:data:`BAD_FILES`), duplicates (:data:`DUPLICATES`) and odd photos (:data:`ODD_PHOTOS`)
    a learner's folder may hold."""
    (out / "Daisy" / "notes.txt").write_text("Daisies from the park, May.\n")
    (out / "Pansy" / "download.jpg").write_text(
        "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n")
    first_sunflower = sorted((out / "Sunflower").glob("image_*.jpg"))[0]
    (out / "Sunflower" / "IMG_0042.jpg").write_bytes(first_sunflower.read_bytes()[:2048])   # cut off
    (out / "Snowdrop" / "placeholder.gif").write_bytes(
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")                       # 1 x 1 pixel
    for copy, source_class in DUPLICATES:
        source = sorted((out / source_class).glob("image_*.jpg"))[0]
        shutil.copyfile(source, out / copy)
    # Each odd photo replaces the photo it is made from, so that the two are never in different splits.
    daisy_path = sorted((out / "Daisy").glob("image_*.jpg"))[1]
    with Image.open(daisy_path) as daisy:
        daisy.convert("RGB").resize((48, 36)).save(out / "Daisy" / "thumbnail.jpg", quality=90)
    daisy_path.unlink()
    sunflower_path = sorted((out / "Sunflower").glob("image_*.jpg"))[1]
    with Image.open(sunflower_path) as sunflower:
        width = sunflower.width
        sunflower.convert("RGB").crop((0, 0, width, width // 3)).save(out / "Sunflower" / "panorama.jpg",
                                                                      quality=90)
    sunflower_path.unlink()


def build(source: Path, out: Path, seed: int = 0) -> Path:
    """Make the example folder at ``out`` afresh from ``source`` (see :func:`copy_photos`); return ``out``.

    The folder is written under a temporary name and renamed when whole.

    Raises:
        FlowersError: when ``out`` exists and was not made here (it is left
            alone), or ``source`` is not Flowers17.
    """
    source, out = Path(source), Path(out)
    if not source.exists():
        raise FlowersError(f"No Flowers17 archive or photo folder at {source}.")
    if out.exists() and not (out / MARK).exists():
        raise FlowersError(f"{out} exists and was not made by the course: it is left alone. Choose another folder.")
    tmp = out.with_name(f"{out.name}.part")
    remove_path(tmp)
    tmp.mkdir(parents=True)
    try:
        copy_photos(source, tmp, chosen_numbers(seed))
        add_bad_files(tmp)
        (tmp / MARK).write_text(f"version {VERSION}: made by helpers.example_photos from {source} (seed {seed})\n")
    except BaseException:
        remove_path(tmp)
        raise
    remove_path(out)
    tmp.rename(out)
    return out


def ensure_example_folder(cfg: Config) -> Path:
    """The example folder in ``cfg``'s data folder, made from Flowers17's photos the first time.

    Flowers17 is downloaded first when needed (:func:`helpers.download.download_archive`,
    offline and synthetic in the smoke profile). A folder already made here by
    this :data:`VERSION` of the recipe is used as it is, so the split made
    from it is reused too; one made by an older recipe is made again.
    """
    out = cfg.work_dir / FOLDER_NAME
    try:
        current = (out / MARK).read_text().startswith(f"version {VERSION}:")
    except OSError:
        current = False
    if current:
        return out
    return build(download_archive(cfg, verbose=False) / "jpg", out)
