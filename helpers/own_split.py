"""Your own photos (``FLOWERS_PHOTOS``) as a split that lessons 02-09 train on, the way they train on Flowers17.

:func:`ensure_photo_split` is what :func:`helpers.data.ensure_split` calls when
:attr:`Config.photos` is set. It reads the folder (:func:`read_photos`: every
file checked, bad files and exact copies left out and named, each class big
enough for :attr:`Config.split_fractions`), splits each class seeded by
:attr:`Config.seed` (:func:`helpers.photo_folder.seeded_assignment`), and writes
the split into :attr:`Config.split_dir` inside the data folder: the same
``train/ validation/ test/`` class folders as Flowers17's, made of hard links
to your photos (copies where the file system cannot link; an upright copy of
a photo a phone stored sideways, since Keras' loader ignores the EXIF note),
with ``manifest.csv`` and ``split.json``.

**Your folder is only read.** Nothing here writes into it, moves or deletes a
file of it: a link is a second name for the same file, and removing a split
removes only its own names. ``split.json`` records the folder and its
:func:`helpers.photo_folder.fingerprint`, so a changed folder gets a new split,
and the run identity (:func:`helpers.runs.run_identity`) changes with it: a model
trained on the old photos is then refused, not scored on the new ones.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from helpers.config import Config
from helpers.download import data_lock
from helpers.errors import FlowersError
from helpers.locks import folder_lock
from helpers.photo_folder import (
    PhotoFolder,
    check_split_counts,
    fingerprint,
    scan_folder,
    seeded_assignment,
    without_duplicates,
)
from helpers.split_folders import SPLIT_NAMES, new_split, reuse_problem, split_problem

#: The columns of a photo split's ``manifest.csv``.
MANIFEST_FIELDS: tuple[str, ...] = ("file", "class", "label", "source", "split")


def folder_fingerprint(cfg: Config) -> str:
    """The fingerprint of every photo file in ``cfg.photos`` as it is now (names, sizes and md5s; not decoded)."""
    return fingerprint(scan_folder(_root(cfg), check_photos=False))


def _root(cfg: Config) -> Path:
    if cfg.photos is None:
        raise FlowersError("No photo folder is set: set FLOWERS_PHOTOS (or the lesson's `photos` parameter) to a "
                           "folder with one subfolder per class.")
    return cfg.photos


def read_photos(cfg: Config, verbose: bool = True) -> PhotoFolder:
    """``cfg.photos`` checked: unusable files and exact copies left out (and named, when ``verbose``).

    Raises:
        FlowersError: for a folder that cannot work (:func:`helpers.photo_folder.scan_folder`),
            or a class with too few photos for ``cfg.split_fractions``.
    """
    folder = without_duplicates(scan_folder(_root(cfg)))
    if verbose:
        for path, reason in folder.left_out:
            print(f"Left out {path.relative_to(folder.root)}: {reason}.")
    check_split_counts(folder, cfg.split_fractions)
    return folder


def _record(cfg: Config, fingerprint_: str) -> dict[str, object]:
    """What a photo split is made from: the folder, its fingerprint, the fractions and the seed."""
    return {"photos": str(cfg.photos), "fingerprint": fingerprint_,
            "fractions": list(cfg.split_fractions), "seed": cfg.seed}


#: How a message names each entry of a photo split's ``split.json``.
_SETTING_NAMES: dict[str, str] = {"photos": "photo folder (FLOWERS_PHOTOS)", "fingerprint": "the photos in it",
                                  "fractions": "split fractions (FLOWERS_SPLIT_FRACTIONS)",
                                  "seed": "seed (FLOWERS_SEED)"}


def photo_split_differences(saved: dict[str, object], cfg: Config) -> list[str]:
    """How a ``split.json`` differs from what ``cfg`` and the folder now give; empty when the split is current."""
    now = _record(cfg, folder_fingerprint(cfg))
    return [f"{_SETTING_NAMES[key]} changed" if key == "fingerprint" else
            f"{_SETTING_NAMES[key]} {saved.get(key)!r} -> {value!r}"
            for key, value in now.items() if saved.get(key) != value]


def _finish(cfg: Config, tmp: Path, folder: PhotoFolder, assignment: dict[Path, str], made_from: str) -> None:
    labels = {name: i for i, name in enumerate(folder.class_names)}
    rows = [{"file": f"{part}/{path.parent.name}/{path.name}", "class": path.parent.name,
             "label": labels[path.parent.name], "source": path.relative_to(folder.root).as_posix(), "split": part}
            for path, part in sorted(assignment.items(), key=lambda item: (item[1], item[0]))]
    with open(tmp / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    problem = split_problem(tmp)
    if problem is not None:
        raise FlowersError(f"The new class folders do not match the split of {folder.root}: {problem}. The split "
                           f"in {cfg.split_dir} was left as it was; run the cell again.")
    (tmp / "split.json").write_text(json.dumps(_record(cfg, made_from)))


def write_photo_split(cfg: Config, folder: PhotoFolder, assignment: dict[Path, str],
                      made_from: str | None = None) -> Path:
    """Write ``assignment`` as class folders of links to the photos, plus ``manifest.csv`` and ``split.json``.

    Every part gets every class folder, named as in your folder. Each photo is
    hard-linked (copied where the file system cannot link) into its part;
    :func:`helpers.split_folders.new_split` swaps the split in whole.
    ``made_from`` is the folder's fingerprint taken *before* it was read
    (:func:`folder_fingerprint` now, when ``None``): a photo changed while the
    split is made then shows as a change at the next :func:`ensure_photo_split`.

    Raises:
        FlowersError: when a photo is removed or cannot be read while the split
            is made; the split on disk is then left as it was.
    """
    made_from = folder_fingerprint(cfg) if made_from is None else made_from
    with new_split(cfg, lambda tmp: _finish(cfg, tmp, folder, assignment, made_from)) as tmp:
        for part in SPLIT_NAMES:
            for name in folder.class_names:
                (tmp / part / name).mkdir(parents=True)
        for path, part in assignment.items():
            _link_or_copy(path, tmp / part / path.parent.name / path.name, cfg)
    return cfg.split_dir


#: The EXIF tag that says how a phone held the camera (1: upright as stored).
ORIENTATION_TAG = 0x0112


def stored_sideways(path: Path) -> bool:
    """Whether the photo carries an EXIF orientation other than "upright as stored" (phones write one).

    Keras' loader (``load_img``, which ``flow_from_directory`` uses) ignores
    that note, so such a photo would train sideways or upside down.
    """
    from PIL import Image

    try:
        with Image.open(path) as photo:
            return photo.getexif().get(ORIENTATION_TAG, 1) not in (1, None)
    except (OSError, ValueError):
        return False


def _write_upright(path: Path, target: Path) -> None:
    """``path`` turned as its EXIF note says, saved at ``target`` in its own format (the note dropped)."""
    from PIL import Image, ImageOps

    with Image.open(path) as photo:
        kind = photo.format
        upright = ImageOps.exif_transpose(photo)
        upright.save(target, format=kind, **({"quality": 95} if kind == "JPEG" else {}))


def _link_or_copy(path: Path, target: Path, cfg: Config) -> None:
    """A hard link to ``path`` at ``target`` (a copy where the disk cannot link); one sentence when it is gone.

    A photo stored sideways (:func:`stored_sideways`) is written upright
    instead, as a new file: the split then shows Keras what you see.
    """
    try:
        if stored_sideways(path):
            _write_upright(path, target)
            return
        try:
            os.link(path, target)
        except FileNotFoundError:
            raise
        except OSError:
            shutil.copy2(path, target)
    except (FileNotFoundError, PermissionError) as exc:
        what = "was removed or renamed" if isinstance(exc, FileNotFoundError) else "could not be read"
        raise FlowersError(f"The photo {path} {what} while its split was being made. The split in "
                           f"{cfg.split_dir} was left as it was; run the cell again.") from None


@dataclass(frozen=True)
class PhotoSplit:
    """What :func:`prepare_photo_split` did, for a lesson to show."""

    folder: Path
    photos: PhotoFolder
    assignment: dict[Path, str]


def prepare_photo_split(cfg: Config, verbose: bool = True) -> PhotoSplit:
    """Read, check, split and write ``cfg.photos``: what lesson 01 does for Flowers17, in one call."""
    with data_lock(cfg):
        made_from = folder_fingerprint(cfg)
        photos = read_photos(cfg, verbose=verbose)
        assignment = seeded_assignment(photos, cfg.split_fractions, cfg.seed)
        folder = write_photo_split(cfg, photos, assignment, made_from)
    return PhotoSplit(folder, photos, assignment)


def ensure_photo_split(cfg: Config, verbose: bool = True) -> Path:
    """The split folder of ``cfg.photos``, made again when it is missing, damaged, or the folder has changed.

    A split that is already there is made again only while no other lesson
    trains or scores from it: this waits for the build folder's lock
    (:mod:`helpers.locks`), naming the lesson that holds it, so the photos of
    a running lesson never change under it.
    """
    folder = cfg.split_dir
    why = _reuse_problem(cfg)
    if why is None:
        return folder
    kind, sentence = why
    if kind == "missing":
        sentence = f"No split of {cfg.photos} yet; preparing it now."
    if verbose or kind != "missing":
        print(sentence)
    if kind == "missing":
        return prepare_photo_split(cfg, verbose=verbose).folder
    with folder_lock(cfg.build_dir, "a lesson making the split of your photos again"):
        if _reuse_problem(cfg) is None:   # another lesson made it again while this one waited
            return folder
        return prepare_photo_split(cfg, verbose=verbose).folder


def _reuse_problem(cfg: Config) -> tuple[str, str] | None:
    """Why ``cfg``'s photo split on disk cannot be used as it is (:func:`helpers.split_folders.reuse_problem`)."""
    with data_lock(cfg):
        _root(cfg)
        scan_folder(cfg.photos, check_photos=False)   # a folder that cannot work stops here, before anything is read
        return reuse_problem(cfg.split_dir, lambda saved: photo_split_differences(saved, cfg),
                             made_from="from other photos or settings")


def class_names(split: Path) -> list[str]:
    """The class names of a photo split, in Keras' order (the sorted folder names of ``train/``)."""
    return sorted(p.name for p in (Path(split) / "train").iterdir() if p.is_dir())


def counts(split: Path) -> dict[str, dict[str, int]]:
    """Photos per class in each part of a split, from its manifest: ``{"train": {"roses": 30, ...}, ...}``."""
    with open(Path(split) / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = class_names(split)
    return {part: {name: sum(1 for r in rows if r["split"] == part and r["class"] == name) for name in names}
            for part in SPLIT_NAMES}
