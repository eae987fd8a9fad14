"""The synthetic stand-in for 17flowers.tgz: official layout, real JPEGs, deterministic bytes."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from helpers import files, flowers17, synthetic

N = 1360
NAMES = [f"image_{n:04d}.jpg" for n in range(1, N + 1)]


def test_archive_has_exactly_the_official_layout(synthetic_source: Path) -> None:
    """jpg/image_0001.jpg .. jpg/image_1360.jpg plus jpg/files.txt, all regular files, nothing else."""
    with tarfile.open(synthetic_source / "17flowers.tgz", "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert len(names) == N + 1
    assert set(names) == {f"jpg/{n}" for n in NAMES} | {"jpg/files.txt"}
    assert all(m.isfile() for m in members)


def test_files_txt_lists_the_1360_names_in_order(synthetic_images: dict[str, bytes]) -> None:
    """jpg/files.txt names every image once, in numeric order, one per line."""
    listing = synthetic_images["jpg/files.txt"].decode()
    assert listing.splitlines() == NAMES
    assert listing.endswith("\n")


def test_images_are_rgb_jpegs_of_varied_sizes_and_aspect_ratios(synthetic_images: dict[str, bytes]) -> None:
    """Every image is an RGB JPEG with a 128 px short side; landscape and portrait, many sizes."""
    sizes = []
    for name in NAMES:
        with Image.open(io.BytesIO(synthetic_images[f"jpg/{name}"])) as im:
            assert im.format == "JPEG", name
            assert im.mode == "RGB", name
            sizes.append(im.size)
    assert all(min(w, h) == 128 for w, h in sizes)
    ratios = [max(w, h) / min(w, h) for w, h in sizes]
    assert min(ratios) >= 1.0 and max(ratios) <= 1.61
    assert max(ratios) - min(ratios) > 0.4
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes)
    assert len(set(sizes)) > 50


def test_images_really_decode_and_differ(synthetic_images: dict[str, bytes]) -> None:
    """A few images fully decode; two images of one class are not the same picture."""
    a = np.asarray(Image.open(io.BytesIO(synthetic_images["jpg/image_0001.jpg"])).convert("RGB"))
    b = np.asarray(Image.open(io.BytesIO(synthetic_images["jpg/image_0002.jpg"])).convert("RGB"))
    assert a.std() > 10
    assert a.shape != b.shape or np.abs(a.astype(int) - b.astype(int)).mean() > 5


def test_label_follows_80_consecutive_images_per_class() -> None:
    """label_of: image 1..80 is class 0, 81 is class 1, 1360 is class 16."""
    assert [flowers17.label_of(n) for n in (1, 80, 81, 160, 161, 1360)] == [0, 0, 1, 1, 2, 16]
    assert len(synthetic.STYLES) == len(flowers17.SPECIES) == 17


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic archive with 32 px short sides (seed 0), written once: fast to make again."""
    path = tmp_path_factory.mktemp("small") / "17flowers.tgz"
    return path, synthetic.write_archive(path, seed=0, short_side=32)


def test_same_seed_writes_the_same_bytes_and_another_seed_differs(
        tmp_path: Path, small_archive: tuple[Path, str]) -> None:
    """write_archive is deterministic for a seed (fixed timestamps) and the seed matters."""
    path_a, md5_a = small_archive
    md5_b = synthetic.write_archive(tmp_path / "b.tgz", seed=0, short_side=32)
    md5_c = synthetic.write_archive(tmp_path / "c.tgz", seed=1, short_side=32)
    assert md5_a == md5_b == files.md5_of(path_a)
    assert path_a.read_bytes() == (tmp_path / "b.tgz").read_bytes()
    assert md5_c != md5_a
    assert not list(tmp_path.glob("*.part")), "the temporary .part file must be renamed away"


def test_ensure_synthetic_source_records_the_md5_and_reuses_the_archive(
        tmp_path: Path, synthetic_source: Path, synthetic_md5: str) -> None:
    """The md5 file matches the archive; a second call does not regenerate anything."""
    assert synthetic_md5 == files.md5_of(synthetic_source / "17flowers.tgz")
    folder = tmp_path / "synthetic"
    shutil.copytree(synthetic_source, folder)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert synthetic.ensure_synthetic_source(folder) == synthetic_md5
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_ensure_synthetic_source_regenerates_a_damaged_archive(
        tmp_path: Path, small_archive: tuple[Path, str]) -> None:
    """When the archive no longer matches its recorded md5, it is written again."""
    path, md5 = small_archive
    archive = tmp_path / "17flowers.tgz"
    archive.write_bytes(path.read_bytes()[:1000])
    (tmp_path / "17flowers.tgz.md5").write_text(md5 + "\n")
    assert synthetic.ensure_synthetic_source(tmp_path, seed=0, short_side=32) == md5
    assert files.md5_of(archive) == md5
    assert (tmp_path / "datasplits.mat").exists()


@pytest.fixture(scope="module")
def datasplits(synthetic_source: Path) -> dict[str, np.ndarray]:
    mat = loadmat(synthetic_source / "datasplits.mat")
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def test_datasplits_has_the_official_keys_and_sizes(datasplits: dict[str, np.ndarray]) -> None:
    """trn1..3 hold 680 ids, val1..3 and tst1..3 hold 340 each, as 1 x n row vectors."""
    assert set(datasplits) == {f"{k}{i}" for k in ("trn", "val", "tst") for i in (1, 2, 3)}
    for key, ids in datasplits.items():
        assert ids.shape == ((1, 680) if key.startswith("trn") else (1, 340)), key


@pytest.mark.parametrize("which", [1, 2, 3])
def test_each_official_split_is_disjoint_covering_and_stratified(
        datasplits: dict[str, np.ndarray], which: int) -> None:
    """1-based ids, no image in two parts, all 1360 used, 40/20/20 per class."""
    parts = {k: datasplits[f"{k}{which}"].astype(int).ravel().tolist() for k in ("trn", "val", "tst")}
    everything = parts["trn"] + parts["val"] + parts["tst"]
    assert len(everything) == len(set(everything)) == N
    assert set(everything) == set(range(1, N + 1))
    for key, per_class in (("trn", 40), ("val", 20), ("tst", 20)):
        counts = Counter((n - 1) // 80 for n in parts[key])
        assert counts == {c: per_class for c in range(17)}, key


def test_the_three_official_splits_differ(datasplits: dict[str, np.ndarray]) -> None:
    """trn1, trn2 and trn3 are three different draws."""
    trn = [frozenset(datasplits[f"trn{i}"].astype(int).ravel().tolist()) for i in (1, 2, 3)]
    assert len(set(trn)) == 3
