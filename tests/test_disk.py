"""A full, read-only or forbidden disk gets one message, keeps what passed its check, and leaves no .part file.

The full disk is an injected ``OSError(ENOSPC)`` (and ``EROFS``) at the call
that would hit it, so the tests are deterministic and need no small
filesystem; tests run as root here, where ``chmod`` would not stop a write.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from helpers import disk, download, environment, files, synthetic
from helpers.config import Config
from helpers.disk import DiskError
from helpers.flowers17 import ARCHIVE_NAME

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
READ_ONLY = OSError(errno.EROFS, os.strerror(errno.EROFS))


def _full_disk(monkeypatch: pytest.MonkeyPatch, error: OSError = NO_SPACE) -> None:
    """Every Path.write_bytes fails as on a full disk."""
    def write_bytes(self, data):
        raise error

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_whole_write_on_a_full_disk_names_the_folder_and_keeps_the_old_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "results.json"
    record.write_text('{"old": 1}')
    _full_disk(monkeypatch)
    with pytest.raises(DiskError, match=f"Could not write results.json: the folder {tmp_path} is full. It needs "
                                        f"about 1 MB free.*Free some space there") as err:
        files.write_text_atomic(record, '{"new": 2}')
    assert "Traceback" not in str(err.value)
    monkeypatch.undo()
    assert record.read_text() == '{"old": 1}' and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_read_only_folder_is_named_as_read_only_not_as_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _full_disk(monkeypatch, READ_ONLY)
    with pytest.raises(DiskError, match=r"is on a read-only disk\. Point FLOWERS_DATA_DIR / FLOWERS_BUILD_DIR"):
        files.write_text_atomic(tmp_path / "x.json", "{}")


def test_drawing_the_smoke_archive_on_a_full_disk_leaves_no_part_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _full_disk(monkeypatch)
    with pytest.raises(DiskError, match=f"Could not write {ARCHIVE_NAME}: the folder {tmp_path} is full"):
        synthetic.write_archive(tmp_path / ARCHIVE_NAME, short_side=16)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_download_onto_a_full_disk_says_so_and_leaves_no_part_file(
        smoke_cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    download.serve_synthetic(smoke_cfg)

    def get_file(fname, origin, cache_dir, cache_subdir, **kwargs):
        (Path(cache_dir) / cache_subdir / fname).write_text("half a download")
        raise NO_SPACE

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    downloads = smoke_cfg.work_dir / "downloads"
    with pytest.raises(DiskError, match=f"Could not download datasplits.mat from .*: the folder {downloads} is full"):
        download.download_official_splits(smoke_cfg)
    assert not list(downloads.glob("*.part")) and not (downloads / "datasplits.mat").exists()


def test_a_full_disk_during_extraction_keeps_the_checked_download_and_the_next_run_reuses_it(
        smoke_cfg: Config, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    downloads = smoke_cfg.work_dir / "downloads"
    with pytest.raises(DiskError) as err:
        with download.archive_guard(smoke_cfg) as md5:      # lesson 01's call, its extraction hitting a full disk
            keras.utils.get_file(fname=ARCHIVE_NAME, origin=smoke_cfg.archive_url, file_hash=md5,
                                 hash_algorithm="md5", cache_dir=str(smoke_cfg.work_dir), cache_subdir="downloads")
            (downloads / "17flowers_extracted" / "jpg").mkdir(parents=True)
            raise NO_SPACE
    message = str(err.value)
    assert f"Could not extract {ARCHIVE_NAME}: the folder {downloads} is full. It needs about" in message
    assert "passed its md5 check and was kept" in message and "truncated or corrupt" not in message
    archive = downloads / ARCHIVE_NAME
    kept = archive.stat()
    assert not (downloads / "17flowers_extracted").exists()
    assert json.loads((downloads / f"{ARCHIVE_NAME}.source").read_text()) == {
        "url": smoke_cfg.archive_url, "md5": download.expected_md5(smoke_cfg)}
    capsys.readouterr()
    extracted = download.download_archive(smoke_cfg)                 # the disk has room again
    assert (extracted / "jpg" / "files.txt").exists()
    assert archive.stat().st_ino == kept.st_ino and archive.stat().st_mtime_ns == kept.st_mtime_ns   # not again
    assert "downloading it again" not in capsys.readouterr().out


def test_setup_stops_at_once_on_a_read_only_build_folder_and_on_a_data_folder_without_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.config import load_config

    cfg = load_config(env={}, profile="full", data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    real = disk.tempfile.NamedTemporaryFile

    def temporary(dir, **kwargs):
        if Path(dir) == cfg.build_dir / "models":
            raise READ_ONLY
        return real(dir=dir, **kwargs)

    monkeypatch.setattr(disk.tempfile, "NamedTemporaryFile", temporary)
    with pytest.raises(DiskError, match=f"Could not write the build folder: the folder {cfg.build_dir / 'models'} "
                                        f"is on a read-only disk"):
        environment.check_folders(cfg)
    monkeypatch.undo()
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 50_000_000})())
    with pytest.raises(DiskError, match=r"The data folder .* has only 50 MB free; this run writes about 120 MB"):
        environment.check_folders(cfg)
    (cfg.work_dir / "downloads" / "17flowers_extracted").mkdir(parents=True)
    (cfg.work_dir / "downloads" / "17flowers_extracted" / ".complete").write_text("done")
    environment.check_folders(cfg)                                   # extracted already: little more to write
    smoke = load_config(env={}, profile="smoke", data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    environment.check_folders(smoke)


#: A lesson's training cell, in an IPython shell as Jupyter runs it: the setup cell, a finished run, then a
#: rerun whose ModelCheckpoint meets a full disk while saving (what Keras' own save would raise).
FULL_DURING_FIT = r'''
import errno
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = [
    "from helpers.environment import setup\ncfg = setup()",
    """
import errno
import keras, numpy as np
from helpers import runs
x, y = np.zeros((8, 1)), np.zeros((8, 1))
def run():
    files = runs.begin_phase(cfg, "transfer")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(str(files.model), monitor="val_loss")])
    runs.finish_phase(cfg, "transfer")
run()
finished = runs.model_path(cfg, "transfer").read_bytes()
def full(self, filepath, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(filepath))
keras.Model.save = full
print("FINISHED ONE RUN")
""",
    "run()",
    "print('KEPT', runs.model_path(cfg, 'transfer').read_bytes() == finished)",
    "import errno\nraise OSError(errno.ENOENT, 'No such file or directory', 'missing.txt')",
    "raise PermissionError(errno.EACCES, 'Permission denied', '/home/me/Pictures')",   # reading, maybe
    "raise OSError(errno.ENOSPC, 'No space left on device')",                            # no file named
]
for cell in cells:
    shell.run_cell(cell)
'''


def test_a_full_disk_while_fit_saves_a_checkpoint_is_one_message_and_the_finished_model_stays(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "FLOWERS_PROFILE": "smoke", "FLOWERS_DATA_DIR": str(tmp_path / "data"),
           "FLOWERS_BUILD_DIR": str(tmp_path / "build"), "TF_CPP_MIN_LOG_LEVEL": "2", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", FULL_DURING_FIT], env=env, capture_output=True, text=True,
                          timeout=300)
    out = done.stdout
    assert "FINISHED ONE RUN" in out, done.stderr[-3000:]
    models = tmp_path / "build" / "models"
    message = out.split("FINISHED ONE RUN", 1)[1].split("KEPT", 1)[0]
    assert "FlowersError" in message and "Could not write transfer_smoke_" in message
    assert f"the folder {models} is full" in message
    assert "A training run cut off here leaves the last finished model in place" in message
    assert "Traceback" not in message and "ModelCheckpoint" not in message, "no raw traceback"
    assert "KEPT True" in out, "the last finished transfer model is untouched"
    after = out.split("KEPT", 1)[1]
    assert "FileNotFoundError" in after, "other OSErrors are shown as IPython always shows them"
    assert "PermissionError" in after and "Pictures" in after, "a permission error may be a read: shown as it is"
    assert f"Could not write the lesson's files: the folder {tmp_path / 'build'} is full" in after
