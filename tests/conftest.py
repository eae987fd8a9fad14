"""Shared fixtures: one synthetic archive per test session, and a fresh smoke config per test.

Generating the synthetic ``17flowers.tgz`` takes a few seconds, so it is made
once (:func:`synthetic_source`) and every test that needs data gets a cheap
copy of it in its own temporary ``data_dir`` (:func:`smoke_cfg`). Nothing is
ever written into the repository's ``data/`` folder, and ``load_config`` is
always given an explicit ``env`` so the developer's variables cannot leak in.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import copy_synthetic_source, file_stats, link_or_copy

from helpers import synthetic
from helpers.config import Config, load_config


@pytest.fixture(scope="session")
def synthetic_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the synthetic ``17flowers.tgz``, its ``.md5`` and ``datasplits.mat`` (made once).

    Treat it as read-only: copy it (or use :func:`smoke_cfg`) before changing anything.
    """
    folder = tmp_path_factory.mktemp("synthetic_source")
    synthetic.ensure_synthetic_source(folder, seed=0)
    return folder


@pytest.fixture(scope="session")
def synthetic_md5(synthetic_source: Path) -> str:
    """The md5 of the session's synthetic archive, as recorded next to it."""
    md5 = synthetic.recorded_md5(synthetic_source)
    assert md5, "ensure_synthetic_source records the archive's md5"
    return md5


@pytest.fixture(scope="session")
def synthetic_images(synthetic_source: Path) -> dict[str, bytes]:
    """Every member of the session's synthetic archive: ``{"jpg/image_0001.jpg": b"...", ...}``."""
    out: dict[str, bytes] = {}
    with tarfile.open(synthetic_source / "17flowers.tgz") as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            assert f is not None
            out[member.name] = f.read()
    return out


@pytest.fixture
def smoke_cfg(tmp_path: Path, synthetic_source: Path) -> Config:
    """The smoke profile in a fresh temporary data/build folder, its synthetic source already in place."""
    data_dir, build_dir = tmp_path / "data", tmp_path / "build"
    copy_synthetic_source(synthetic_source, data_dir)
    return load_config(env={}, profile="smoke", data_dir=data_dir, build_dir=build_dir)


@pytest.fixture(scope="session")
def smoke_downloads(tmp_path_factory: pytest.TempPathFactory,
                    synthetic_source: Path) -> tuple[Path, str, dict[Path, tuple[int, int]]]:
    """A smoke ``downloads/`` folder, archive downloaded and extracted once.

    Returns the folder, the URL it came from, and the size and mtime of every
    extracted file (to notice a test that writes into the shared images).
    """
    from helpers.data import download_archive

    data_dir = tmp_path_factory.mktemp("smoke_downloads") / "data"
    copy_synthetic_source(synthetic_source, data_dir)
    cfg = load_config(env={}, profile="smoke", data_dir=data_dir)
    download_archive(cfg, verbose=False)
    folder = cfg.work_dir / "downloads"
    return folder, cfg.archive_url, file_stats(folder / "17flowers_extracted")


@pytest.fixture
def smoke_cfg_downloaded(smoke_cfg: Config,
                         smoke_downloads: tuple[Path, str, dict[Path, tuple[int, int]]]) -> Iterator[Config]:
    """:func:`smoke_cfg` with the archive already downloaded and extracted (from the session's download).

    For tests about checking and splitting, which need not pay for the
    extraction again. The extracted images are *hard links* to the session's
    copy, so a test may delete or replace them but must never write into one;
    the fixture fails the test that does. The ``.complete`` marker names the
    URL, which names the data folder, so it is rewritten for this test's URL;
    should the marker's format ever change, ``download_archive`` simply
    extracts again (slower, still right).
    """
    source, source_url, stats = smoke_downloads
    target = smoke_cfg.work_dir / "downloads"
    target.mkdir(parents=True)
    shutil.copy2(source / "17flowers.tgz", target / "17flowers.tgz")
    shutil.copytree(source / "17flowers_extracted", target / "17flowers_extracted", copy_function=link_or_copy)
    marker = target / "17flowers_extracted" / ".complete"
    if marker.exists():
        text = marker.read_text()
        marker.unlink()  # a fresh file, not a write through the hard link
        marker.write_text(text.replace(source_url, smoke_cfg.archive_url))
    yield smoke_cfg
    assert file_stats(source / "17flowers_extracted") == stats, (
        "this test wrote into the shared extracted images of smoke_cfg_downloaded (they are hard links)")

