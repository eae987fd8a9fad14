"""Issue 10's hostile but realistic cases: each ends in one message, loses nothing, and a re-run recovers.

Every case runs offline on the synthetic archive (or on files written here).
Each test checks the message, that nothing the learner made was lost
(byte-identical where it is their file), and where the course can repair the
state itself, that the next call does.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from support import ROOT, assert_single_readable_message, copy_synthetic_source, write_tgz

from helpers import config, data, download, files, flowers17, generators, models, runs, training
from helpers.config import Config, load_config
from helpers.errors import FlowersError


def archive_cfg(tmp_path: Path, archive: Path) -> Config:
    """A smoke configuration that downloads ``archive`` (no md5 check, as for a learner's repack)."""
    return load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build",
                       archive_url=archive.as_uri(), archive_md5="")


def listing(names: list[str]) -> bytes:
    return ("\n".join(names) + "\n").encode()


# --------------------------------------------------------------------------- the archive


def test_an_archive_listing_image_1361_leaves_it_out_and_splits_the_rest(
        tmp_path: Path, synthetic_images: dict[str, bytes], capsys: pytest.CaptureFixture) -> None:
    members = [(name, payload) for name, payload in synthetic_images.items() if name != "jpg/files.txt"]
    members.append(("jpg/image_1361.jpg", synthetic_images["jpg/image_0001.jpg"]))
    members.append(("jpg/files.txt", listing([f"image_{n:04d}.jpg" for n in range(1, 1362)])))
    cfg = archive_cfg(tmp_path, write_tgz(tmp_path / "server" / "17flowers.tgz", members))

    prepared = data.prepare_split(cfg, verbose=False)
    assert "Left out image_1361.jpg: not one of the 1,360 Flowers17 images" in capsys.readouterr().out
    assert len(prepared.assignment) == 1360 and 1361 not in prepared.assignment
    assert data.split_problem(prepared.folder) is None
    assert data.ensure_split(cfg) == prepared.folder           # the re-run reuses it, silently
    assert capsys.readouterr().out == ""


def test_a_two_image_archive_stops_with_one_message_and_writes_no_split(
        tmp_path: Path, synthetic_images: dict[str, bytes]) -> None:
    names = ["image_0001.jpg", "image_0081.jpg"]
    members = [(f"jpg/{n}", synthetic_images[f"jpg/{n}"]) for n in names] + [("jpg/files.txt", listing(names))]
    cfg = archive_cfg(tmp_path, write_tgz(tmp_path / "server" / "17flowers.tgz", members))
    with pytest.raises(FlowersError, match=r"split is empty: the archive has only 2 readable Flowers17 images"
                                           r".*FLOWERS17_URL") as err:
        data.prepare_split(cfg, verbose=False)
    assert_single_readable_message(err.value)
    assert not data.split_dir(cfg).exists()
    with pytest.raises(FlowersError, match="only 2 readable"):     # the same sentence again, not a traceback
        data.ensure_split(cfg, verbose=False)


@pytest.mark.parametrize("damage", ["garbage marker", "files.txt deleted"])
def test_a_damaged_extraction_is_extracted_again(smoke_cfg_downloaded: Config, damage: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    cfg = smoke_cfg_downloaded
    extracted = cfg.work_dir / "downloads" / "17flowers_extracted"
    if damage == "garbage marker":
        (extracted / ".complete").unlink()
        (extracted / ".complete").write_bytes(b"\x00\xffhalf")
    else:
        (extracted / "jpg" / "files.txt").unlink()
    assert download.download_archive(cfg) == extracted
    assert "extracting" in capsys.readouterr().out
    assert (extracted / "jpg" / "files.txt").exists()
    assert len(data.check_images(extracted).good) == 1360
    download.download_archive(cfg)
    assert "Already downloaded and extracted" in capsys.readouterr().out


# --------------------------------------------------------------------------- datasplits.mat


def test_a_damaged_datasplits_mat_the_course_downloaded_is_deleted_and_fetched_again(smoke_cfg: Config) -> None:
    path = download.download_official_splits(smoke_cfg)
    assert path.with_name("datasplits.mat.source").exists()          # the course's own download
    path.write_bytes(path.read_bytes()[:100])                          # cut off
    with pytest.raises(FlowersError, match=r"not a readable datasplits.mat.*had downloaded it, so it deleted "
                                           r"it: run the cell again") as err:
        download.download_official_splits(smoke_cfg)
    assert_single_readable_message(err.value)
    assert not path.exists()
    again = download.download_official_splits(smoke_cfg)                   # the re-run repairs it
    assert set(download.read_official_splits(again)) == set(download.SPLITS_KEYS)


def test_a_learners_damaged_datasplits_mat_is_kept(smoke_cfg: Config, capsys: pytest.CaptureFixture) -> None:
    path = smoke_cfg.work_dir / "downloads" / "datasplits.mat"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"MATLAB 5.0 MAT-file, cut off here")
    with pytest.raises(FlowersError, match="not a readable datasplits.mat.*did not download it, so it was kept"):
        download.download_official_splits(smoke_cfg)
    assert path.read_bytes() == b"MATLAB 5.0 MAT-file, cut off here"
    # The seeded split does not need the file: lesson 01 says why it skips the comparison and goes on.
    assert download.official_splits_if_available(smoke_cfg) is None
    assert "Skipping the official splits" in capsys.readouterr().out
    assert path.read_bytes() == b"MATLAB 5.0 MAT-file, cut off here"


def test_a_datasplits_mat_without_trn3_names_the_missing_array(smoke_cfg: Config) -> None:
    path = smoke_cfg.work_dir / "downloads" / "datasplits.mat"
    path.parent.mkdir(parents=True)
    savemat(path, {key: np.arange(1, 11) for key in download.SPLITS_KEYS if key != "trn3"})
    saved = path.read_bytes()
    with pytest.raises(FlowersError, match="missing the array 'trn3'"):
        data.official_split(path, 1, {n: flowers17.label_of(n) for n in range(1, 1361)})
    assert path.read_bytes() == saved


# --------------------------------------------------------------------------- the split


def test_a_truncated_split_json_is_repaired(smoke_cfg_downloaded: Config, capsys: pytest.CaptureFixture) -> None:
    cfg = smoke_cfg_downloaded
    folder = data.ensure_split(cfg, verbose=False)
    info = folder / "split.json"
    info.write_text(info.read_text()[:20])
    capsys.readouterr()
    assert data.ensure_split(cfg, verbose=False) == folder
    assert "split.json is damaged" in capsys.readouterr().out
    assert runs.run_identity(cfg)["archive_md5"] == files.md5_of(cfg.work_dir / "downloads" / "17flowers.tgz")
    assert data.split_problem(folder) is None


def test_a_class_folder_deleted_from_the_split_is_rebuilt(smoke_cfg_downloaded: Config,
                                                          capsys: pytest.CaptureFixture) -> None:
    cfg = smoke_cfg_downloaded
    folder = data.ensure_split(cfg, verbose=False)
    rows = data.read_manifest(folder)
    shutil.rmtree(folder / "validation" / flowers17.class_folder(3))
    assert "20 image(s) of manifest.csv are missing" in data.split_problem(folder)
    capsys.readouterr()
    data.ensure_split(cfg, verbose=False)
    assert "no longer matches what was written" in capsys.readouterr().out
    assert data.split_problem(folder) is None and data.read_manifest(folder) == rows


def test_a_photo_dropped_into_the_split_is_noticed(smoke_cfg_downloaded: Config) -> None:
    folder = data.ensure_split(smoke_cfg_downloaded, verbose=False)
    stray = folder / "test" / flowers17.class_folder(0) / "holiday.jpg"
    shutil.copy(next((folder / "train" / flowers17.class_folder(0)).iterdir()), stray)
    assert "1 file(s) are not in manifest.csv, e.g. test/00_daffodil/holiday.jpg" == data.split_problem(folder)
    data.ensure_split(smoke_cfg_downloaded, verbose=False)
    assert not stray.exists() and data.split_problem(folder) is None


def test_generators_refuse_folders_with_different_classes(smoke_cfg_downloaded: Config) -> None:
    folder = data.ensure_split(smoke_cfg_downloaded, verbose=False)
    shutil.rmtree(folder / "validation" / flowers17.class_folder(16))
    with pytest.raises(FlowersError, match="do not hold the same class folders.*Run lesson 01 again"):
        generators.make_generators(smoke_cfg_downloaded, folder)


def test_two_processes_preparing_the_same_split_at_once_both_get_it(tmp_path: Path, synthetic_source: Path) -> None:
    data_dir = tmp_path / "data"
    copy_synthetic_source(synthetic_source, data_dir)
    script = ("from helpers.config import load_config; from helpers import data; "
              f"cfg = load_config(env={{}}, profile='smoke', data_dir={str(data_dir)!r}); "
              "print('split at', data.ensure_split(cfg, verbose=False))")
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    cfg = load_config(env={}, profile="smoke", data_dir=data_dir)
    assert all(f"split at {data.split_dir(cfg)}" in out for out in outputs)
    assert data.split_problem(data.split_dir(cfg)) is None
    assert not (data_dir / "smoke" / "split.tmp").exists() and not (data_dir / "smoke" / "split.old").exists()


def test_a_second_process_waits_for_the_lock_then_goes_on(smoke_cfg: Config, capsys: pytest.CaptureFixture) -> None:
    from filelock import FileLock

    # another holder, with its own file handle like another process; released from a timer thread
    other = FileLock(smoke_cfg.work_dir / ".lock", thread_local=False)
    smoke_cfg.work_dir.mkdir(parents=True, exist_ok=True)
    other.acquire()
    threading.Timer(0.5, other.release).start()
    start = time.perf_counter()
    with download.data_lock(smoke_cfg, timeout=30):
        waited = time.perf_counter() - start
    assert waited >= 0.4
    assert f"Another process is using {smoke_cfg.work_dir}. This cell waits for it" in capsys.readouterr().out


def test_a_lock_held_too_long_gives_one_message(smoke_cfg: Config) -> None:
    from filelock import FileLock

    smoke_cfg.work_dir.mkdir(parents=True, exist_ok=True)
    other = FileLock(smoke_cfg.work_dir / ".lock")
    with other:
        with pytest.raises(FlowersError, match="Another process has been using .* for over 0 s.*run the cell again"):
            with download.data_lock(smoke_cfg, timeout=0.2):
                pass


def test_state_files_are_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / ".complete"
    target.write_text("old and good\n")

    def crash(self: Path, other: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        files.write_text_atomic(target, "new")
    assert target.read_text() == "old and good\n"


# --------------------------------------------------------------------------- weights, models, logs


def test_a_damaged_weights_file_is_kept_aside_and_downloaded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Keras keeps a cut-off ``.h5`` forever (h5py's OSError on every run); the course moves it aside.

    ``BackboneSpec.build`` is replaced by what Keras does with the cache: open
    the cached file, or download it when it is missing (here: write a good one).
    """
    import h5py

    cache = tmp_path / "keras"
    (cache / "models").mkdir(parents=True)
    weights = cache / "models" / "mobilenet_v2_weights_notop.h5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n cut off")
    monkeypatch.setattr(models, "_keras_cache", lambda: cache)

    def keras_build(self, weights_arg, input_shape):
        if not weights.exists():
            with h5py.File(weights, "w") as f:
                f["kernel"] = np.zeros(3)
        with h5py.File(weights, "r") as f:
            return f"a base with {f['kernel'].shape} weights"

    monkeypatch.setattr(models.BackboneSpec, "build", keras_build)
    cfg = load_config(env={}, profile="full", backbone="mobilenet_v2", data_dir=tmp_path / "d",
                      build_dir=tmp_path / "b")
    assert models.load_base(cfg) == "a base with (3,) weights"
    assert "mobilenet_v2_weights_notop.h5" in capsys.readouterr().out
    assert (cache / "models" / "mobilenet_v2_weights_notop.h5.damaged").read_bytes() == b"\x89HDF\r\n\x1a\n cut off"


def test_a_weights_file_of_another_width_is_named_kept_aside_and_fetched_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Width-0.5 weights under the 0.35 name: Keras' shape-mismatch ValueError names no file; the course does."""
    cache = tmp_path / "keras"
    (cache / "models").mkdir(parents=True)
    cfg = load_config(env={}, profile="full", backbone="mobilenet_v2_035", data_dir=tmp_path / "d",
                      build_dir=tmp_path / "b")
    weights = cache / "models" / models.backbone_spec(cfg).weights_file(cfg.image_size)
    weights.write_bytes(b"width 0.5")
    monkeypatch.setattr(models, "_keras_cache", lambda: cache)

    def keras_build(self, weights_arg, input_shape):      # what Keras does: read the cached file, or download
        if not weights.exists():
            weights.write_bytes(b"width 0.35")
        if weights.read_bytes() != b"width 0.35":
            raise ValueError("Shape mismatch in layer #10 (named block_1_project)for weight block_1_project/kernel. "
                             "Weight expects shape (1, 1, 48, 8). Received saved weight with shape (1, 1, 48, 16)")
        return "a base"

    monkeypatch.setattr(models.BackboneSpec, "build", keras_build)
    assert models.load_base(cfg) == "a base"
    out = capsys.readouterr().out
    assert (f"The weights file {weights.name} in {weights.parent} does not fit MobileNetV2 (its shapes differ"
            in out and "Downloading it again." in out)
    assert weights.with_name(weights.name + ".damaged").read_bytes() == b"width 0.5"
    weights.write_bytes(b"width 0.5")                       # wrong again, and this time offline: one message

    def offline_build(self, weights_arg, input_shape):
        if weights.exists():
            raise ValueError("Shape mismatch in layer #1")
        raise Exception(f"URL fetch failure on https://example.invalid/{weights.name}: None -- offline")

    monkeypatch.setattr(models.BackboneSpec, "build", offline_build)
    with pytest.raises(FlowersError, match="Could not download the ImageNet weights of MobileNetV2"):
        models.load_base(cfg)


def test_each_backbone_names_the_weights_file_keras_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """BackboneSpec.weights_file against Keras itself: the name each constructor asks get_file for."""
    from keras.src.utils import file_utils

    asked: list[str] = []

    def get_file(fname=None, origin=None, **kwargs):
        asked.append(fname)
        raise LookupError("stop here")

    monkeypatch.setattr(file_utils, "get_file", get_file)
    for spec in models.BACKBONES.values():
        for side in sorted({spec.image_size, 224, 160}):
            with pytest.raises(LookupError):
                spec.build("imagenet", (side, side, 3))
            assert asked[-1] == spec.weights_file(side), (spec.name, side)


def _phase_files(cfg: Config) -> None:
    runs.start_clean(cfg, "transfer")        # the record a real phase writes first


def test_a_truncated_keras_model_is_refused_with_one_message(smoke_cfg_downloaded: Config) -> None:
    cfg = smoke_cfg_downloaded
    data.ensure_split(cfg, verbose=False)
    _phase_files(cfg)
    path = runs.model_path(cfg, "transfer")
    path.write_bytes(b"PK\x03\x04 half of a zip file")
    with pytest.raises(FlowersError, match=r"cannot be read.*probably damaged.*Run lesson 05 again") as err:
        training.load_phase_model(cfg, "transfer")
    assert_single_readable_message(err.value)


@pytest.mark.parametrize("last_row", ["3,0.5", "3,0.5,"])
def test_a_half_written_log_is_refused_with_one_message(smoke_cfg_downloaded: Config, last_row: str) -> None:
    cfg = smoke_cfg_downloaded
    data.ensure_split(cfg, verbose=False)
    _phase_files(cfg)
    log = runs.log_path(cfg, "transfer")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"epoch,accuracy,loss\n0,0.4,2.0\n{last_row}")
    with pytest.raises(FlowersError, match="is damaged: a row is incomplete.*Run lesson 05 again"):
        training.read_log(cfg, "transfer")
    assert log.read_text().endswith(last_row)


# --------------------------------------------------------------------------- settings


def test_a_data_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "data.txt"
    not_a_folder.write_text("my notes")
    for path in (not_a_folder, not_a_folder / "inside"):
        with pytest.raises(FlowersError, match=rf"FLOWERS_DATA_DIR must be a folder, but {not_a_folder} is a file"):
            load_config(env={"FLOWERS_DATA_DIR": str(path)})
    with pytest.raises(FlowersError, match="FLOWERS_BUILD_DIR must be a folder"):
        load_config(env={"FLOWERS_BUILD_DIR": str(not_a_folder)})
    assert not_a_folder.read_text() == "my notes"


def test_a_read_only_data_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    real_access = config.os.access
    # root may write anywhere, so for root the test plays the file system's answer for a read-only folder
    monkeypatch.setattr(config.os, "access", lambda p, mode: False if Path(p) == read_only else real_access(p, mode))
    try:
        with pytest.raises(FlowersError, match=rf"FLOWERS_DATA_DIR: the folder {read_only} cannot be written"):
            load_config(env={"FLOWERS_DATA_DIR": str(read_only)})
        with pytest.raises(FlowersError, match=rf"{read_only / 'data'} cannot be created, because {read_only}"):
            load_config(env={"FLOWERS_DATA_DIR": str(read_only / "data")})
    finally:
        read_only.chmod(0o755)


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_seed_keras_cannot_use_is_refused(seed: str) -> None:
    with pytest.raises(FlowersError, match="FLOWERS_SEED must be a whole number from 0 to 4,294,967,295"):
        load_config(env={"FLOWERS_SEED": seed})


def test_the_seed_limits_themselves_are_accepted() -> None:
    import keras

    for seed in (0, config.MAX_SEED):
        cfg = load_config(env={"FLOWERS_SEED": str(seed)})
        keras.utils.set_random_seed(cfg.seed)   # what setup() does with it


def test_user_facing_checks_are_not_asserts() -> None:
    """``python -O`` drops ``assert``: helpers raise FlowersError instead."""
    asserts = [f"{path.name}:{node.lineno}" for path in sorted((ROOT / "helpers").glob("*.py"))
               for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert asserts == []


def test_lesson_03s_inline_call_gets_one_message_and_its_rerun_downloads_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lesson 03 wraps its own InceptionV3(...) call in models.weights_help: no traceback, nothing lost."""
    cache = tmp_path / "keras"
    (cache / "models").mkdir(parents=True)
    weights = cache / "models" / "inception_v3_weights_notop.h5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n cut off")
    monkeypatch.setattr(models, "_keras_cache", lambda: cache)
    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "d", build_dir=tmp_path / "b")

    def keras_loads_the_cached_file() -> None:
        import h5py

        with h5py.File(weights, "r"):
            pass

    with pytest.raises(models.DamagedWeights, match=r"cannot be read.*renamed to .*\.damaged\. Run the cell again"):
        with models.weights_help(cfg):
            keras_loads_the_cached_file()
    assert not weights.exists()
    assert weights.with_name(weights.name + ".damaged").read_bytes() == b"\x89HDF\r\n\x1a\n cut off"
    with pytest.raises(OSError):                     # any other error passes through unchanged
        with models.weights_help(cfg.replace(weights=None)):
            raise OSError("not about weights")
