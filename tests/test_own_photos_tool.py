"""The example folder of "your own photos" (`helpers.example_photos`, `python -m tools.own_photos`).

It runs on the synthetic archive everywhere, and on the real photos where
``../shared`` has them (development machines only).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import example_photos as own_photos
from helpers import photo_folder
from helpers.config import REPO_ROOT
from helpers.errors import FlowersError
from tools import own_photos as tool

SHARED_ARCHIVE = REPO_ROOT.parent / "shared" / "flowers17" / "17flowers.tgz"


def _check_the_folder(out: Path) -> None:
    found = photo_folder.scan_folder(out)
    plan = {folder: n for folder, (_, n) in own_photos.PLAN.items()}
    added = {folder: sum(copy.startswith(folder + "/") for copy, _ in own_photos.DUPLICATES) for folder in plan}
    assert all((out / odd).is_file() for odd in own_photos.ODD_PHOTOS), "each in place of its original"
    assert found.counts() == {folder: plan[folder] + added[folder] for folder in sorted(plan)}
    assert sorted(str(p.relative_to(out)) for p, _ in found.left_out) == sorted(own_photos.BAD_FILES)
    assert " " in "".join(found.class_names), "a class name with a space"
    counts = found.counts().values()
    assert max(counts) / min(counts) > 1.5, "uneven enough for the class-weight comparison"
    photo_folder.check_split_counts(found, (0.6, 0.2, 0.2))


def test_the_tool_builds_the_folder_from_the_synthetic_archive_and_leaves_other_folders_alone(
        tmp_path: Path, synthetic_source: Path) -> None:
    archive = synthetic_source / "17flowers.tgz"
    out = own_photos.build(archive, tmp_path / "own photos")
    _check_the_folder(out)
    first = {p.name: p.read_bytes() for p in (out / "Daisy").iterdir()}
    own_photos.build(archive, out)                                       # again: the same folder
    assert {p.name: p.read_bytes() for p in (out / "Daisy").iterdir()} == first
    theirs = tmp_path / "theirs"
    (theirs / "roses").mkdir(parents=True)
    (theirs / "roses" / "mine.jpg").write_bytes(b"a learner's photo")
    with pytest.raises(FlowersError, match="was not made by the course: it is left alone"):
        own_photos.build(archive, theirs)
    with pytest.raises(SystemExit, match="was not made by the course: it is left alone"):
        tool.main(["--archive", str(archive), "--out", str(theirs)])
    assert (theirs / "roses" / "mine.jpg").read_bytes() == b"a learner's photo"


@pytest.mark.skipif(not SHARED_ARCHIVE.exists(),
                    reason=f"the real Flowers17 photos are not at {SHARED_ARCHIVE} (only on development machines)")
def test_the_tool_builds_the_folder_from_the_real_photos(tmp_path: Path) -> None:
    before = SHARED_ARCHIVE.stat().st_mtime_ns
    _check_the_folder(own_photos.build(SHARED_ARCHIVE, tmp_path / "own-photos"))
    assert SHARED_ARCHIVE.stat().st_mtime_ns == before


def test_the_example_folder_is_made_once_in_the_data_folder_and_again_for_a_new_recipe(
        smoke_cfg_downloaded) -> None:
    cfg = smoke_cfg_downloaded
    out = own_photos.ensure_example_folder(cfg)
    assert out == cfg.work_dir / own_photos.FOLDER_NAME
    _check_the_folder(out)
    stamp = (out / own_photos.MARK).stat().st_mtime_ns
    assert own_photos.ensure_example_folder(cfg) == out and (out / own_photos.MARK).stat().st_mtime_ns == stamp
    (out / own_photos.MARK).write_text("version 1: an older recipe\n")
    (out / "Daisy" / "thumbnail.jpg").unlink()
    _check_the_folder(own_photos.ensure_example_folder(cfg))      # made again, whole
