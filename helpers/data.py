"""Download, check, label and split the Oxford Flowers17 archive.

The steps, each one function, in the order lesson 01 teaches them:

1. :func:`download_archive`: ``keras.utils.get_file`` downloads (or finds in
   its cache) ``17flowers.tgz``, checks its md5 and extracts it.
2. :func:`check_images`: every listed JPEG must open; the ones that do not
   are reported and left out.
3. :func:`label_images`: image *n* belongs to species ``(n - 1) // 80``.
4. :func:`assign_split`: a seeded, stratified split (or one of the three
   official splits from ``datasplits.mat``).
5. :func:`write_split`: ``train/``, ``validation/`` and ``test/`` class folders
   for ``flow_from_directory``, plus ``manifest.csv``.

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
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers import synthetic
from helpers.config import Config
from helpers.errors import FlowersError
from helpers.files import write_text_atomic

#: The 17 species in the official order: image n has species SPECIES[(n - 1) // 80].
SPECIES: tuple[str, ...] = (
    "Daffodil", "Snowdrop", "Lily of the Valley", "Bluebell", "Crocus", "Iris",
    "Tigerlily", "Tulip", "Fritillary", "Sunflower", "Daisy", "Colts' Foot",
    "Dandelion", "Cowslip", "Buttercup", "Windflower", "Pansy",
)
IMAGES_PER_CLASS = 80
N_IMAGES = len(SPECIES) * IMAGES_PER_CLASS
SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
ARCHIVE_NAME = "17flowers.tgz"
_IMAGE_NAME = re.compile(r"^image_(\d{4})\.jpg$")


def class_folder(label: int) -> str:
    """The folder name of a class: ``00_daffodil`` ... ``16_pansy``.

    The number in front keeps the folders' alphabetical order, which is the
    order ``flow_from_directory`` numbers classes in, equal to the official one.
    """
    slug = re.sub(r"[^a-z]+", "_", SPECIES[label].lower()).strip("_")
    return f"{label:02d}_{slug}"


# --------------------------------------------------------------------------- state on disk

#: Seconds a second process waits for the data folder's lock before giving up.
LOCK_TIMEOUT = 600.0


@contextmanager
def data_lock(cfg: Config, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of the profile's data folder while downloading, extracting or splitting.

    Two processes that prepare the same data at once (two lessons started
    together, say) would otherwise write into the same folders. The second one
    waits for the first; the split the first one made is then reused. The lock
    (``filelock``) is re-entrant within a process and is released when its
    holder ends, even by a crash, so it never goes stale.

    Raises:
        FlowersError: when another process holds the lock for over ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(cfg.work_dir / ".lock", is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"Another process is preparing the data in {cfg.work_dir}; waiting for it to finish.")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise FlowersError(
                f"Another process has been preparing the data in {cfg.work_dir} for over {timeout:.0f} s. "
                f"Let it finish (or stop it) and run the cell again.") from None
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------- download


def _download_message(cfg: Config, reason: str) -> str:
    where = cfg.work_dir / "downloads" / ARCHIVE_NAME
    return (
        f"Could not download the Flowers17 archive from {cfg.archive_url} ({reason}).\n"
        f"What to do next: check your internet connection and run the cell again; or download "
        f"{ARCHIVE_NAME} yourself and put it at {where}; or point FLOWERS17_URL at your copy "
        f"(a file:// URL works); or try the course offline with FLOWERS_PROFILE=smoke."
    )


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def expected_md5(cfg: Config) -> str | None:
    """The md5 the archive must have: the configured one, or the synthetic archive's own.

    In the smoke profile the project's "server" is a folder on disk; this makes
    sure it holds the synthetic archive and returns the md5 recorded for it.
    """
    if cfg.synthetic:
        return synthetic.ensure_synthetic_source(cfg.data_dir / "synthetic", seed=0)
    return cfg.archive_md5


def _kept_file_message(path: Path, actual: str, expected: str, variable: str, url: str) -> str:
    return (f"{path} is not the file the course expects: its md5 is {actual}, not {expected}. "
            f"The course did not download it, so it was kept. If it is your own copy (a repack, "
            f"say), use it with {variable}={actual} (or {variable}= to skip the check); otherwise "
            f"move it away and run the cell again to download it from {url}.")


def _fetch(cfg: Config, name: str, url: str, md5: str | None, variable: str) -> tuple[Path, bool]:
    """``downloads/<name>``: a copy already there (checked), or a fresh download; and whether it is fresh.

    A download goes to ``<name>.part`` and gets the real name only after
    ``get_file`` has checked its md5; a failed one is deleted. A finished
    download is recorded in ``<name>.source`` (its URL and md5): when the
    URL or the md5 changes, the course downloads again, replacing its own
    file. A file without that record was put there by the learner and is
    never deleted: when its md5 is not the expected one, the course stops
    with its real md5 and the variable that accepts it.

    Raises:
        FlowersError: for a kept file of the wrong md5, an unreachable URL,
            or a download that fails its md5 check.
    """
    from keras.utils import get_file

    downloads = cfg.work_dir / "downloads"
    # get_file silently falls back to /tmp/.keras when the cache folder does not exist yet.
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / name
    source = downloads / f"{name}.source"
    if target.exists() and source.exists():  # the course's own download: reuse it only for the same source
        try:
            recorded = json.loads(source.read_text())
        except ValueError:
            recorded = None
        if recorded == {"url": url, "md5": md5} and (md5 is None or synthetic.md5_of(target) == md5):
            return target, False
        print(f"The {name} in {downloads} came from another source ({recorded}); downloading it again.")
        _remove(target)
        _remove(source)
    if target.exists():
        if md5 is not None and (actual := synthetic.md5_of(target)) != md5:
            raise FlowersError(_kept_file_message(target, actual, md5, variable, url))
        return target, False
    _remove(source)
    partial = downloads / f"{name}.part"
    _remove(partial)
    try:
        get_file(fname=partial.name, origin=url, file_hash=md5, hash_algorithm="md5",
                 cache_dir=str(cfg.work_dir), cache_subdir="downloads")
    except ValueError as exc:
        _remove(partial)
        if "hash" not in str(exc).lower():
            raise
        raise FlowersError(
            f"The file downloaded from {url} is corrupt or incomplete: its md5 is not {md5}. The "
            f"course deleted what it downloaded; run the cell again to download it again. If the "
            f"file at that address is a repack, set {variable} to its md5 (or to an empty value "
            f"to skip the check).") from None
    except Exception as exc:  # get_file wraps every network failure in a bare Exception
        _remove(partial)
        if "URL fetch failure" not in str(exc):
            raise
        raise Unreachable(str(exc).split(" -- ")[-1]) from None
    partial.rename(target)
    write_text_atomic(source, json.dumps({"url": url, "md5": md5}))
    return target, True


def _downloaded_by_course(path: Path) -> bool:
    """Whether the course downloaded ``path`` itself (it then has a ``.source`` record)."""
    return path.with_name(f"{path.name}.source").exists()


class Unreachable(FlowersError):
    """A download that could not start (no network, no such file); the callers say what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def download_archive(cfg: Config, verbose: bool = True) -> Path:
    """Download, verify and extract the archive; return the folder that holds ``jpg/``.

    ``keras.utils.get_file`` does the work: it downloads the archive into
    ``<work_dir>/downloads/`` (unless a copy is already there), checks its
    md5, and extracts it into ``17flowers_extracted/``. A finished
    extraction is marked with a ``.complete`` file, so reruns cost nothing.

    Raises:
        FlowersError: when the URL cannot be reached, or the archive is corrupt
            or truncated. An archive the course downloaded in this call is
            deleted when it is bad; a file that was already there is kept, and
            the message says what to do with it. A partial extraction is
            always deleted.
    """
    with data_lock(cfg):
        return _download_archive(cfg, verbose)


def _download_archive(cfg: Config, verbose: bool) -> Path:
    from keras.utils import get_file

    downloads = cfg.work_dir / "downloads"
    archive = downloads / ARCHIVE_NAME
    extracted = downloads / "17flowers_extracted"
    marker = extracted / ".complete"
    md5 = expected_md5(cfg)
    if marker.exists() and marker.read_text(errors="replace").strip() == f"{cfg.archive_url} {md5}":
        if (extracted / "jpg" / "files.txt").exists():
            if verbose:
                print(f"Already downloaded and extracted: {extracted}")
            return extracted
        print(f"The extracted archive in {extracted} has lost jpg/files.txt; extracting it again.")
    elif extracted.exists() and verbose:
        print(f"The extraction in {extracted} is incomplete or from another archive; extracting again.")
    _remove(extracted)
    if verbose and md5 is None:
        print("FLOWERS17_MD5 is empty: the archive's checksum will NOT be checked.")
    try:
        _, fresh = _fetch(cfg, ARCHIVE_NAME, cfg.archive_url, md5, "FLOWERS17_MD5")
    except Unreachable as exc:
        raise FlowersError(_download_message(cfg, exc.reason)) from None

    def bad_archive(what: str) -> FlowersError:
        _remove(extracted)
        if fresh:
            _remove(archive)
            _remove(archive.with_name(f"{ARCHIVE_NAME}.source"))
            return FlowersError(f"{what} The course deleted the file it downloaded; check FLOWERS17_URL "
                                f"and run the cell again to download it again.")
        return FlowersError(f"{what} The course did not download {archive}, so it was kept: replace it "
                            f"with a good copy, or move it away to download the archive from "
                            f"{cfg.archive_url}.")

    try:  # the file is there and checked: get_file only extracts it
        get_file(fname=ARCHIVE_NAME, origin=cfg.archive_url, file_hash=md5, hash_algorithm="md5",
                 cache_dir=str(cfg.work_dir), cache_subdir="downloads", extract=True)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise bad_archive(f"The archive from {cfg.archive_url} could not be extracted ({type(exc).__name__}: "
                          f"{exc}). It is probably truncated or corrupt.") from None
    if not (extracted / "jpg" / "files.txt").exists():
        raise bad_archive(f"The file from {cfg.archive_url} is not the Flowers17 archive (no jpg/files.txt "
                          f"inside).")
    write_text_atomic(marker, f"{cfg.archive_url} {md5}\n")
    return extracted


# --------------------------------------------------------------------------- check and label


@dataclass(frozen=True)
class ImageCheck:
    """The outcome of :func:`check_images`."""

    #: Image numbers (1-based) that open, in order.
    good: list[int]
    #: ``(file name, reason)`` for every listed image that is left out.
    bad: list[tuple[str, str]]


def image_path(extracted: Path, number: int) -> Path:
    """The path of ``image_<number>.jpg`` inside the extracted archive."""
    return Path(extracted) / "jpg" / f"image_{number:04d}.jpg"


def check_images(extracted: Path) -> ImageCheck:
    """Open every image listed in ``jpg/files.txt``; report the ones that fail, and why.

    An image also fails when its name is not ``image_NNNN.jpg`` with NNNN in
    1..1360, since its species could not be known.

    Each JPEG is fully decoded (at reduced size, which JPEG allows cheaply), so
    truncated files are caught here rather than in the middle of training.
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
        try:
            with Image.open(listing.parent / name) as im:
                im.draft("RGB", (64, 64))
                im.load()
            good.append(int(m.group(1)))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            bad.append((name, f"it does not open ({type(exc).__name__}: {exc})"))
    return ImageCheck(good=sorted(good), bad=bad)


def label_of(number: int) -> int:
    """The class index of image ``number``: 80 consecutive images per species."""
    if not 1 <= number <= N_IMAGES:
        raise ValueError(f"image number {number} is outside 1..{N_IMAGES}")
    return (number - 1) // IMAGES_PER_CLASS


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


#: The arrays of ``datasplits.mat``: image numbers of the three official splits.
SPLITS_KEYS: tuple[str, ...] = tuple(f"{key}{which}" for which in (1, 2, 3) for key in ("trn", "val", "tst"))


def read_official_splits(path: Path) -> dict[str, np.ndarray]:
    """The nine arrays of ``datasplits.mat`` (``trn1``, ``val1``, ``tst1``, ... ``tst3``).

    Raises:
        FlowersError: when the file cannot be read or lacks one of them. A file
            the course downloaded is deleted (the next run downloads it again);
            a learner's own file is kept.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        return {key: np.asarray(mat[key]).astype(int).ravel() for key in SPLITS_KEYS}
    except Exception as exc:
        problem = f"missing the array {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        what = f"{path} is not a readable datasplits.mat ({problem})."
        if _downloaded_by_course(path):
            _remove(path)
            _remove(path.with_name(f"{path.name}.source"))
            raise FlowersError(f"{what} The course had downloaded it, so it deleted it: run the cell again "
                               f"to download it again.") from None
        raise FlowersError(f"{what} The course did not download it, so it was kept: replace it with a good "
                           f"copy, or move it away to download it from the configured FLOWERS17_SPLITS_URL.") from None


def download_official_splits(cfg: Config) -> Path:
    """Download (or reuse) ``datasplits.mat``, check that it reads, and return its path.

    Raises:
        FlowersError: when it cannot be had or read; a copy already in
            ``downloads/`` whose md5 is wrong is kept, and the message gives its md5.
    """
    if cfg.synthetic:
        synthetic.ensure_synthetic_source(cfg.data_dir / "synthetic", seed=0)
    with data_lock(cfg):
        try:
            path, _ = _fetch(cfg, "datasplits.mat", cfg.splits_url, cfg.splits_md5, "FLOWERS17_SPLITS_MD5")
        except Unreachable as exc:
            raise FlowersError(
                f"Could not get the official split file from {cfg.splits_url} ({exc.reason}). "
                f"Check your connection and run the cell again, point FLOWERS17_SPLITS_URL at a copy "
                f"(a path or a file:// URL), or use FLOWERS_SPLIT=seeded."
            ) from None
        read_official_splits(path)
    return path


def official_splits_if_available(cfg: Config) -> Path | None:
    """``datasplits.mat`` for lesson 01's comparison, or ``None`` when it cannot be had.

    Only ``FLOWERS_SPLIT=official1..3`` needs the file. With the seeded split
    the comparison is optional, so an offline run (or a local copy of the
    archive without the split file) prints why it skips it and goes on.

    Raises:
        FlowersError: when the file cannot be had and the configured split needs it.
    """
    try:
        return download_official_splits(cfg)
    except FlowersError as exc:
        if cfg.split != "seeded":
            raise
        print(f"Skipping the official splits, which the seeded split does not need. {exc}")
        return None


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
    """Where the class folders of the current split live."""
    return cfg.work_dir / "split"


def _split_params(cfg: Config, md5: str | None) -> dict[str, object]:
    return {"archive": cfg.archive_url, "md5": md5, "split": cfg.split,
            "sizes": list(cfg.split_sizes), "seed": cfg.seed}


def _same_split_settings(saved: dict[str, object], cfg: Config) -> bool:
    """Whether a ``split.json`` record was made with ``cfg``'s split settings and archive."""
    params = _split_params(cfg, expected_md5(cfg))
    return {key: saved.get(key) for key in params} == params


def write_split(cfg: Config, extracted: Path, assignment: dict[int, str]) -> Path:
    """Write the split as class folders plus ``manifest.csv`` and ``split.json``; return the split folder.

    The new split is built next to the old one and swapped in at the end, so
    a rerun leaves exactly the files of the new split (nothing stale from an
    earlier split) and an interrupted run leaves the old split intact.
    ``split.json`` records the settings and the archive the split was made
    from (:func:`ensure_split` compares them). Images are hard links where the
    file system allows, copies otherwise.
    """
    with data_lock(cfg):
        return _write_split(cfg, extracted, assignment)


def _write_split(cfg: Config, extracted: Path, assignment: dict[int, str]) -> Path:
    target = split_dir(cfg)
    tmp = target.with_name("split.tmp")
    _remove(tmp)
    for name in SPLIT_NAMES:
        for label in range(len(SPECIES)):
            (tmp / name / class_folder(label)).mkdir(parents=True)
    rows = []
    for n, part in sorted(assignment.items()):
        label = label_of(n)
        src = image_path(extracted, n)
        dst = tmp / part / class_folder(label) / src.name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        rows.append({"file": f"{part}/{class_folder(label)}/{src.name}", "image": n,
                     "label": label, "species": SPECIES[label], "split": part})
    with open(tmp / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "image", "label", "species", "split"])
        writer.writeheader()
        writer.writerows(rows)
    record = _split_params(cfg, expected_md5(cfg))
    archive = cfg.work_dir / "downloads" / ARCHIVE_NAME
    # The archive's real md5, even when FLOWERS17_MD5 is empty and nothing was checked.
    record["archive_md5"] = synthetic.md5_of(archive) if archive.exists() else record["md5"]
    (tmp / "split.json").write_text(json.dumps(record))
    _remove(target.with_name("split.old"))
    if target.exists():
        target.rename(target.with_name("split.old"))
    tmp.rename(target)
    _remove(target.with_name("split.old"))
    return target


def read_manifest(folder: Path) -> list[dict[str, str]]:
    """The rows of a split's ``manifest.csv``."""
    with open(Path(folder) / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


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


def split_problem(folder: Path) -> str | None:
    """Why the split folder no longer matches its ``manifest.csv``, or ``None`` when it does.

    Every image the manifest lists must be in its class folder, and no other
    image may be there (a class folder deleted by hand, a photo dropped in).
    """
    try:
        listed = {row["file"] for row in read_manifest(folder)}
    except (OSError, ValueError, KeyError, csv.Error):
        return "its manifest.csv is missing or damaged"
    present = {p.relative_to(folder).as_posix() for name in SPLIT_NAMES if (folder / name).is_dir()
               for p in (folder / name).glob("*/*") if p.is_file()}
    missing, extra = sorted(listed - present), sorted(present - listed)
    if missing:
        return f"{len(missing)} image(s) of manifest.csv are missing, e.g. {missing[0]}"
    if extra:
        return f"{len(extra)} file(s) are not in manifest.csv, e.g. {extra[0]}"
    return None


@dataclass(frozen=True)
class PreparedSplit:
    """What :func:`prepare_split` did, for the lesson to show."""

    folder: Path
    assignment: dict[int, str]
    bad_images: list[tuple[str, str]]


def prepare_split(cfg: Config, verbose: bool = True) -> PreparedSplit:
    """Download, check, label, split and write: lesson 01 in one call."""
    with data_lock(cfg):
        extracted = download_archive(cfg, verbose=verbose)
        checked = check_images(extracted)
        for name, reason in checked.bad:
            print(f"Left out {name}: {reason}.")
        labels = label_images(checked.good)
        assignment = assign_split(cfg, labels)
        check_split(assignment, labels)
        folder = write_split(cfg, extracted, assignment)
    return PreparedSplit(folder, assignment, checked.bad)


def ensure_split(cfg: Config, verbose: bool = True) -> Path:
    """The split folder for ``cfg``, preparing it first when it is missing, different or damaged.

    Later lessons call this, so each runs on its own: a split made by lesson 01
    with the same settings, whose folders still match its manifest, is reused
    as it is. Anything else is repaired by preparing the split again, which
    the function says (a damaged ``split.json``, a deleted class folder...).
    """
    folder = split_dir(cfg)
    info = folder / "split.json"
    with data_lock(cfg):
        if info.exists():
            try:
                saved = json.loads(info.read_text())
            except (OSError, ValueError):
                saved = None
            if saved is None:
                print(f"{info} is damaged (an interrupted run?); preparing the split again.")
            elif not _same_split_settings(saved, cfg):
                if verbose:
                    print("The split on disk was made with other settings; preparing it again.")
            elif (problem := split_problem(folder)) is not None:
                print(f"The split in {folder} no longer matches what was written: {problem}. "
                      f"Preparing it again.")
            else:
                return folder
        elif verbose:
            print("No split yet (lesson 01 makes it); preparing it now.")
        return prepare_split(cfg, verbose=verbose).folder


def run_identity(cfg: Config) -> dict[str, object]:
    """What a run's models, logs, figures and results depend on: profile, backbone, image size, split, archive.

    The archive's md5 is the one recorded with the split on disk (``split.json``).
    Lessons 05-07 compare it (``training.check_identity``) before they use
    what an earlier lesson wrote.
    """
    info = split_dir(cfg) / "split.json"
    try:
        saved = json.loads(info.read_text()) if info.exists() else {}
        md5 = saved.get("archive_md5", saved.get("md5"))
    except (OSError, ValueError):
        md5 = None
    return {"profile": cfg.profile, "backbone": cfg.backbone, "image_size": cfg.image_size,
            "split": cfg.split, "seed": cfg.seed, "split_sizes": list(cfg.split_sizes), "archive_md5": md5}


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
