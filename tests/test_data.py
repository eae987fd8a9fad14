"""Download, check, label and split: helpers.data on the synthetic archive, good input and bad."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import tarfile
import time
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.io import loadmat
from support import ROOT, assert_single_readable_message, copy_synthetic_source, write_tgz

from helpers import data, download, flowers17
from helpers.config import Config, load_config
from helpers.errors import FlowersError
from helpers.files import md5_of

N = 1360
OFFICIAL_ORDER = (
    "Daffodil", "Snowdrop", "Lily of the Valley", "Bluebell", "Crocus", "Iris", "Tigerlily",
    "Tulip", "Fritillary", "Sunflower", "Daisy", "Colts' Foot", "Dandelion", "Cowslip",
    "Buttercup", "Windflower", "Pansy",
)


# --------------------------------------------------------------------------- helpers


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def files_under(folder: Path) -> set[str]:
    """Every regular file under ``folder``, as a POSIX path relative to it (links not followed)."""
    out = set()
    for root, _dirs, files in os.walk(folder):
        for name in files:
            out.add((Path(root) / name).relative_to(folder).as_posix())
    return out


def all_paths(folder: Path) -> set[Path]:
    """Every file, folder and link under ``folder`` (links not followed)."""
    out = set()
    for root, dirs, files in os.walk(folder):
        out.update(Path(root) / name for name in dirs + files)
    return out


def closed_local_port() -> int:
    """A local TCP port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def downloads(cfg: Config) -> Path:
    return cfg.work_dir / "downloads"


# --------------------------------------------------------------------------- labelling


def test_species_are_the_17_official_names_in_the_official_order() -> None:
    """SPECIES lists the Oxford Flowers17 names in the order of the archive."""
    assert flowers17.SPECIES == OFFICIAL_ORDER
    assert flowers17.N_IMAGES == N


@pytest.mark.parametrize("number, label", [(1, 0), (80, 0), (81, 1), (160, 1), (161, 2), (800, 9),
                                           (801, 10), (1281, 16), (1360, 16)])
def test_label_of_gives_each_block_of_80_images_one_species(number: int, label: int) -> None:
    """Image n belongs to species (n - 1) // 80."""
    assert flowers17.label_of(number) == label


@pytest.mark.parametrize("number", [0, -1, 1361, 10_000])
def test_label_of_rejects_numbers_outside_the_archive(number: int) -> None:
    """Only 1..1360 are image numbers."""
    with pytest.raises(ValueError, match="outside 1..1360"):
        flowers17.label_of(number)


def test_label_images_maps_every_number() -> None:
    """label_images labels a list of numbers, 80 per species over the whole archive."""
    labels = data.label_images(list(range(1, N + 1)))
    assert Counter(labels.values()) == {c: 80 for c in range(17)}
    assert labels[1] == 0 and labels[1360] == 16


def test_class_folders_sort_in_the_official_order() -> None:
    """NN_species folders: alphabetical order (what Keras uses) equals the official order."""
    folders = [flowers17.class_folder(label) for label in range(17)]
    assert sorted(folders) == folders
    assert len(set(folders)) == 17
    assert folders[0] == "00_daffodil"
    assert folders[2] == "02_lily_of_the_valley"
    assert folders[11] == "11_colts_foot"
    assert folders[16] == "16_pansy"


def test_smoke_download_goes_through_keras_get_file(smoke_cfg: Config, synthetic_md5: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The synthetic archive is fetched by keras.utils.get_file over file://, md5 checked: no fake-data path.

    A second call finds the finished extraction (.complete) and does not call get_file again.
    """
    calls: list[dict] = []
    real_get_file = keras.utils.get_file

    def spy(*args: object, **kwargs: object) -> str:
        calls.append(kwargs)
        return real_get_file(*args, **kwargs)

    monkeypatch.setattr(keras.utils, "get_file", spy)
    extracted = download.download_archive(smoke_cfg, verbose=False)

    # One call downloads, checks the md5 and extracts: lesson 01's call, inside download.archive_guard.
    assert [c["fname"] for c in calls] == ["17flowers.tgz"]
    assert calls[0]["origin"] == smoke_cfg.archive_url and calls[0]["file_hash"] == synthetic_md5
    assert str(calls[0]["origin"]).startswith("file://")
    assert calls[0]["extract"] is True
    assert json.loads((downloads(smoke_cfg) / "17flowers.tgz.source").read_text()) == \
        {"url": smoke_cfg.archive_url, "md5": synthetic_md5}
    assert extracted == downloads(smoke_cfg) / "17flowers_extracted"
    assert md5_of(downloads(smoke_cfg) / "17flowers.tgz") == synthetic_md5
    listed = (extracted / "jpg" / "files.txt").read_text().split()
    assert len(listed) == N and all((extracted / "jpg" / name).is_file() for name in listed)
    assert (extracted / ".complete").exists()

    capsys.readouterr()
    assert download.download_archive(smoke_cfg) == extracted
    assert len(calls) == 1
    assert "Already downloaded" in capsys.readouterr().out


def test_an_archive_put_in_downloads_by_hand_is_used_without_the_network(
        tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    """A copy at <work_dir>/downloads/17flowers.tgz with the right md5 is used; the URL is never contacted."""
    url = f"http://127.0.0.1:{closed_local_port()}/17flowers.tgz"
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_url=url,
                      archive_md5=synthetic_md5)
    downloads(cfg).mkdir(parents=True)
    shutil.copy(synthetic_source / "17flowers.tgz", downloads(cfg) / "17flowers.tgz")
    extracted = download.download_archive(cfg, verbose=False)
    assert len((extracted / "jpg" / "files.txt").read_text().split()) == N


# --------------------------------------------------------------------------- download: bad input


def test_unreachable_file_url_raises_the_download_message(tmp_path: Path) -> None:
    """A file:// URL to nothing: one message naming the URL, where to put the archive, and the options."""
    url = (tmp_path / "nowhere" / "17flowers.tgz").as_uri()
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_url=url)
    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    message = str(info.value)
    assert url in message
    assert str(downloads(cfg) / "17flowers.tgz") in message
    assert "FLOWERS17_URL" in message
    assert "FLOWERS_PROFILE=smoke" in message
    assert_single_readable_message(info.value)
    assert not (downloads(cfg) / "17flowers.tgz").exists()


def test_closed_http_port_fails_fast_with_the_download_message(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """http:// to a local port nobody listens on: a fast FlowersError, no real network involved."""
    for name in ("no_proxy", "NO_PROXY"):  # never route the local URL through a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    url = f"http://127.0.0.1:{closed_local_port()}/17flowers.tgz"
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_url=url)
    start = time.monotonic()
    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert url in message
    assert str(downloads(cfg) / "17flowers.tgz") in message
    assert "FLOWERS17_URL" in message and "FLOWERS_PROFILE=smoke" in message
    assert "Traceback" not in message
    assert_single_readable_message(info.value)
    assert not (downloads(cfg) / "17flowers.tgz").exists()


def test_corrupt_archive_is_deleted_and_the_next_run_downloads_again(
        smoke_cfg: Config, tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    """Flipped bytes fail the md5 check; the bad file goes, and once the source is fixed a rerun works."""
    good = (synthetic_source / "17flowers.tgz").read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    served = tmp_path / "server" / "17flowers.tgz"
    served.parent.mkdir()
    served.write_bytes(bytes(bad))
    cfg = smoke_cfg.replace(archive_url=served.as_uri(), archive_md5=synthetic_md5)

    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    message = str(info.value)
    assert "corrupt" in message and synthetic_md5 in message and served.as_uri() in message
    assert "deleted" in message and "FLOWERS17_MD5" in message
    assert_single_readable_message(info.value)
    assert not (downloads(cfg) / "17flowers.tgz").exists()
    assert not (downloads(cfg) / "17flowers_extracted").exists()

    served.write_bytes(good)
    extracted = download.download_archive(cfg, verbose=False)
    assert md5_of(downloads(cfg) / "17flowers.tgz") == synthetic_md5
    assert len((extracted / "jpg" / "files.txt").read_text().split()) == N


@pytest.mark.parametrize("how", ["override", "env"])
def test_truncated_archive_without_md5_check_is_deleted_with_its_partial_extraction(
        tmp_path: Path, synthetic_source: Path, how: str) -> None:
    """md5 check off (FLOWERS17_MD5="" or archive_md5=""): a truncated archive still fails cleanly."""
    served = tmp_path / "server" / "17flowers.tgz"
    served.parent.mkdir()
    good = (synthetic_source / "17flowers.tgz").read_bytes()
    served.write_bytes(good[: len(good) // 2])
    if how == "env":
        cfg = load_config(env={"FLOWERS17_MD5": ""}, profile="full", data_dir=tmp_path / "data",
                          archive_url=served.as_uri())
    else:
        cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_url=served.as_uri(),
                          archive_md5="")
    assert cfg.archive_md5 is None

    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    message = str(info.value)
    assert served.as_uri() in message and "truncated or corrupt" in message and "deleted" in message
    assert_single_readable_message(info.value)
    assert not (downloads(cfg) / "17flowers.tgz").exists()
    assert not (downloads(cfg) / "17flowers_extracted").exists()


@pytest.mark.filterwarnings("ignore:Could not extract archive")
def test_a_file_that_is_not_an_archive_is_rejected(tmp_path: Path) -> None:
    """An HTML page saved as 17flowers.tgz: FlowersError, and the file is deleted."""
    served = tmp_path / "server" / "17flowers.tgz"
    served.parent.mkdir()
    served.write_text("<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n")
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_url=served.as_uri(),
                      archive_md5="")
    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    message = str(info.value)
    assert "not the Flowers17 archive" in message and "FLOWERS17_URL" in message
    assert served.as_uri() in message
    assert not (downloads(cfg) / "17flowers.tgz").exists()
    assert not (downloads(cfg) / "17flowers_extracted").exists()


def test_a_users_archive_with_another_md5_is_kept_and_the_message_gives_its_md5(
        tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    """Offline, a repacked archive put by hand: never deleted; the message says how to accept it."""
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data",
                      archive_url=f"http://127.0.0.1:{closed_local_port()}/17flowers.tgz")
    mine = downloads(cfg) / "17flowers.tgz"
    mine.parent.mkdir(parents=True)
    shutil.copy(synthetic_source / "17flowers.tgz", mine)
    before = mine.read_bytes()
    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    message = str(info.value)
    assert f"its md5 is {synthetic_md5}" in message and cfg.archive_md5 in message
    assert f"FLOWERS17_MD5={synthetic_md5}" in message and "kept" in message
    assert_single_readable_message(info.value)
    assert mine.read_bytes() == before, "the learner's file must be untouched"
    assert sorted(p.name for p in downloads(cfg).iterdir()) == ["17flowers.tgz"]
    # Accepting it as the message says works, still offline.
    extracted = download.download_archive(cfg.replace(archive_md5=synthetic_md5), verbose=False)
    assert len((extracted / "jpg" / "files.txt").read_text().split()) == N
    assert mine.read_bytes() == before


def test_a_users_truncated_archive_is_kept_with_the_check_off(tmp_path: Path, synthetic_source: Path) -> None:
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_md5="",
                      archive_url=f"http://127.0.0.1:{closed_local_port()}/17flowers.tgz")
    mine = downloads(cfg) / "17flowers.tgz"
    mine.parent.mkdir(parents=True)
    good = (synthetic_source / "17flowers.tgz").read_bytes()
    mine.write_bytes(good[: len(good) // 2])
    with pytest.raises(FlowersError, match="truncated or corrupt.*did not download.*so it was kept"):
        download.download_archive(cfg, verbose=False)
    assert mine.read_bytes() == good[: len(good) // 2]
    assert not (downloads(cfg) / "17flowers_extracted").exists(), "no half-extracted folder is left"


def test_a_users_datasplits_mat_with_another_md5_is_kept(smoke_cfg_downloaded: Config) -> None:
    cfg = smoke_cfg_downloaded.replace(split="official1", splits_md5="0" * 32)
    mine = downloads(cfg) / "datasplits.mat"
    shutil.copy(cfg.data_dir / "synthetic" / "datasplits.mat", mine)
    before = mine.read_bytes()
    with pytest.raises(FlowersError) as info:
        data.prepare_split(cfg, verbose=False)
    actual = md5_of(mine)
    assert f"FLOWERS17_SPLITS_MD5={actual}" in str(info.value) and "kept" in str(info.value)
    assert mine.read_bytes() == before


def test_a_changed_url_downloads_again_instead_of_reusing_the_old_archive(
        tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    """With the md5 check off, the cache is keyed by its URL: a new FLOWERS17_URL is fetched, not ignored."""
    first, second = tmp_path / "a" / "17flowers.tgz", tmp_path / "b" / "17flowers.tgz"
    first.parent.mkdir()
    second.parent.mkdir()
    shutil.copy(synthetic_source / "17flowers.tgz", first)
    good = (synthetic_source / "17flowers.tgz").read_bytes()
    second.write_bytes(good[: len(good) // 2])           # a different (broken) file at the new URL
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_md5="",
                      archive_url=first.as_uri())
    download.download_archive(cfg, verbose=False)
    record = json.loads((downloads(cfg) / "17flowers.tgz.source").read_text())
    assert record == {"url": first.as_uri(), "md5": None}
    with pytest.raises(FlowersError, match="truncated or corrupt.*deleted the file it downloaded"):
        download.download_archive(cfg.replace(archive_url=second.as_uri()), verbose=False)
    assert not (downloads(cfg) / "17flowers.tgz").exists(), "the course's own bad download is removed"
    download.download_archive(cfg, verbose=False)             # back to the good URL: fetched again, works
    assert md5_of(downloads(cfg) / "17flowers.tgz") == synthetic_md5


def test_a_failed_download_leaves_no_partial_file(smoke_cfg: Config, tmp_path: Path, synthetic_md5: str) -> None:
    served = tmp_path / "server" / "17flowers.tgz"
    served.parent.mkdir()
    served.write_bytes(b"not the archive")
    cfg = smoke_cfg.replace(archive_url=served.as_uri(), archive_md5=synthetic_md5)
    with pytest.raises(FlowersError, match="corrupt or incomplete.*deleted"):
        download.download_archive(cfg, verbose=False)
    assert list(downloads(cfg).iterdir()) == []


def test_a_download_cut_off_midway_is_downloaded_again(smoke_cfg: Config, synthetic_source: Path,
                                                      synthetic_md5: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A killed kernel leaves half an archive under its real name, still recorded as unfinished: it is replaced."""
    download.serve_synthetic(smoke_cfg)
    downloads(smoke_cfg).mkdir(parents=True)
    good = (synthetic_source / "17flowers.tgz").read_bytes()
    (downloads(smoke_cfg) / "17flowers.tgz").write_bytes(good[: len(good) // 3])
    (downloads(smoke_cfg) / "17flowers.tgz.source").write_text(
        json.dumps({"url": smoke_cfg.archive_url, "md5": synthetic_md5, "finished": False}))
    extracted = download.download_archive(smoke_cfg, verbose=False)
    assert "was cut off; downloading it again" in capsys.readouterr().out
    assert md5_of(downloads(smoke_cfg) / "17flowers.tgz") == synthetic_md5
    assert json.loads((downloads(smoke_cfg) / "17flowers.tgz.source").read_text()) == \
        {"url": smoke_cfg.archive_url, "md5": synthetic_md5}
    assert len((extracted / "jpg" / "files.txt").read_text().split()) == N


@pytest.mark.filterwarnings("ignore:Skipping invalid path")
def test_archive_members_cannot_escape_the_extraction_folder(
        tmp_path: Path, synthetic_images: dict[str, bytes]) -> None:
    """../ paths, absolute paths and symlinks out of the folder write nothing outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", archive_md5="",
                      archive_url=(tmp_path / "server" / "17flowers.tgz").as_uri())
    extracted = downloads(cfg) / "17flowers_extracted"
    escapes = {
        "../evil.txt": downloads(cfg) / "evil.txt",
        "../../../escaped.txt": cfg.data_dir / "escaped.txt",
        str(outside / "abs_evil.txt"): outside / "abs_evil.txt",
        "jpg/abs_link/through_abs_link.txt": outside / "through_abs_link.txt",
        "jpg/rel_link/through_rel_link.txt": outside / "through_rel_link.txt",
    }
    rel_to_outside = os.path.relpath(outside, extracted / "jpg")
    members: list[tuple[tarfile.TarInfo | str, bytes | None]] = [
        ("jpg/image_0001.jpg", synthetic_images["jpg/image_0001.jpg"]),
        ("jpg/files.txt", b"image_0001.jpg\n"),
        ("../evil.txt", b"pwned"),
        ("../../../escaped.txt", b"pwned"),
        (str(outside / "abs_evil.txt"), b"pwned"),
        (symlink("jpg/abs_link", str(outside)), None),
        ("jpg/abs_link/through_abs_link.txt", b"pwned"),
        (symlink("jpg/rel_link", rel_to_outside), None),
        ("jpg/rel_link/through_rel_link.txt", b"pwned"),
    ]
    archive = write_tgz(tmp_path / "server" / "17flowers.tgz", members)
    with tarfile.open(archive) as tar:  # the archive really holds the hostile names
        assert {"../evil.txt", "jpg/abs_link", "jpg/rel_link"} <= set(tar.getnames())

    before = all_paths(tmp_path)
    result = download.download_archive(cfg, verbose=False)
    assert result == extracted

    for name, target in escapes.items():
        assert not target.exists(), f"{name!r} escaped to {target}"
    allowed = {cfg.data_dir, cfg.work_dir, cfg.work_dir / ".lock", cfg.work_dir / ".lock-holder", downloads(cfg),
               downloads(cfg) / "17flowers.tgz",
               downloads(cfg) / "17flowers.tgz.source", extracted}
    new = all_paths(tmp_path) - before
    strays = {p for p in new if p not in allowed and extracted not in p.parents}
    assert not strays, f"written outside the extraction folder: {sorted(strays)}"
    for link in (p for p in all_paths(extracted) if p.is_symlink()):
        real = link.resolve()
        assert real == extracted.resolve() or extracted.resolve() in real.parents, f"{link} -> {real}"
    assert (extracted / "jpg" / "image_0001.jpg").read_bytes() == synthetic_images["jpg/image_0001.jpg"]


# --------------------------------------------------------------------------- check images


def test_every_synthetic_image_passes_the_check(smoke_cfg_downloaded: Config) -> None:
    """check_images finds all 1360 synthetic images good."""
    checked = data.check_images(download.download_archive(smoke_cfg_downloaded, verbose=False))
    assert checked.good == list(range(1, N + 1))
    assert checked.bad == []


#: Damaged images in the archive below: garbage bytes, a truncated JPEG, and one listed but absent.
GARBAGE, TRUNCATED, ABSENT = "image_0083.jpg", "image_0165.jpg", "image_0250.jpg"


@pytest.fixture(scope="module")
def damaged_archive(tmp_path_factory: pytest.TempPathFactory, synthetic_images: dict[str, bytes]) -> Path:
    """The synthetic archive with three images that do not open (classes 1, 2 and 3)."""
    members: list[tuple[tarfile.TarInfo | str, bytes | None]] = []
    for name, payload in synthetic_images.items():
        if name == f"jpg/{GARBAGE}":
            payload = b"<html><body>this is not a JPEG</body></html>\n"
        elif name == f"jpg/{TRUNCATED}":
            payload = payload[: len(payload) // 2]
        elif name == f"jpg/{ABSENT}":
            continue
        members.append((name, payload))
    return write_tgz(tmp_path_factory.mktemp("damaged") / "17flowers.tgz", members)


def damaged_cfg(tmp_path: Path, damaged_archive: Path) -> Config:
    return load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build",
                       archive_url=damaged_archive.as_uri(), archive_md5="")


def test_check_images_reports_images_that_do_not_open_by_name(tmp_path: Path, damaged_archive: Path) -> None:
    """Garbage, truncated and missing JPEGs are reported by file name, with a reason; the rest are good."""
    extracted = download.download_archive(damaged_cfg(tmp_path, damaged_archive), verbose=False)
    checked = data.check_images(extracted)
    assert [name for name, _ in checked.bad] == [GARBAGE, TRUNCATED, ABSENT]
    assert all(reason for _, reason in checked.bad)
    assert len(checked.good) == N - 3
    assert {83, 165, 250}.isdisjoint(checked.good)


def test_an_error_while_writing_the_class_folders_keeps_the_old_split(smoke_cfg_downloaded: Config) -> None:
    """new_split (lesson 01's cell writes inside it): an error in the block leaves the old split and no split.tmp."""
    cfg = smoke_cfg_downloaded
    prepared = data.prepare_split(cfg, verbose=False)
    before = {p: p.read_bytes() for p in prepared.folder.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="stopped"), data.new_split(cfg, prepared.assignment) as tmp:
        (tmp / "train").mkdir()
        raise RuntimeError("stopped halfway")
    assert {p: p.read_bytes() for p in prepared.folder.rglob("*") if p.is_file()} == before
    assert not prepared.folder.with_name("split.tmp").exists()
    with pytest.raises(FlowersError, match=r"35 class folder\(s\) are missing.*left as it was"):
        with data.new_split(cfg, prepared.assignment) as tmp:
            for part in data.SPLIT_NAMES:
                (tmp / part).mkdir()
            for label in range(1, 17):
                (tmp / "test" / flowers17.class_folder(label)).mkdir()
    assert data.split_problem(prepared.folder) is None


def test_prepare_split_leaves_out_images_that_do_not_open(tmp_path: Path, damaged_archive: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Bad images are printed by name and appear neither in the split folders nor in the manifest."""
    cfg = damaged_cfg(tmp_path, damaged_archive)
    prepared = data.prepare_split(cfg, verbose=False)
    out = capsys.readouterr().out
    for name in (GARBAGE, TRUNCATED, ABSENT):
        assert f"Left out {name}" in out
    assert [name for name, _ in prepared.bad_images] == [GARBAGE, TRUNCATED, ABSENT]
    assert {83, 165, 250}.isdisjoint(prepared.assignment)
    on_disk = {Path(f).name for f in files_under(prepared.folder)}
    manifest = {row["file"].rsplit("/", 1)[-1] for row in data.read_manifest(prepared.folder)}
    for name in (GARBAGE, TRUNCATED, ABSENT):
        assert name not in on_disk and name not in manifest
    counts = data.split_counts(prepared.assignment)
    # Each damaged class loses one training image; validation and test stay full.
    assert [counts["train"][c] for c in (0, 1, 2, 3, 4)] == [40, 39, 39, 39, 40]
    assert all(counts["validation"][c] == 20 and counts["test"][c] == 20 for c in range(17))


# --------------------------------------------------------------------------- seeded split (pure)


ALL_LABELS = data.label_images(list(range(1, N + 1)))


def test_seeded_split_is_680_340_340_and_40_20_20_per_class() -> None:
    """The default sizes give a stratified split of the whole archive."""
    assignment = data.seeded_split(ALL_LABELS, (40, 20, 20), seed=42)
    assert sorted(assignment) == list(range(1, N + 1))
    assert Counter(assignment.values()) == {"train": 680, "validation": 340, "test": 340}
    counts = data.split_counts(assignment)
    for part, size in (("train", 40), ("validation", 20), ("test", 20)):
        assert counts[part] == {c: size for c in range(17)}, part
    data.check_split(assignment, ALL_LABELS)


def test_seeded_split_is_reproducible_and_depends_on_the_seed() -> None:
    """Same seed, same assignment; another seed, another assignment (same sizes)."""
    a = data.seeded_split(ALL_LABELS, (40, 20, 20), seed=42)
    assert data.seeded_split(ALL_LABELS, (40, 20, 20), seed=42) == a
    b = data.seeded_split(ALL_LABELS, (40, 20, 20), seed=43)
    assert b != a
    assert Counter(b.values()) == Counter(a.values())


def test_smaller_sizes_leave_images_unused() -> None:
    """split_sizes (30, 10, 10): 50 images per class are used, 30 are left out."""
    assignment = data.seeded_split(ALL_LABELS, (30, 10, 10), seed=42)
    assert Counter(assignment.values()) == {"train": 510, "validation": 170, "test": 170}


def test_a_class_with_missing_images_shrinks_only_its_training_share() -> None:
    """5 images missing from class 3: it gets 35/20/20; every other class is exactly as before."""
    full = data.seeded_split(ALL_LABELS, (40, 20, 20), seed=42)
    missing = {241, 250, 260, 270, 320}
    assert {flowers17.label_of(n) for n in missing} == {3}
    labels = {n: c for n, c in ALL_LABELS.items() if n not in missing}
    partial = data.seeded_split(labels, (40, 20, 20), seed=42)
    counts = data.split_counts(partial)
    assert (counts["train"][3], counts["validation"][3], counts["test"][3]) == (35, 20, 20)
    assert missing.isdisjoint(partial)
    assert {n: p for n, p in partial.items() if ALL_LABELS[n] != 3} == \
        {n: p for n, p in full.items() if ALL_LABELS[n] != 3}


def test_check_split_catches_unknown_images_and_empty_parts() -> None:
    """check_split refuses images that were not labelled and a split with an empty part."""
    with pytest.raises(FlowersError, match="not labelled"):
        data.check_split({1: "train", 2: "validation", 3: "test", 999: "train"}, {1: 0, 2: 0, 3: 0})
    with pytest.raises(FlowersError, match="test split is empty"):
        data.check_split({1: "train", 2: "validation"}, {1: 0, 2: 0})


def test_counts_table_shows_species_and_totals() -> None:
    """The table has one row per species plus a header and a total row."""
    table = data.counts_table(data.seeded_split(ALL_LABELS, (40, 20, 20), seed=42))
    lines = table.splitlines()
    assert len(lines) == 19
    assert lines[1].split() == ["Daffodil", "40", "20", "20"]
    assert lines[-1].split() == ["total", "680", "340", "340"]


# --------------------------------------------------------------------------- prepare / write / ensure


def assert_split_on_disk_matches_manifest(folder: Path) -> list[dict[str, str]]:
    """Files under split/ are exactly the manifest's files plus manifest.csv and split.json."""
    rows = data.read_manifest(folder)
    assert files_under(folder) == {row["file"] for row in rows} | {"manifest.csv", "split.json"}
    assert not folder.with_name("split.tmp").exists() and not folder.with_name("split.old").exists()
    return rows


def test_prepare_split_writes_class_folders_and_a_matching_manifest(smoke_cfg_downloaded: Config) -> None:
    """Every image sits once, in split/<part>/<NN_species>/, as the manifest says, with the archive's bytes."""
    prepared = data.prepare_split(smoke_cfg_downloaded, verbose=False)
    assert prepared.folder == smoke_cfg_downloaded.work_dir / "splits" / "seeded-42-40-20-20"
    rows = assert_split_on_disk_matches_manifest(prepared.folder)

    assert len(rows) == N
    numbers = Counter(int(Path(row["file"]).name[6:10]) for row in rows)
    assert set(numbers) == set(range(1, N + 1)) and set(numbers.values()) == {1}
    for row in rows:
        n, label = int(row["image"]), int(row["label"])
        assert label == flowers17.label_of(n) and row["species"] == flowers17.SPECIES[label]
        assert row["file"] == f"{row['split']}/{flowers17.class_folder(label)}/image_{n:04d}.jpg"
        assert prepared.assignment[n] == row["split"]
    assert Counter(row["split"] for row in rows) == {"train": 680, "validation": 340, "test": 340}
    for part in data.SPLIT_NAMES:
        assert sorted(p.name for p in (prepared.folder / part).iterdir()) == \
            [flowers17.class_folder(c) for c in range(17)]

    extracted = downloads(smoke_cfg_downloaded) / "17flowers_extracted"
    for row in rows[::97]:
        assert (prepared.folder / row["file"]).read_bytes() == \
            data.image_path(extracted, int(row["image"])).read_bytes()

    with open(prepared.folder / "manifest.csv", newline="") as f:
        assert next(csv.reader(f)) == ["file", "image", "label", "species", "split"]

    info = json.loads((prepared.folder / "split.json").read_text())
    assert info["split"] == "seeded" and info["seed"] == 42 and info["sizes"] == [40, 20, 20]
    assert info["archive"] == smoke_cfg_downloaded.archive_url
    assert info["md5"] == md5_of(smoke_cfg_downloaded.data_dir / "synthetic" / "17flowers.tgz")


def test_official1_split_is_the_one_in_datasplits_mat(smoke_cfg_downloaded: Config) -> None:
    """FLOWERS_SPLIT=official1 uses trn1/val1/tst1 of datasplits.mat, fetched into downloads/."""
    cfg = smoke_cfg_downloaded.replace(split="official1")
    prepared = data.prepare_split(cfg, verbose=False)
    mat = loadmat(cfg.data_dir / "synthetic" / "datasplits.mat")
    expected = {}
    for key, part in (("trn1", "train"), ("val1", "validation"), ("tst1", "test")):
        expected.update({int(n): part for n in np.asarray(mat[key]).ravel()})
    assert prepared.assignment == expected
    assert {int(r["image"]): r["split"] for r in data.read_manifest(prepared.folder)} == expected
    assert (downloads(cfg) / "datasplits.mat").exists()
    assert_split_on_disk_matches_manifest(prepared.folder)
    assert json.loads((prepared.folder / "split.json").read_text())["split"] == "official1"


def test_without_datasplits_mat_the_seeded_split_goes_on(smoke_cfg_downloaded: Config, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Offline, lesson 01's comparison with the official splits is skipped with one line, not an error."""
    cfg = smoke_cfg_downloaded.replace(splits_url=(tmp_path / "nowhere" / "datasplits.mat").as_uri())
    assert download.official_splits_if_available(cfg) is None
    out = capsys.readouterr().out
    assert "Skipping the official splits" in out and "FLOWERS17_SPLITS_URL" in out
    assert len(data.prepare_split(cfg, verbose=False).assignment) == 1360


def test_without_datasplits_mat_an_official_split_stops_with_the_message(smoke_cfg_downloaded: Config,
                                                                         tmp_path: Path) -> None:
    cfg = smoke_cfg_downloaded.replace(split="official2",
                                       splits_url=(tmp_path / "nowhere" / "datasplits.mat").as_uri())
    with pytest.raises(FlowersError, match="official split file.*FLOWERS17_SPLITS_URL"):
        download.official_splits_if_available(cfg)


def test_a_local_copy_of_datasplits_mat_is_used(smoke_cfg_downloaded: Config, tmp_path: Path) -> None:
    """FLOWERS17_SPLITS_URL may name a plain copy; its md5 is checked when given."""
    copy = tmp_path / "elsewhere" / "datasplits.mat"
    copy.parent.mkdir()
    shutil.copy2(smoke_cfg_downloaded.data_dir / "synthetic" / "datasplits.mat", copy)
    md5 = md5_of(copy)
    cfg = load_config(env={"FLOWERS17_SPLITS_URL": str(copy), "FLOWERS17_SPLITS_MD5": md5},
                      profile="smoke", data_dir=smoke_cfg_downloaded.data_dir, split="official3")
    path = download.official_splits_if_available(cfg)
    assert path is not None and loadmat(path)["tst3"].size == 340


SHARED_ARCHIVE = ROOT.parent / "shared" / "flowers17" / "17flowers.tgz"
SHARED_MD5 = "869c6dc37f52e2f45d0e0ea27d3ad1fb"


@pytest.mark.skipif(not SHARED_ARCHIVE.exists(),
                    reason=f"the real Flowers17 photos are not at {SHARED_ARCHIVE} (only on development machines)")
def test_the_real_archive_prepares_offline_without_datasplits_mat(tmp_path: Path) -> None:
    """The real photos, a local archive, no network: the seeded split of 1,360 images, official comparison skipped."""
    cfg = load_config(env={"FLOWERS17_URL": str(SHARED_ARCHIVE), "FLOWERS17_MD5": SHARED_MD5,
                           "FLOWERS17_SPLITS_URL": (tmp_path / "absent.mat").as_uri()},
                      profile="full", data_dir=tmp_path / "data", seed=1)
    prepared = data.prepare_split(cfg, verbose=False)
    assert prepared.bad_images == []
    assert Counter(prepared.assignment.values()) == {"train": 680, "validation": 340, "test": 340}
    assert download.official_splits_if_available(cfg) is None
    assert SHARED_ARCHIVE.exists(), "the shared archive must never be touched"


def test_preparing_twice_with_the_same_settings_gives_the_same_split(smoke_cfg_downloaded: Config) -> None:
    """A rerun is idempotent: identical manifest, split.json and set of files."""
    first = data.prepare_split(smoke_cfg_downloaded, verbose=False)
    manifest = (first.folder / "manifest.csv").read_bytes()
    info = (first.folder / "split.json").read_bytes()
    files = files_under(first.folder)
    second = data.prepare_split(smoke_cfg_downloaded, verbose=False)
    assert second.assignment == first.assignment
    assert (second.folder / "manifest.csv").read_bytes() == manifest
    assert (second.folder / "split.json").read_bytes() == info
    assert files_under(second.folder) == files


def test_reruns_with_other_settings_leave_no_stale_files(smoke_cfg_downloaded: Config) -> None:
    """Each split gets its own folder with exactly its manifest's files; a rerun clears a stray file."""
    previous = data.prepare_split(smoke_cfg_downloaded, verbose=False)
    for change in (dict(split_sizes=(30, 10, 10)), dict(seed=7), dict(split="official2")):
        old_files = files_under(previous.folder)
        cfg = smoke_cfg_downloaded.replace(**change)
        new = data.prepare_split(cfg, verbose=False)
        assert new.folder != previous.folder and files_under(previous.folder) == old_files, change
        stray = new.folder / "train" / "00_daffodil" / "stray.jpg"
        stray.write_bytes(b"left over")
        new = data.prepare_split(cfg, verbose=False)          # the same settings again: repaired
        rows = assert_split_on_disk_matches_manifest(new.folder)
        assert {int(r["image"]): r["split"] for r in rows} == new.assignment, change
        assert not stray.exists(), change
        if "split_sizes" in change:
            assert len(rows) == 17 * 50
        info = json.loads((new.folder / "split.json").read_text())
        assert (info["split"], info["seed"], tuple(info["sizes"])) == (cfg.split, cfg.seed, cfg.split_sizes)
        previous = new


def test_an_interrupted_write_leaves_the_old_split_intact(smoke_cfg_downloaded: Config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in the middle of writing keeps the previous split whole; the next run cleans up."""
    old = data.prepare_split(smoke_cfg_downloaded, verbose=False)
    manifest = (old.folder / "manifest.csv").read_bytes()
    old_files = files_under(old.folder)

    real_link, calls = os.link, [0]

    def link_then_fail(src: object, dst: object) -> None:
        calls[0] += 1
        if calls[0] > 100:
            raise KeyboardInterrupt
        real_link(src, dst)

    monkeypatch.setattr(data.os, "link", link_then_fail)
    with pytest.raises(KeyboardInterrupt):
        data.prepare_split(smoke_cfg_downloaded.replace(seed=7), verbose=False)
    monkeypatch.undo()
    assert (old.folder / "manifest.csv").read_bytes() == manifest
    assert files_under(old.folder) == old_files

    new = data.prepare_split(smoke_cfg_downloaded.replace(seed=7), verbose=False)
    assert_split_on_disk_matches_manifest(new.folder)


def test_ensure_split_prepares_a_missing_split(smoke_cfg_downloaded: Config,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """With no split on disk, ensure_split makes one and says so."""
    folder = data.ensure_split(smoke_cfg_downloaded)
    assert "No split yet" in capsys.readouterr().out
    assert folder == smoke_cfg_downloaded.work_dir / "splits" / "seeded-42-40-20-20"
    assert len(assert_split_on_disk_matches_manifest(folder)) == N


def test_ensure_split_reuses_a_matching_split(smoke_cfg_downloaded: Config,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Same split settings: the split on disk is returned untouched (settings that do not matter may differ)."""
    folder = data.prepare_split(smoke_cfg_downloaded, verbose=False).folder
    manifest = folder / "manifest.csv"
    stamp = (manifest.stat().st_mtime_ns, manifest.stat().st_ino)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("ensure_split rebuilt a split that matched")

    monkeypatch.setattr(data, "prepare_split", must_not_run)
    assert data.ensure_split(smoke_cfg_downloaded) == folder
    assert data.ensure_split(smoke_cfg_downloaded.replace(batch_size=4, transfer_epochs=3)) == folder
    assert (manifest.stat().st_mtime_ns, manifest.stat().st_ino) == stamp


def test_ensure_split_prepares_each_other_split_in_its_own_folder(smoke_cfg_downloaded: Config,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Another seed, other sizes, another split: each gets its own folder, and the first one stays."""
    folder = data.prepare_split(smoke_cfg_downloaded, verbose=False).folder
    first = (folder / "manifest.csv").read_bytes()
    for change in (dict(seed=7), dict(split_sizes=(30, 10, 10)), dict(split="official1")):
        capsys.readouterr()
        cfg = smoke_cfg_downloaded.replace(**change)
        other = data.ensure_split(cfg)
        assert other != folder and other == cfg.split_dir, change
        assert "No split yet" in capsys.readouterr().out, change
        info = json.loads((other / "split.json").read_text())
        assert (info["split"], info["seed"], tuple(info["sizes"])) == (cfg.split, cfg.seed, cfg.split_sizes)
        assert_split_on_disk_matches_manifest(other)
        assert data.ensure_split(cfg) == other and "preparing" not in capsys.readouterr().out, "reused"
    assert (folder / "manifest.csv").read_bytes() == first


# --------------------------------------------------------------------------- FlowersError


def test_flowers_error_renders_as_the_message_alone() -> None:
    """IPython's _render_traceback_ hook: short lines with the message, no traceback."""
    try:
        raise FlowersError("The archive is missing.\nWhat to do next: run lesson 01.")
    except FlowersError as exc:
        lines = exc._render_traceback_()
    assert len(lines) == 2
    assert "FlowersError" in lines[0] and "The archive is missing." in lines[0]
    assert lines[1] == "What to do next: run lesson 01."
    assert not any("Traceback" in line or "File \"" in line for line in lines)
    assert isinstance(FlowersError("x"), RuntimeError)


def test_a_real_download_error_renders_without_a_traceback(tmp_path: Path) -> None:
    """The download message of a failed download renders as its own lines, nothing more."""
    cfg = load_config(env={}, profile="full", data_dir=tmp_path, archive_url=(tmp_path / "none.tgz").as_uri())
    with pytest.raises(FlowersError) as info:
        download.download_archive(cfg, verbose=False)
    lines = info.value._render_traceback_()
    assert len(lines) == len(str(info.value).splitlines()) == 2
    assert cfg.archive_url in lines[0] and "FLOWERS_PROFILE=smoke" in lines[1]
    assert not any("Traceback" in line for line in lines)


def test_ensure_split_rebuilds_when_the_archive_md5_changed(smoke_cfg_downloaded: Config) -> None:
    """A split made from another archive (other md5) is not reused."""
    cfg = smoke_cfg_downloaded
    folder = data.prepare_split(cfg, verbose=False).folder
    info = json.loads((folder / "split.json").read_text())
    assert info["md5"] == download.expected_md5(cfg)
    info["md5"] = "0" * 32
    (folder / "split.json").write_text(json.dumps(info))
    before = (folder / "manifest.csv").stat().st_mtime_ns
    data.ensure_split(cfg, verbose=False)
    assert (folder / "manifest.csv").stat().st_mtime_ns != before
    assert json.loads((folder / "split.json").read_text())["md5"] == download.expected_md5(cfg)


def test_expected_md5_writes_nothing_and_serve_synthetic_is_the_one_call_that_makes_the_archive(
        tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    before = sorted(tmp_path.rglob("*"))
    assert download.expected_md5(cfg) is None, "no synthetic archive yet: nothing is expected"
    assert sorted(tmp_path.rglob("*")) == before, "expected_md5 wrote something"
    copy_synthetic_source(synthetic_source, cfg.data_dir)   # what serve_synthetic would write (slowly)
    assert download.expected_md5(cfg) == synthetic_md5
    served = {p: p.stat().st_mtime_ns for p in (cfg.data_dir / "synthetic").iterdir()}
    download.serve_synthetic(cfg)                            # already served: nothing changes
    assert {p: p.stat().st_mtime_ns for p in (cfg.data_dir / "synthetic").iterdir()} == served
    full = cfg.replace(archive_url="https://example.org/17flowers.tgz", archive_md5="0" * 32)
    assert download.expected_md5(full) == "0" * 32


# --------------------------------------------------------------------------- a second tab


def test_a_second_tab_preparing_another_split_leaves_a_running_lessons_split_alone(
        smoke_cfg_downloaded: Config) -> None:
    """Lesson 05 (seed 42) was training while lesson 01 ran with seed 7: it died on a photo of the old split.

    The race, step by step: lesson 05's generator lists its split's files; lesson 01
    prepares seed 7's split in a second tab, then seed 42's again; lesson 05 reads on.
    """
    cfg = smoke_cfg_downloaded
    folder = data.ensure_split(cfg, verbose=False)
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    reader = ImageDataGenerator().flow_from_directory(
        folder / "train", target_size=(32, 32), batch_size=64, shuffle=False)
    inodes = {p: p.stat().st_ino for p in folder.rglob("*") if p.is_file()}
    seven = data.prepare_split(cfg.replace(seed=7), verbose=False).folder   # the second tab
    again = data.prepare_split(cfg, verbose=False).folder                   # and lesson 01 with seed 42 again
    assert seven != folder == again
    assert {p: p.stat().st_ino for p in folder.rglob("*") if p.is_file()} == inodes, "not one file replaced"
    assert sum(len(reader[i][0]) for i in range(len(reader))) == reader.samples == 17 * 40
    assert data.split_problem(seven) is None and data.split_problem(folder) is None


def test_a_split_made_with_other_settings_says_which_setting_differs(smoke_cfg_downloaded: Config,
                                                                     capsys: pytest.CaptureFixture) -> None:
    cfg = smoke_cfg_downloaded
    folder = data.ensure_split(cfg, verbose=False)
    record = json.loads((folder / "split.json").read_text())
    (folder / "split.json").write_text(json.dumps({**record, "archive": "file:///elsewhere/17flowers.tgz"}))
    capsys.readouterr()
    data.ensure_split(cfg)
    out = capsys.readouterr().out
    assert ("The split on disk was made with other settings (archive (FLOWERS17_URL) "
            f"'file:///elsewhere/17flowers.tgz' -> '{cfg.archive_url}'); preparing it again.") in out
    assert json.loads((folder / "split.json").read_text())["archive"] == cfg.archive_url


def test_an_image_bomb_and_an_incomplete_files_txt_are_named_not_raised(
        tmp_path: Path, synthetic_images: dict[str, bytes], capsys: pytest.CaptureFixture) -> None:
    """A 30000 x 30000 PNG named image_0005.jpg gave a raw DecompressionBombError in every lesson's split check."""
    from support import bomb_png

    members: list[tuple[tarfile.TarInfo | str, bytes | None]] = []
    for name, payload in synthetic_images.items():
        if name == "jpg/image_0005.jpg":
            payload = bomb_png(30000, 30000)
        elif name == "jpg/files.txt":
            payload = "\n".join(f"image_{n:04d}.jpg" for n in range(1, 1001)).encode() + b"\n"
        members.append((name, payload))
    archive = write_tgz(tmp_path / "bomb" / "17flowers.tgz", members)
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build",
                      archive_url=archive.as_uri(), archive_md5="", split_sizes=(4, 2, 2))
    prepared = data.prepare_split(cfg)
    out = capsys.readouterr().out
    assert "Left out image_0005.jpg: it is an image bomb" in out
    assert ("jpg/files.txt does not list 360 of the photos in jpg/ (image_1001.jpg, image_1002.jpg, "
            "image_1003.jpg, ...); they are left out.") in out
    assert 5 not in prepared.assignment and max(prepared.assignment) <= 1000
