"""A learner's own folder of photos, ``my_photos/<class name>/*.jpg``: read, checked and fingerprinted, never changed.

:func:`scan_folder` reads the classes from the folder names and the photos
from each class folder, and checks every photo with :func:`helpers.images.photo_problem`,
the check every photo of the course gets. A file that is not a usable photo
is left out and named (:attr:`PhotoFolder.left_out`). A folder that cannot
work as a whole (missing, no class folders, one class, an empty class,
photos loose in the top folder, folders inside a class folder, a class
named like a split) stops with one :class:`~helpers.errors.FlowersError`
that says what to do. :func:`check_split_counts` stops when a class has
too few photos for the split, and :func:`seeded_assignment` splits the
photos of each class by fractions (60/20/20, say), seeded as Flowers17's
split is. :func:`fingerprint` sums up the folder's contents, so that a model
can be tied to the exact photos it came from.

Nothing here writes, moves or deletes a file: the folder is only read.
The module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from helpers.config import split_fractions_of
from helpers.errors import FlowersError
from helpers.files import md5_of
from helpers.images import photo_problem

#: The file endings Keras' ``flow_from_directory`` reads (``white_list_formats``); other files are left out.
PHOTO_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")

#: Folder names that mean the folder is already split (the course splits it itself).
SPLIT_NAMES: tuple[str, ...] = ("train", "training", "val", "valid", "validation", "test", "testing")

#: The fewest photos of a class in each split (train, validation, test): a class needs their sum.
MIN_PER_SPLIT: tuple[int, int, int] = (3, 1, 1)

#: Folders that are no class: what macOS's zip tool adds (hidden names, ``.*``, are skipped too).
NOT_CLASSES: tuple[str, ...] = ("__MACOSX",)

#: How many names a message lists before "and N more".
SHOWN = 3


@dataclass(frozen=True)
class PhotoFolder:
    """What :func:`scan_folder` found: the usable photos of each class, and what it left out."""

    root: Path
    #: Class name (the folder's name) -> its usable photos, sorted by name.
    classes: dict[str, list[Path]]
    #: Files left out, with the reason, sorted by path.
    left_out: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        """The class names in Keras' order (``flow_from_directory`` sorts the folder names)."""
        return sorted(self.classes)

    def counts(self) -> dict[str, int]:
        """Usable photos per class, in :attr:`class_names` order."""
        return {name: len(self.classes[name]) for name in self.class_names}


def _listing(names: list[str], shown: int = SHOWN) -> str:
    """``a, b, c and 4 more``."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _is_photo_name(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_SUFFIXES


def _entries(folder: Path) -> list[Path]:
    """What ``folder`` holds, by name, less hidden names and :data:`NOT_CLASSES`.

    Raises:
        FlowersError: when the folder cannot be listed (no permission to read it, say).
    """
    try:
        return sorted((p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in NOT_CLASSES),
                      key=lambda p: p.name)
    except OSError as exc:
        raise FlowersError(f"The folder {folder} cannot be read ({exc.strerror or type(exc).__name__}). Give "
                           f"yourself permission to read it (on a Mac: System Settings > Privacy & Security > "
                           f"Files and Folders), or copy the photos somewhere you can read.") from None


def scan_folder(root: Path | str, check_photos: bool = True) -> PhotoFolder:
    """Read ``root``'s class folders and their photos; leave out, and name, every file that cannot be used.

    Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are
    skipped without a word, and so is ``__MACOSX``. With ``check_photos``, each
    photo is opened and decoded (:func:`helpers.images.photo_problem`);
    without it, only the file endings are checked and that each is a regular
    file (fast, for a folder already checked).

    Raises:
        FlowersError: for a folder that cannot work as a whole; the sentence
            says what to change. The folder itself is never changed.
    """
    root = Path(root).expanduser()
    where = "Set FLOWERS_PHOTOS (or the lesson's `photos` parameter) to a folder that holds one subfolder per class"
    if not root.exists():
        raise FlowersError(f"The photo folder {root} does not exist. {where}.")
    if not root.is_dir():
        raise FlowersError(f"The photo folder {root} is a file, not a folder. {where}.")
    entries = _entries(root)
    folders = [p for p in entries if p.is_dir()]
    loose = [p.name for p in entries if p.is_file() and _is_photo_name(p)]
    if loose:
        raise FlowersError(
            f"{root} holds {len(loose)} photo(s) directly ({_listing(loose)}). The course reads each class from "
            f"a subfolder, so it cannot tell their class: move each one into a subfolder named after its class "
            f"({root / 'roses'}/, say).")
    if not folders:
        raise FlowersError(f"{root} has no subfolders. Put each class's photos in a subfolder named after the "
                           f"class: {root / 'roses'}/, {root / 'tulips'}/, and so on.")
    split_like = [p.name for p in folders if p.name.lower() in SPLIT_NAMES]
    if split_like:
        raise FlowersError(
            f"{root} has a folder named {split_like[0]!r}, like a split: it looks already split into train, "
            f"validation and test. The course splits the photos itself: point FLOWERS_PHOTOS at a folder whose "
            f"subfolders are the classes (put each class's photos together in one folder).")
    if len(folders) == 1:
        raise FlowersError(f"{root} has only one class folder ({folders[0].name}). A classifier needs at least "
                           f"two classes: add a folder for each other class.")
    classes: dict[str, list[Path]] = {}
    left_out: list[tuple[Path, str]] = []
    for folder in folders:
        inside = _entries(folder)
        nested = [p.name for p in inside if p.is_dir()]
        if nested:
            raise FlowersError(
                f"The class folder {folder} has folders inside it ({_listing(nested)}). The course uses only the "
                f"photos directly in each class folder, so theirs would be left out: move their photos up into "
                f"{folder}/, or make each one a class folder of its own in {root}.")
        photos = []
        for path in inside:
            if not _is_photo_name(path):
                left_out.append((path, f"not a photo file Keras reads (it reads {', '.join(PHOTO_SUFFIXES)})"))
                continue
            problem = photo_problem(path) if check_photos else (None if path.is_file() else "not a regular file")
            if problem is None:
                photos.append(path)
            else:
                left_out.append((path, problem))
        if not inside:
            raise FlowersError(f"The class folder {folder} is empty. Add its photos, or remove the folder if "
                               f"{folder.name!r} is not a class.")
        classes[folder.name] = photos
    if not any(classes.values()):
        reasons = [f"{p.relative_to(root)}: {why}" for p, why in left_out]
        raise FlowersError(f"No file in {root} is a photo the course can read ({len(left_out)} left out: "
                           f"{'; '.join(reasons[:SHOWN])}). Use JPEG or PNG photos.")
    unusable = [name for name, photos in classes.items() if not photos]
    if unusable:
        raise FlowersError(f"The class folder {root / unusable[0]} has no photo the course can read (its files "
                           f"were left out: {_listing([p.name for p, _ in left_out if p.parent.name == unusable[0]])}"
                           f"). Add readable JPEG or PNG photos, or remove the folder.")
    return PhotoFolder(root=root, classes=classes, left_out=left_out)


def split_counts(count: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """How a class of ``count`` photos divides into train, validation and test at ``fractions``.

    Validation and test get ``round(count * fraction)``, at least
    :data:`MIN_PER_SPLIT`'s; train gets the rest. When that leaves train
    fewer than its minimum, the larger of validation and test gives photos
    back first, so every class of at least ``sum(MIN_PER_SPLIT)`` photos
    splits (3 / 1 / 1 at the least). Raise with
    :func:`check_split_counts` first when the class is too small.

    Raises:
        FlowersError: for fractions :func:`helpers.config.split_fractions_of` refuses.
    """
    fractions = split_fractions_of(fractions)
    validation = max(MIN_PER_SPLIT[1], round(count * fractions[1] / sum(fractions)))
    test = max(MIN_PER_SPLIT[2], round(count * fractions[2] / sum(fractions)))
    while count - validation - test < MIN_PER_SPLIT[0] and (validation > MIN_PER_SPLIT[1] or test > MIN_PER_SPLIT[2]):
        if validation - MIN_PER_SPLIT[1] >= test - MIN_PER_SPLIT[2]:
            validation -= 1
        else:
            test -= 1
    return count - validation - test, validation, test


def fewest_photos(fractions: tuple[float, float, float]) -> int:
    """The fewest photos a class needs so that every split gets at least :data:`MIN_PER_SPLIT`'s."""
    count = sum(MIN_PER_SPLIT)
    while split_counts(count, fractions)[0] < MIN_PER_SPLIT[0]:
        count += 1
    return count


def check_split_counts(folder: PhotoFolder, fractions: tuple[float, float, float]) -> None:
    """Stop when a class has too few usable photos for the split, naming it and the minimum.

    Raises:
        FlowersError: for the smallest such class; the others are counted.
    """
    need = fewest_photos(fractions)
    small = sorted((n, name) for name, n in folder.counts().items() if n < need)
    if small:
        n, name = small[0]
        others = f" ({len(small) - 1} other class(es) too)" if len(small) > 1 else ""
        raise FlowersError(
            f"The class {name!r} has {n} usable photo(s); the split "
            f"{'/'.join(f'{f:g}' for f in fractions)} needs at least {need} per class{others}, so that train, "
            f"validation and test each get some. Add photos to {folder.root / name}/, or remove the class.")


def fingerprint(folder: PhotoFolder) -> str:
    """An md5 of the folder's contents: each usable photo's path (from the top folder), size and md5.

    Renaming, adding, removing or changing a photo changes it; touching a
    file without changing it does not. A photo that cannot be read (no
    permission, or gone since the folder was listed) counts as its name and
    the error, so the fingerprint changes when it becomes readable again.
    """
    h = hashlib.md5()
    for name in folder.class_names:
        for path in folder.classes[name]:
            h.update(f"{path.relative_to(folder.root).as_posix()}\t{_contents_print(path)}\n".encode())
    return h.hexdigest()


def _contents_print(path: Path) -> str:
    """``size<TAB>md5`` of a file, or what stopped it being read (``unreadable<TAB>errno``)."""
    try:
        return f"{path.stat().st_size}\t{md5_of(path)}"
    except OSError as exc:
        return f"unreadable\t{exc.errno}"


def seeded_assignment(folder: PhotoFolder, fractions: tuple[float, float, float],
                      seed: int) -> dict[Path, str]:
    """A stratified, seeded split of the folder's photos: each photo's part, ``train``, ``validation`` or ``test``.

    As Flowers17's seeded split does (:func:`helpers.data.seeded_split`):
    each class is shuffled with its own generator seeded from ``(seed, class
    index)``, so the same seed and photos always give the same split, and a
    photo added to one class leaves the others' splits as they were. Each
    class divides by :func:`split_counts`.

    Raises:
        FlowersError: when a class is too small (:func:`check_split_counts`).
    """
    import numpy as np  # here: the folder check itself needs no NumPy

    check_split_counts(folder, fractions)
    out: dict[Path, str] = {}
    for index, name in enumerate(folder.class_names):
        photos = folder.classes[name]
        _, n_val, n_test = split_counts(len(photos), fractions)
        order = [photos[i] for i in np.random.default_rng([seed, index]).permutation(len(photos))]
        for part, chunk in (("validation", order[:n_val]), ("test", order[n_val:n_val + n_test]),
                            ("train", order[n_val + n_test:])):
            out.update({path: part for path in chunk})
    return out


def duplicate_groups(folder: PhotoFolder) -> list[list[Path]]:
    """Photos whose bytes are identical (the same md5), each group sorted by path; groups of two or more only."""
    by_md5: dict[str, list[Path]] = {}
    for name in folder.class_names:
        for path in folder.classes[name]:
            try:
                by_md5.setdefault(md5_of(path), []).append(path)
            except OSError:
                continue   # gone or unreadable since it was checked: not a copy of anything
    return sorted((sorted(group) for group in by_md5.values() if len(group) > 1), key=lambda g: g[0])


def without_duplicates(folder: PhotoFolder) -> PhotoFolder:
    """The folder's photos with each exact copy left out, and named, so that no photo is in two splits.

    - Copies within one class: the first by name is kept, the others left out
      (harmless, but a copy in the test split would be a photo seen in training).
    - The same photo in two or more classes: a label conflict, since it cannot
      be both. Every copy is left out, naming the others, for you to decide.

    Only the returned description changes; no file is touched.
    """
    dropped: dict[Path, str] = {}
    for group in duplicate_groups(folder):
        classes = sorted({p.parent.name for p in group})
        if len(classes) > 1:
            for path in group:
                others = ", ".join(str(p.relative_to(folder.root)) for p in group if p != path)
                dropped[path] = (f"the same photo is also in another class ({others}): a photo cannot be two "
                                 f"classes, so every copy is left out; keep it in the one folder it belongs to")
        else:
            kept = min(group, key=lambda p: (len(p.name), p.name))   # "photo.jpg" rather than "photo (1).jpg"
            for path in group:
                if path != kept:
                    dropped[path] = f"an exact copy of {kept.name} in the same class (kept once)"
    if not dropped:
        return folder
    classes = {name: [p for p in photos if p not in dropped] for name, photos in folder.classes.items()}
    emptied = [name for name, photos in classes.items() if not photos]
    if emptied:
        raise FlowersError(f"Every photo of the class folder {folder.root / emptied[0]} is also in another class "
                           f"folder, so the course cannot tell which class they are. Keep each photo in the one "
                           f"folder it belongs to.")
    left_out = sorted([*folder.left_out, *dropped.items()], key=lambda item: item[0])
    return PhotoFolder(root=folder.root, classes=classes, left_out=left_out)
