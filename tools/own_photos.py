"""Build a folder of "your own photos" from the Flowers17 archive, arranged as a learner would arrange theirs.

The course has one real data set. To develop and measure the own-photos
path on real photos, this tool copies some species out of the archive into
``OUT/<species name>/``: names as a person writes them (with spaces), uneven
counts (25 to 80 photos), and a few bad files of the kinds learners' folders
hold (a text note, a web page saved as ``.jpg``, a cut-off JPEG, a GIF
placeholder, the same photo in two classes and twice in one)::

    python -m tools.own_photos --archive ../shared/flowers17/17flowers.tgz --out data/own-photos

The photos are the archive's: never commit the folder (``data/`` is ignored).
``OUT`` is made afresh each run, and only when it is missing or was made by
this tool (it holds :data:`MARK`); any other folder is left alone.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tarfile
from pathlib import Path

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

#: The file that says a folder was made by this tool (hidden: the course's folder check skips it).
MARK = ".made-by-tools-own-photos"

#: The bad files added, by path under OUT; what each is is written by :func:`add_bad_files`.
BAD_FILES: tuple[str, ...] = ("Daisy/notes.txt", "Pansy/download.jpg", "Sunflower/IMG_0042.jpg",
                              "Snowdrop/placeholder.gif")
#: The duplicates added: (copy, original) under OUT.
DUPLICATES: tuple[tuple[str, str], ...] = (("Sunflower/daisy by mistake.jpg", "Daisy"),
                                           ("Tiger lily/copy of the first.jpg", "Tiger lily"))


def chosen_numbers(seed: int = 0) -> dict[str, list[int]]:
    """The archive's image numbers copied into each class folder (seeded, so every build is the same)."""
    rng = random.Random(seed)
    chosen = {}
    for folder, (species, count) in PLAN.items():
        first = SPECIES.index(species) * IMAGES_PER_CLASS + 1
        chosen[folder] = sorted(rng.sample(range(first, first + IMAGES_PER_CLASS), count))
    return chosen


def copy_photos(archive: Path, out: Path, chosen: dict[str, list[int]]) -> None:
    """Copy the chosen photos from ``archive`` (``jpg/image_NNNN.jpg``) into ``out/<class>/``."""
    where = {f"image_{n:04d}.jpg": folder for folder, numbers in chosen.items() for n in numbers}
    with tarfile.open(archive) as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and name in where:
                target = out / where[name] / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as f:
                    shutil.copyfileobj(source, f)
    missing = [name for name, folder in where.items() if not (out / folder / name).exists()]
    if missing:
        raise SystemExit(f"{archive} lacks {len(missing)} of the photos (e.g. {missing[0]}): is it Flowers17?")


def add_bad_files(out: Path) -> None:
    """The bad files (:data:`BAD_FILES`) and duplicates (:data:`DUPLICATES`) a learner's folder may hold."""
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


def build(archive: Path, out: Path, seed: int = 0) -> Path:
    """Make ``out`` afresh (see the module's docstring); refuse a folder this tool did not make."""
    archive, out = Path(archive), Path(out)
    if not archive.is_file():
        raise SystemExit(f"No archive at {archive}: pass --archive (the real one is in ../shared/flowers17).")
    if out.exists():
        if not (out / MARK).exists():
            raise SystemExit(f"{out} exists and was not made by this tool: it is left alone. Choose another --out.")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARK).write_text(f"made by python -m tools.own_photos from {archive} (seed {seed})\n")
    copy_photos(archive, out, chosen_numbers(seed))
    add_bad_files(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/flowers17/17flowers.tgz"))
    parser.add_argument("--out", type=Path, default=Path("data/own-photos"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build(args.archive, args.out, args.seed)
    counts = ", ".join(f"{folder} {n}" for folder, (_, n) in PLAN.items())
    print(f"{out}: {counts} photos; bad files {', '.join(BAD_FILES)}; duplicates "
          f"{', '.join(copy for copy, _ in DUPLICATES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
