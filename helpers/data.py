"""Check, label and split the Oxford Flowers17 archive (:mod:`helpers.download` gets it).

The steps, each one function, in the order lesson 01 teaches them:

1. :func:`helpers.download.download_archive`: ``keras.utils.get_file`` downloads
   (or finds in its cache) ``17flowers.tgz``, checks its md5 and extracts it
   (lesson 01 makes that call itself, inside :func:`helpers.download.archive_guard`).
2. :func:`check_images`: every listed JPEG must open; the ones that do not
   are reported and left out.
3. :func:`label_images`: image *n* belongs to species ``(n - 1) // 80``
   (:func:`helpers.flowers17.label_of`).
4. :func:`assign_split`: a seeded, stratified split (or one of the three
   official splits from ``datasplits.mat``).
5. :func:`write_split`: ``train/``, ``validation/`` and ``test/`` class folders
   for ``flow_from_directory``, plus ``manifest.csv``, written safely by
   :func:`new_split` (lesson 01 writes the folders itself inside it).

:func:`prepare_split` runs them all, and :func:`ensure_split` is what later
lessons call: it reuses a split that matches the configuration and prepares
it otherwise.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers import own_split, split_folders
from helpers.config import Config, require_flowers17
from helpers.download import (
    data_lock,
    download_archive,
    download_official_splits,
    expected_md5,
    read_official_splits,
)
from helpers.errors import FlowersError
from helpers.files import md5_of
from helpers.flowers17 import ARCHIVE_NAME, N_IMAGES, SPECIES, class_folder, label_of
from helpers.images import photo_problem
from helpers.split_folders import SPLIT_NAMES, read_manifest, split_problem  # noqa: F401 (lessons call data.*)

_IMAGE_NAME = re.compile(r"^image_(\d{4})\.jpg$")


# --------------------------------------------------------------------------- check and label


@dataclass(frozen=True)
class ImageCheck:
    """The outcome of :func:`check_images`."""

    #: Image numbers (1-based) that open, in order.
    good: list[int]
    #: ``(file name, reason)`` for every listed image that is left out.
    bad: list[tuple[str, str]]
    #: Photos in ``jpg/`` that ``files.txt`` does not list (left out, since the list is the archive's index).
    unlisted: list[str] = field(default_factory=list)


def image_path(extracted: Path, number: int) -> Path:
    """The path of ``image_<number>.jpg`` inside the extracted archive."""
    return Path(extracted) / "jpg" / f"image_{number:04d}.jpg"


def check_images(extracted: Path) -> ImageCheck:
    """Open every image listed in ``jpg/files.txt``; report the ones that fail, and why.

    An image also fails when its name is not ``image_NNNN.jpg`` with NNNN in
    1..1360, since its species could not be known. Each one goes through
    :func:`helpers.images.photo_problem`, the check every photo of the course
    gets: fully decoded (at reduced size, which JPEG allows cheaply), so
    truncated files are caught here rather than in the middle of training;
    image bombs, pipes and unusual pixel modes refused. Photos in ``jpg/``
    that ``files.txt`` leaves out are returned as :attr:`ImageCheck.unlisted`.
    """
    listing = Path(extracted) / "jpg" / "files.txt"
    names = [n.strip() for n in listing.read_text().split() if n.strip()]
    good, bad = [], []
    for name in names:
        m = _IMAGE_NAME.match(name)
        if not m:
            bad.append((name, "its name is not image_NNNN.jpg"))
            continue
        if not 1 <= int(m.group(1)) <= N_IMAGES:
            bad.append((name, f"not one of the {N_IMAGES:,} Flowers17 images, numbered 1 to {N_IMAGES}"))
            continue
        problem = photo_problem(listing.parent / name)
        if problem is None:
            good.append(int(m.group(1)))
        else:
            bad.append((name, problem))
    listed = set(names)
    unlisted = sorted(p.name for p in listing.parent.glob("image_*.jpg") if p.name not in listed)
    return ImageCheck(good=sorted(good), bad=bad, unlisted=unlisted)


def unlisted_message(unlisted: list[str], shown: int = 3) -> str:
    """One sentence on the photos ``files.txt`` does not list: how many, and the first few names."""
    names = ", ".join(unlisted[:shown]) + (", ..." if len(unlisted) > shown else "")
    return (f"jpg/files.txt does not list {len(unlisted):,} of the photos in jpg/ ({names}); they are left "
            f"out. Is the archive complete, or was files.txt edited?")


def label_images(numbers: list[int]) -> dict[int, int]:
    """Map each image number to its class index."""
    return {n: label_of(n) for n in numbers}


# --------------------------------------------------------------------------- split


def seeded_split(labels: dict[int, int], sizes: tuple[int, int, int], seed: int) -> dict[int, str]:
    """A stratified random split: ``sizes`` images per class for train, validation, test.

    Each class is shuffled with its own generator seeded from ``(seed, class)``,
    so the same seed always gives the same split, and an image missing from one
    class does not change the others. When a class has fewer images than
    ``sum(sizes)``, its training share shrinks; extra images are left unused.
    """
    n_train, n_val, n_test = sizes
    out: dict[int, str] = {}
    by_class: dict[int, list[int]] = {}
    for n, c in sorted(labels.items()):
        by_class.setdefault(c, []).append(n)
    for c, numbers in sorted(by_class.items()):
        order = np.random.default_rng([seed, c]).permutation(numbers).tolist()
        val, test = order[:n_val], order[n_val:n_val + n_test]
        train = order[n_val + n_test:n_val + n_test + n_train]
        for name, part in (("train", train), ("validation", val), ("test", test)):
            out.update({int(n): name for n in part})
    return out


def official_split(mat_path: Path, which: int, labels: dict[int, int]) -> dict[int, str]:
    """Split ``which`` (1, 2 or 3) of ``datasplits.mat``: ids in ``trn``/``val``/``tst``.

    Images that are not in ``labels`` (because they did not open) are dropped.
    """
    arrays = read_official_splits(mat_path)
    out: dict[int, str] = {}
    for key, name in (("trn", "train"), ("val", "validation"), ("tst", "test")):
        for n in arrays[f"{key}{which}"]:
            if int(n) in labels:
                out[int(n)] = name
    return out


def assign_split(cfg: Config, labels: dict[int, int]) -> dict[int, str]:
    """The split the configuration asks for: ``seeded`` or ``official1..3``."""
    if cfg.split == "seeded":
        return seeded_split(labels, cfg.split_sizes, cfg.seed)
    return official_split(download_official_splits(cfg), int(cfg.split[-1]), labels)


def split_dir(cfg: Config) -> Path:
    """Where the class folders of the current split live (:attr:`Config.split_dir`)."""
    return cfg.split_dir


def _split_params(cfg: Config, md5: str | None) -> dict[str, object]:
    return {"archive": cfg.archive_url, "md5": md5, "split": cfg.split,
            "sizes": list(cfg.split_sizes), "seed": cfg.seed}


#: How a message names each setting of ``split.json`` (:func:`split_differences`).
_SPLIT_SETTING_NAMES: dict[str, str] = {"archive": "archive (FLOWERS17_URL)", "md5": "archive md5 (FLOWERS17_MD5)",
                                        "split": "split (FLOWERS_SPLIT)", "seed": "seed (FLOWERS_SEED)",
                                        "sizes": "split sizes (FLOWERS_SPLIT_SIZES)"}


def split_differences(saved: dict[str, object], cfg: Config) -> list[str]:
    """How a ``split.json`` record's settings differ from ``cfg``'s: ``"seed (FLOWERS_SEED) 7 -> 42"``, ...

    Empty when the split on disk was made with this configuration's split settings and archive.
    """
    params = _split_params(cfg, expected_md5(cfg))
    return [f"{_SPLIT_SETTING_NAMES[key]} {saved.get(key)!r} -> {value!r}"
            for key, value in params.items() if saved.get(key) != value]


def write_split(cfg: Config, extracted: Path, assignment: dict[int, str]) -> Path:
    """Write the split as class folders plus ``manifest.csv`` and ``split.json``; return the split folder.

    The loop is lesson 01's cell: every part gets every class folder, and
    each image is hard-linked into its own (copied where the file system
    cannot link), inside :func:`new_split`, which makes it safe.
    """
    with new_split(cfg, assignment) as tmp:
        for part in SPLIT_NAMES:
            for label in range(len(SPECIES)):
                (tmp / part / class_folder(label)).mkdir(parents=True)
        for n, part in assignment.items():
            src = image_path(extracted, n)
            dst = tmp / part / class_folder(label_of(n)) / src.name
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
    return split_dir(cfg)


@contextmanager
def new_split(cfg: Config, assignment: dict[int, str]) -> Iterator[Path]:
    """An empty ``<split>.tmp/`` to write ``assignment``'s class folders into, swapped in for the split at the end.

    :func:`helpers.split_folders.new_split` with Flowers17's manifest: on
    leaving the block, it writes ``manifest.csv`` (one row per image of
    ``assignment``) and ``split.json``, checks that the folders hold every
    class folder of each part and exactly the images the manifest lists, and
    only then replaces the old split. An error in the block, folders that do
    not match, or an interruption leave the old split as it was; a split
    already exactly the new one is kept as it is.

    Raises:
        FlowersError: when the folders written in the block do not match ``assignment``.
    """
    require_flowers17(cfg)   # a run on your own photos must never get Flowers17 in its split folder
    with split_folders.new_split(cfg, lambda tmp: _finish_split(cfg, tmp, assignment)) as tmp:
        yield tmp


def _finish_split(cfg: Config, tmp: Path, assignment: dict[int, str]) -> None:
    rows = []
    for n, part in sorted(assignment.items()):
        label = label_of(n)
        rows.append({"file": f"{part}/{class_folder(label)}/{image_path(tmp, n).name}", "image": n,
                     "label": label, "species": SPECIES[label], "split": part})
    with open(tmp / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "image", "label", "species", "split"])
        writer.writeheader()
        writer.writerows(rows)
    missing = [f"{part}/{class_folder(label)}" for part in SPLIT_NAMES for label in range(len(SPECIES))
               if not (tmp / part / class_folder(label)).is_dir()]
    problem = f"{len(missing)} class folder(s) are missing, e.g. {missing[0]}" if missing else split_problem(tmp)
    if problem is not None:
        raise FlowersError(f"The new class folders do not match the split: {problem}. The split in "
                           f"{split_dir(cfg)} was left as it was; fix the cell and run it again.")
    record = _split_params(cfg, expected_md5(cfg))
    archive = cfg.work_dir / "downloads" / ARCHIVE_NAME
    # The archive's real md5, even when FLOWERS17_MD5 is empty and nothing was checked.
    record["archive_md5"] = md5_of(archive) if archive.exists() else record["md5"]
    (tmp / "split.json").write_text(json.dumps(record))


def split_counts(assignment: dict[int, str]) -> dict[str, Counter]:
    """Images per class for each split: ``{"train": Counter({0: 40, ...}), ...}``."""
    counts: dict[str, Counter] = {name: Counter() for name in SPLIT_NAMES}
    for n, part in assignment.items():
        counts[part][label_of(n)] += 1
    return counts


def check_split(assignment: dict[int, str], labels: dict[int, int]) -> None:
    """Check that the split is leak-free: every image in exactly one split, only known images.

    A dict already gives each image one split; this also checks that the split
    uses only labelled (readable) images and that every split is non-empty.

    Raises:
        FlowersError: naming the problem (an archive with too few images, say).
    """
    unknown = set(assignment) - set(labels)
    if unknown:
        raise FlowersError(f"The split uses images that are not labelled (did not open): {sorted(unknown)[:5]}.")
    for name in SPLIT_NAMES:
        if not any(p == name for p in assignment.values()):
            raise FlowersError(
                f"The {name} split is empty: the archive has only {len(labels)} readable Flowers17 images, "
                f"too few for this split. Check that FLOWERS17_URL points at the full archive "
                f"({N_IMAGES:,} images), or ask for fewer images per class.")


@dataclass(frozen=True)
class PreparedSplit:
    """What :func:`prepare_split` did, for the lesson to show."""

    folder: Path
    assignment: dict[int, str]
    bad_images: list[tuple[str, str]]


def prepare_split(cfg: Config, verbose: bool = True) -> PreparedSplit:
    """Download, check, label, split and write: lesson 01 in one call (Flowers17 only)."""
    require_flowers17(cfg)
    with data_lock(cfg):
        extracted = download_archive(cfg, verbose=verbose)
        checked = check_images(extracted)
        for name, reason in checked.bad:
            print(f"Left out {name}: {reason}.")
        if checked.unlisted:
            print(unlisted_message(checked.unlisted))
        labels = label_images(checked.good)
        assignment = assign_split(cfg, labels)
        check_split(assignment, labels)
        folder = write_split(cfg, extracted, assignment)
    return PreparedSplit(folder, assignment, checked.bad)


def ensure_split(cfg: Config, verbose: bool = True) -> Path:
    """The split folder for ``cfg``, preparing it first when it is missing, different or damaged.

    With :attr:`Config.photos` set, this is your folder's split
    (:func:`helpers.own_split.ensure_photo_split`). Later lessons call this,
    so each runs on its own: a split made by lesson 01 with the same settings,
    whose folders still match its manifest, is reused as it is. Anything else
    is repaired by preparing the split again, which the function says (a
    damaged ``split.json``, a deleted class folder...).
    """
    if cfg.photos is not None:
        return own_split.ensure_photo_split(cfg, verbose=verbose)
    folder = split_dir(cfg)
    with data_lock(cfg):
        why = split_folders.reuse_problem(folder, lambda saved: split_differences(saved, cfg))
        if why is None:
            return folder
        kind, sentence = why
        if kind == "missing":
            sentence = "No split yet (lesson 01 makes it); preparing it now."
        if verbose or kind in ("damaged", "altered"):
            print(sentence)
        return prepare_split(cfg, verbose=verbose).folder


def counts_table(assignment: dict[int, str]) -> str:
    """A text table of images per species in each split, with totals."""
    counts = split_counts(assignment)
    width = max(len(s) for s in SPECIES)
    lines = [f"{'species':<{width}}  {'train':>5}  {'validation':>10}  {'test':>4}"]
    for label, name in enumerate(SPECIES):
        row = [counts[part][label] for part in SPLIT_NAMES]
        lines.append(f"{name:<{width}}  {row[0]:>5}  {row[1]:>10}  {row[2]:>4}")
    totals = [sum(counts[part].values()) for part in SPLIT_NAMES]
    lines.append(f"{'total':<{width}}  {totals[0]:>5}  {totals[1]:>10}  {totals[2]:>4}")
    return "\n".join(lines)


def class_names(cfg: Config) -> list[str]:
    """The names of the classes, in the order of the model's outputs: Flowers17's species, or your folder's
    class folders (sorted, as Keras numbers them). Your folder's names are read from its split, which
    :func:`ensure_split` makes."""
    return list(SPECIES) if cfg.photos is None else own_split.class_names(split_dir(cfg))
