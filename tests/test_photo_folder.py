"""A learner's own folder of photos (helpers.photo_folder): each bad layout is one message, and the folder is untouched.

Every test builds a small folder of real JPEG and PNG files drawn with
Pillow, and checks both the message and that every file and folder in it is
byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import photo_folder
from helpers.errors import FlowersError


def _photo(path: Path, seed: int, size: tuple[int, int] = (48, 40), fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            _photo(root / name / f"photo_{i:03d}.jpg", seed=100 * c + i)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every file's md5 and every folder, by path under ``root``."""
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


def _refused(root: Path, pattern: str, check: Callable[[Path], object] = photo_folder.scan_folder) -> None:
    before = _snapshot(root) if root.exists() else None
    with pytest.raises(FlowersError, match=pattern):
        check(root)
    assert (_snapshot(root) if root.exists() else None) == before, "the learner's folder was changed"


def test_a_good_folder_gives_its_classes_from_the_folder_names_and_leaves_out_bad_files_by_name(
        tmp_path: Path) -> None:
    root = _folder(tmp_path / "my photos é", {"sun flower": 7, "Rose": 5, "tulip": 9})   # spaces, non-ASCII
    _photo(root / "tulip" / "scan.png", seed=7, fmt="PNG")
    (root / "Rose" / "page.jpg").write_text("<html><body>Not Found</body></html>")       # a web page saved as .jpg
    (root / "Rose" / "notes.txt").write_text("bought on Saturday")
    (root / "Rose" / "cut.jpg").write_bytes((root / "Rose" / "photo_000.jpg").read_bytes()[:300])  # truncated
    (root / "tulip" / ".DS_Store").write_bytes(b"\0\1")                                   # hidden: skipped
    before = _snapshot(root)
    found = photo_folder.scan_folder(root)
    assert _snapshot(root) == before
    assert found.class_names == ["Rose", "sun flower", "tulip"]          # Keras' order: sorted names
    assert found.counts() == {"Rose": 5, "sun flower": 7, "tulip": 10}
    left = {p.name: why for p, why in found.left_out}
    assert set(left) == {"page.jpg", "notes.txt", "cut.jpg"}
    assert "not a photo file Keras reads" in left["notes.txt"]
    assert left["page.jpg"].startswith("it does not open as an image")
    assert left["cut.jpg"], "a truncated JPEG is caught when decoded, not in training"


@pytest.mark.parametrize("case, build, pattern", [
    ("missing", lambda root: None, r"The photo folder .*missing.* does not exist\. Set FLOWERS_PHOTOS"),
    ("a file", lambda root: (root.parent.mkdir(parents=True, exist_ok=True), root.write_text("x")),
     r"is a file, not a folder"),
    ("no subfolders", lambda root: root.mkdir(parents=True), r"has no subfolders\. Put each class's photos"),
    ("one class", lambda root: _folder(root, {"roses": 6}), r"only one class folder \(roses\).*at least two"),
    ("an empty class", lambda root: (_folder(root, {"roses": 6, "tulips": 6}), (root / "irises").mkdir()),
     r"The class folder .*irises is empty\. Add its photos, or remove the folder"),
    ("photos in the top folder", lambda root: (_folder(root, {"roses": 6, "tulips": 6}),
                                               _photo(root / "IMG_0001.jpg", 1)),
     r"holds 1 photo\(s\) directly \(IMG_0001\.jpg\).*move each one into a subfolder named after its class"),
    ("nested folders", lambda root: (_folder(root, {"roses": 6, "tulips": 6}),
                                     _photo(root / "roses" / "red" / "a.jpg", 2)),
     r"The class folder .*roses has folders inside it \(red\).*would be left out: move their photos up"),
    ("already split", lambda root: _folder(root, {"train": 6, "test": 6}),
     r"has a folder named 'test', like a split.*The course splits the photos itself"),
    ("no readable photo", lambda root: [(root / c).mkdir(parents=True) or (root / c / "a.jpg").write_text("x")
                                        for c in ("roses", "tulips")],
     r"No file in .* is a photo the course can read \(2 left out: roses/a\.jpg: "),
    ("a class of bad files", lambda root: (_folder(root, {"roses": 6, "tulips": 6}), (root / "irises").mkdir(),
                                           (root / "irises" / "a.gif").write_bytes(b"GIF89a")),
     r"The class folder .*irises has no photo the course can read \(its files were left out: a\.gif\)"),
])
def test_a_folder_that_cannot_work_is_one_message_and_is_left_as_it_was(
        tmp_path: Path, case: str, build: Callable[[Path], object], pattern: str) -> None:
    root = tmp_path / "missing" if case == "missing" else tmp_path / "my photos" / "set"
    build(root)
    _refused(root, pattern)


def test_a_class_too_small_for_the_split_is_named_with_the_minimum(tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos", {"roses": 20, "tulips": 4, "irises": 3})
    found = photo_folder.scan_folder(root)
    need = photo_folder.fewest_photos((0.6, 0.2, 0.2))
    assert need == 5, "3 to train on, 1 to validate, 1 to test"
    _refused(root, rf"The class 'irises' has 3 usable photo\(s\); the split 0\.6/0\.2/0\.2 needs at least {need} "
                   r"per class \(1 other class\(es\) too\).*Add photos to .*irises/, or remove the class",
             lambda _: photo_folder.check_split_counts(found, (0.6, 0.2, 0.2)))
    for wrong in ((0.6, 0.4, 0.0), (0.6, 0.2), (0.001, 0.5, 0.5), (float("nan"), 0.2, 0.2)):
        with pytest.raises(FlowersError, match="three numbers above 0"):
            photo_folder.check_split_counts(found, wrong)


def test_a_folder_it_cannot_read_is_one_message_and_macos_zip_leftovers_are_no_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    root = _folder(tmp_path / "photos", {"roses": 5, "tulips": 5, "__MACOSX": 2})
    assert photo_folder.scan_folder(root).class_names == ["roses", "tulips"]
    os.mkfifo(root / "roses" / "pipe.jpg")                                # a named pipe: never opened
    fast = photo_folder.scan_folder(root, check_photos=False)
    assert [(p.name, why) for p, why in fast.left_out] == [("pipe.jpg", "not a regular file")]
    (root / "roses" / "pipe.jpg").unlink()
    listing = Path.iterdir

    def unreadable(self: Path):                                          # as chmod 0 would be (not for root)
        if self.name == "tulips":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", unreadable)
    _refused(root, r"The folder .*tulips cannot be read \(Permission denied\)\. Give yourself permission")


@pytest.mark.parametrize("count", [5, 6, 9, 20, 37, 80, 200])
def test_each_split_of_a_class_gets_its_share_and_at_least_its_minimum(count: int) -> None:
    train, validation, test = photo_folder.split_counts(count, (0.6, 0.2, 0.2))
    assert train + validation + test == count
    assert (train, validation, test) >= photo_folder.MIN_PER_SPLIT
    assert min(validation, test) >= 1 and train >= 3
    assert abs(validation - 0.2 * count) <= 1 and abs(test - 0.2 * count) <= 1
    assert photo_folder.split_counts(80, (60, 20, 20)) == (48, 16, 16), "percentages work as well as fractions"


@pytest.mark.parametrize("fractions", [(0.6, 0.2, 0.2), (20, 40, 40), (0.1, 0.45, 0.45), (80, 10, 10)])
def test_every_class_of_five_photos_or_more_splits_whatever_the_fractions(fractions) -> None:
    assert photo_folder.fewest_photos(fractions) == 5
    for n in range(5, 120):
        parts = photo_folder.split_counts(n, fractions)
        least = photo_folder.MIN_PER_SPLIT
        assert sum(parts) == n and all(got >= low for got, low in zip(parts, least)), (n, parts)


def test_the_fingerprint_changes_with_the_photos_not_with_a_touch(tmp_path: Path) -> None:
    root = _folder(tmp_path / "photos", {"roses": 5, "tulips": 5})

    def print_now() -> str:
        return photo_folder.fingerprint(photo_folder.scan_folder(root))

    first = print_now()
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    (root / "roses" / "photo_000.jpg").touch()
    assert print_now() == first, "a new modification time alone is the same photos"
    (root / "roses" / "photo_000.jpg").rename(root / "roses" / "photo_100.jpg")
    renamed = print_now()
    assert renamed != first
    _photo(root / "tulips" / "photo_000.jpg", seed=999)                 # the same name, another photo
    assert print_now() not in (first, renamed)


def test_the_seeded_split_is_stratified_repeatable_and_a_new_photo_moves_no_other_class(tmp_path: Path) -> None:
    from collections import Counter

    root = _folder(tmp_path / "photos", {"roses": 30, "tulips": 12, "irises": 7})
    found = photo_folder.scan_folder(root)
    split = photo_folder.seeded_assignment(found, (0.6, 0.2, 0.2), seed=1)
    assert set(split) == {p for photos in found.classes.values() for p in photos}, "every photo, once"
    per_class = Counter((p.parent.name, part) for p, part in split.items())
    for name, photos in found.classes.items():
        expected = photo_folder.split_counts(len(photos), (0.6, 0.2, 0.2))
        assert tuple(per_class[(name, part)] for part in ("train", "validation", "test")) == expected
    assert photo_folder.seeded_assignment(found, (0.6, 0.2, 0.2), seed=1) == split, "the same seed, the same split"
    assert photo_folder.seeded_assignment(found, (0.6, 0.2, 0.2), seed=2) != split, "another seed, another split"
    _photo(root / "roses" / "photo_900.jpg", seed=900)
    again = photo_folder.seeded_assignment(photo_folder.scan_folder(root), (0.6, 0.2, 0.2), seed=1)
    assert {p: part for p, part in again.items() if p.parent.name != "roses"} == \
        {p: part for p, part in split.items() if p.parent.name != "roses"}


def test_the_smoke_profile_s_photo_folder_is_uneven_with_bad_files_and_duplicates(tmp_path: Path) -> None:
    from helpers import synthetic

    root = synthetic.write_photo_folder(tmp_path / "drawn photos")
    found = photo_folder.scan_folder(root)
    duplicates_in = {copy.split("/")[0] for copy, _ in synthetic.PHOTO_FOLDER_DUPLICATES}
    assert found.counts() == {name: n + (name in duplicates_in)
                              for name, (_, n) in sorted(synthetic.PHOTO_FOLDER_CLASSES.items())}
    assert sorted(str(p.relative_to(root)) for p, _ in found.left_out) == sorted(synthetic.PHOTO_FOLDER_BAD_FILES)
    assert any(" " in name for name in found.class_names)
    assert max(found.counts().values()) / min(found.counts().values()) > 1.5
    for copy, original in synthetic.PHOTO_FOLDER_DUPLICATES:
        assert (root / copy).read_bytes() == (root / original).read_bytes()
    photo_folder.check_split_counts(found, (0.6, 0.2, 0.2))
    again = synthetic.write_photo_folder(tmp_path / "again")
    assert _snapshot(again) == _snapshot(root), "the same seed draws the same bytes"
    assert synthetic.write_photo_folder(root) == root, "an existing drawn folder is used as it is"
    mine = _folder(tmp_path / "mine", {"roses": 5, "tulips": 5})
    _refused(mine, "is not the course's synthetic photo folder, so nothing is drawn into it",
             synthetic.write_photo_folder)
