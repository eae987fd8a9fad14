"""Your own photos (FLOWERS_PHOTOS): the setting, the split made of links in the data folder, the run identity.

The learner's folder is the synthetic one the smoke profile draws
(:func:`helpers.synthetic.write_photo_folder`): uneven classes, a class name
with a space, bad files, a copy within a class and a photo in two classes. Its
path has a space and a non-ASCII letter. After every step the folder must be
byte-identical: the course only reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest
from support import assert_single_readable_message

from helpers import data, own_split, photo_folder, runs, synthetic
from helpers.config import Config, load_config
from helpers.download import remove_path
from helpers.errors import FlowersError


def _contents(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (hidden ones too): its bytes and modification time."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return synthetic.write_photo_folder(tmp_path / "my photos é")


def _cfg(tmp_path: Path, photos: Path | None, **env: str) -> Config:
    environment = {"FLOWERS_PROFILE": "smoke", "FLOWERS_DATA_DIR": str(tmp_path / "data"),
                   "FLOWERS_BUILD_DIR": str(tmp_path / "build"), **env}
    if photos is not None:
        environment["FLOWERS_PHOTOS"] = str(photos)
    return load_config(environment)


# --------------------------------------------------------------------------- the setting


def test_the_setting_names_the_folder_and_flowers17_stays_the_default(tmp_path: Path, photos: Path) -> None:
    assert _cfg(tmp_path, None).photos is None
    assert _cfg(tmp_path, None, FLOWERS_PHOTOS="").photos is None, "empty means Flowers17"
    cfg = _cfg(tmp_path, photos)
    assert cfg.photos == photos and cfg.split_fractions == (60, 20, 20)
    assert load_config({"FLOWERS_PROFILE": "smoke"}, photos=str(photos)).photos == photos, "the lesson parameter"
    described = cfg.describe()
    assert f"photos       : {photos}" in described and "60/20/20 of each class" in described
    assert "archive" not in described, "an archive the run does not use is not listed"
    assert cfg.split_dir.parent == cfg.work_dir / "splits", "the split is made inside the data folder"
    written_otherwise = _cfg(tmp_path, photos, FLOWERS_SPLIT_FRACTIONS="0.7/0.15/0.15")
    assert written_otherwise.split_fractions == (70, 15, 15), "shares are percentages of their sum"
    assert _cfg(tmp_path, photos, FLOWERS_SPLIT_FRACTIONS="14,3,3").split_dir == written_otherwise.split_dir
    assert _cfg(tmp_path, photos, FLOWERS_SPLIT_FRACTIONS="0.6,0.2,0.2").split_dir == cfg.split_dir


def test_two_folders_of_one_name_get_two_splits(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "photos", tmp_path / "b" / "photos"
    assert _cfg(tmp_path, a).split_dir != _cfg(tmp_path, b).split_dir
    assert _cfg(tmp_path, a).split_dir != _cfg(tmp_path, a, FLOWERS_SEED="7").split_dir


@pytest.mark.parametrize(("env", "message"), [
    ({"FLOWERS_SPLIT_SIZES": "40,20,20"}, "FLOWERS_SPLIT_SIZES counts Flowers17's photos per species"),
    ({"FLOWERS_SPLIT": "official1"}, "your own photos (FLOWERS_PHOTOS) get a seeded split"),
    ({"FLOWERS_SPLIT_FRACTIONS": "60,20"}, "FLOWERS_SPLIT_FRACTIONS must be three numbers above 0"),
    ({"FLOWERS_SPLIT_FRACTIONS": "5,50,45"}, "training at least a tenth of their sum"),
    ({"FLOWERS_SPLIT_FRACTIONS": "60,0,40"}, "must be three numbers above 0"),
])
def test_settings_that_do_not_fit_your_photos_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(FlowersError, match=re.escape(message)):
        _cfg(tmp_path, tmp_path / "photos", **env)


def test_fractions_without_a_photo_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FlowersError, match="FLOWERS_PHOTOS is not set"):
        _cfg(tmp_path, None, FLOWERS_SPLIT_FRACTIONS="60,20,20")


# --------------------------------------------------------------------------- the split


def test_the_split_links_the_photos_and_leaves_the_folder_as_it_was(tmp_path: Path, photos: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = _contents(photos)
    cfg = _cfg(tmp_path, photos)
    split = data.ensure_split(cfg)
    said = capsys.readouterr().out
    assert split == cfg.split_dir
    assert data.class_names(cfg) == ["Pansy", "Tulip", "bluebell", "sun flower"], "Keras' order, names as given"
    for bad in ("Pansy/page.jpg", "Tulip/notes.txt", "bluebell/broken.jpg"):
        assert f"Left out {bad}: " in said
    assert "Left out Tulip/photo_000.jpg: the same photo is also in another class (sun flower/tulip by mistake.jpg)" \
        in said and "Left out sun flower/tulip by mistake.jpg: the same photo is also in another class" in said
    assert "Left out Pansy/photo_000 (1).jpg: an exact copy of photo_000.jpg in the same class (kept once)" in said

    counts = own_split.counts(split)
    usable = {"Pansy": 12, "Tulip": 29, "bluebell": 20, "sun flower": 40}       # drawn, less what was left out
    for name, n in usable.items():
        assert sum(counts[part][name] for part in counts) == n
        assert (counts["train"][name], counts["validation"][name], counts["test"][name]) == \
            photo_folder.split_counts(n, cfg.split_fractions)
    rows = data.read_manifest(split)
    assert len({r["source"] for r in rows}) == len(rows) == sum(usable.values()), "each photo in one part"
    digests = Counter(hashlib.md5((split / r["file"]).read_bytes()).hexdigest() for r in rows)
    assert max(digests.values()) == 1, "no photo's bytes in two parts: no leak between the splits"
    for row in rows:
        made, source = split / row["file"], photos / row["source"]
        assert made.read_bytes() == source.read_bytes() and row["class"] == source.parent.name
        assert not made.is_symlink(), "a hard link or a copy, never a symlink"
    assert _contents(photos) == before

    again = data.ensure_split(cfg)
    assert again == split and "preparing" not in capsys.readouterr().out, "an unchanged folder reuses its split"
    remove_path(split)
    assert _contents(photos) == before, "removing the split removes only its own names for the photos"


def test_the_same_seed_gives_the_same_split_and_another_seed_another(tmp_path: Path, photos: Path) -> None:
    def parts(cfg: Config) -> dict[str, str]:
        return {r["source"]: r["split"] for r in data.read_manifest(data.ensure_split(cfg, verbose=False))}

    first = parts(_cfg(tmp_path, photos))
    assert parts(_cfg(tmp_path / "again", photos)) == first
    assert parts(_cfg(tmp_path, photos, FLOWERS_SEED="7")) != first


def test_a_changed_folder_gets_a_new_split_and_an_old_model_is_refused(tmp_path: Path, photos: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _cfg(tmp_path, photos)
    data.ensure_split(cfg, verbose=False)
    runs.start_clean(cfg, "transfer")                       # lesson 05's record, on the folder as it was
    identity = runs.run_identity(cfg)
    assert identity["photos"] == str(photos) and identity["photos_fingerprint"]
    runs.check_identity(cfg, "transfer")

    tulip = photos / "Tulip"
    (tulip / "new photo.jpg").write_bytes((photos / "bluebell" / "photo_001.jpg").read_bytes())  # the learner adds one
    capsys.readouterr()
    data.ensure_split(cfg)
    assert "the photos in it changed" in capsys.readouterr().out
    assert runs.run_identity(cfg)["photos_fingerprint"] != identity["photos_fingerprint"]
    with pytest.raises(FlowersError, match=r"trained on the photos in .*my photos é.*run lesson 05 again") as raised:
        runs.check_identity(cfg, "transfer")
    assert_single_readable_message(raised.value)


def test_a_folder_that_cannot_work_stops_before_anything_is_written(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, tmp_path / "no such folder")
    with pytest.raises(FlowersError, match="does not exist. Set FLOWERS_PHOTOS"):
        data.ensure_split(cfg)
    assert not cfg.split_dir.exists()
    alone = tmp_path / "one class"
    synthetic.write_photo_folder(tmp_path / "drawn")
    (alone / "roses").mkdir(parents=True)
    (alone / "roses" / "a.jpg").write_bytes((tmp_path / "drawn" / "Tulip" / "photo_003.jpg").read_bytes())
    before = _contents(alone)
    with pytest.raises(FlowersError, match="only one class folder"):
        data.ensure_split(_cfg(tmp_path, alone))
    assert _contents(alone) == before


def test_a_class_too_small_for_the_split_is_named(tmp_path: Path, photos: Path) -> None:
    for extra in sorted((photos / "Pansy").iterdir())[4:]:
        extra.unlink()      # the test's own drawn folder: Pansy keeps 2 usable photos, a copy and a web page
    with pytest.raises(FlowersError, match=r"The class 'Pansy' has 2 usable photo\(s\); the split 60/20/20 needs "
                                           r"at least 5 per class"):
        data.ensure_split(_cfg(tmp_path, photos))


def test_a_class_whose_every_photo_is_also_in_another_class_is_refused(tmp_path: Path, photos: Path) -> None:
    twin = tmp_path / "twins"
    for name in ("a", "b", "c"):
        (twin / name).mkdir(parents=True)
    (twin / "a" / "x.jpg").write_bytes((photos / "Tulip" / "photo_001.jpg").read_bytes())
    (twin / "b" / "x.jpg").write_bytes((photos / "Tulip" / "photo_001.jpg").read_bytes())
    (twin / "c" / "y.jpg").write_bytes((photos / "Tulip" / "photo_002.jpg").read_bytes())
    with pytest.raises(FlowersError, match="is also in another class folder"):
        photo_folder.without_duplicates(photo_folder.scan_folder(twin))


def _new_photo(path: Path) -> None:
    """A photo no other file of the folder is a copy of."""
    from PIL import Image

    Image.new("RGB", (96, 80), (200, 40, 90)).save(path, quality=90)


def test_a_photo_removed_while_the_split_is_made_stops_with_one_sentence(
        tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tmp_path, photos)
    data.ensure_split(cfg, verbose=False)
    kept = _contents(cfg.split_dir)
    _new_photo(photos / "Tulip" / "new photo.jpg")
    assign = own_split.seeded_assignment

    def assign_then_remove(*args: object) -> dict[Path, str]:
        out = assign(*args)
        (photos / "Tulip" / "new photo.jpg").unlink()          # the learner tidies the folder meanwhile
        return out

    monkeypatch.setattr(own_split, "seeded_assignment", assign_then_remove)
    with pytest.raises(FlowersError, match=r"The photo .*new photo.jpg was removed or renamed while its split was "
                                           r"being made\. The split in .* was left as it was; run the cell again"
                       ) as raised:
        data.ensure_split(cfg, verbose=False)
    assert_single_readable_message(raised.value)
    assert _contents(cfg.split_dir) == kept, "the split on disk was left as it was"
    monkeypatch.setattr(own_split, "seeded_assignment", assign)
    data.ensure_split(cfg, verbose=False)                       # the next run makes the split of the folder as it is
    assert "Tulip/new photo.jpg" not in {r["source"] for r in data.read_manifest(cfg.split_dir)}


def test_a_photo_that_cannot_be_read_counts_in_the_fingerprint_without_an_error(
        tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tmp_path, photos)
    readable = own_split.folder_fingerprint(cfg)
    md5 = photo_folder.md5_of
    locked = photos / "Tulip" / "photo_000.jpg"     # it has a copy in "sun flower"

    def md5_of(path: Path) -> str:
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))   # as for a file without read permission
        return md5(path)

    monkeypatch.setattr(photo_folder, "md5_of", md5_of)
    unreadable = own_split.folder_fingerprint(cfg)
    assert unreadable != readable, "a photo that becomes readable again changes the fingerprint"
    groups = photo_folder.duplicate_groups(photo_folder.scan_folder(photos, check_photos=False))
    assert groups and all(locked not in group for group in groups), "an unreadable photo is nobody's copy"


#: Lesson 05 in another process, training: it holds the build folder's lock until a line arrives on stdin.
TRAINING_ELSEWHERE = """
import sys
from pathlib import Path
from helpers import locks
locks.hold(Path(sys.argv[1]), "lesson 05, training its transfer phase")
print("TRAINING", flush=True)
sys.stdin.readline()
"""


def test_a_changed_folder_is_split_again_only_when_no_lesson_trains_from_it(
        tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from helpers import locks

    cfg = _cfg(tmp_path, photos)
    data.ensure_split(cfg, verbose=False)
    kept = _contents(cfg.split_dir)
    cfg.build_dir.mkdir(parents=True, exist_ok=True)
    other = subprocess.Popen([sys.executable, "-c", TRAINING_ELSEWHERE, str(cfg.build_dir)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "TRAINING"
        _new_photo(photos / "Tulip" / "new photo.jpg")
        monkeypatch.setattr(locks, "LOCK_TIMEOUT", 0.3)
        with pytest.raises(FlowersError, match=rf"Lesson 05, training its transfer phase \(process {other.pid}"):
            data.ensure_split(cfg, verbose=False)
        assert _contents(cfg.split_dir) == kept, "the split a running lesson reads did not change under it"
    finally:
        other.stdin.write("done\n")
        other.stdin.flush()
        other.wait(timeout=30)
    capsys.readouterr()
    data.ensure_split(cfg, verbose=False)
    assert "the photos in it changed" in capsys.readouterr().out
    assert "Tulip/new photo.jpg" in {r["source"] for r in data.read_manifest(cfg.split_dir)}


def test_a_photo_run_asks_no_room_for_the_flowers17_archive(tmp_path: Path, photos: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import environment

    asked: list[tuple[Path, int]] = []
    monkeypatch.setattr(environment, "check_writable",
                        lambda folder, what, needs=0: asked.append((folder, needs)))
    cfg = _cfg(tmp_path, photos, FLOWERS_PROFILE="full")
    environment.check_folders(cfg)
    assert (cfg.work_dir, 0) in asked and all(folder.name != "downloads" for folder, _ in asked)
    asked.clear()
    environment.check_folders(_cfg(tmp_path, None, FLOWERS_PROFILE="full"))
    assert any(folder.name == "downloads" and needs > 0 for folder, needs in asked), "Flowers17 still needs it"


def test_a_photo_a_phone_stored_sideways_goes_into_the_split_upright(tmp_path: Path, photos: Path) -> None:
    from PIL import ExifTags, Image

    sideways = photos / "Tulip" / "phone photo.jpg"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6                      # "turn me 90° clockwise to show me"
    drawn = Image.new("RGB", (120, 80), (30, 160, 60))
    drawn.paste((250, 250, 250), (0, 0, 20, 80))             # a white band on the left, as stored
    drawn.save(sideways, exif=exif, quality=95)
    before = _contents(photos)
    cfg = _cfg(tmp_path, photos)
    split = data.ensure_split(cfg, verbose=False)
    [row] = [r for r in data.read_manifest(split) if r["source"] == "Tulip/phone photo.jpg"]
    with Image.open(split / row["file"]) as upright:
        assert upright.size == (80, 120), "turned as the note says"
        assert upright.getexif().get(ExifTags.Base.Orientation, 1) == 1
        assert upright.convert("L").getpixel((40, 5)) > 200, "the band stored on the left is now on top"
    assert not (split / row["file"]).samefile(sideways), "a new file, not a link to the learner's"
    assert _contents(photos) == before, "the learner's photo is left as it was"
    assert data.ensure_split(cfg, verbose=False) == split and own_split.split_problem(split) is None
