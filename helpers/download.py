"""Get the Flowers17 files: the archive and the official split file, downloaded once, checked, kept safe.

``keras.utils.get_file`` does the downloading and extracting (lesson 01 makes
the archive's call itself, inside :func:`archive_guard`). Around it:

- what the course downloads is recorded in a ``.source`` file, and a file
  without that record (the learner's own) is never deleted; the archive's
  record says "unfinished" until its download and extraction are done, and
  ``datasplits.mat`` goes to a ``.part`` file until its md5 is checked, so a
  download cut off midway is never taken for a good one;
- :func:`data_lock` makes a second process wait while one downloads or splits;
- in the smoke profile, :func:`serve_synthetic` plays the download server.

:mod:`helpers.data` labels and splits what this module provides.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from helpers import synthetic
from helpers.config import Config
from helpers.disk import disk_error, is_disk_error
from helpers.errors import FlowersError
from helpers.files import md5_of, write_text_atomic
from helpers.flowers17 import ARCHIVE_NAME
from helpers.locks import folder_lock

#: The nine arrays of ``datasplits.mat``: ``trn1``, ``val1``, ``tst1``, ... ``tst3``.
SPLITS_KEYS: tuple[str, ...] = tuple(f"{key}{which}" for which in (1, 2, 3) for key in ("trn", "val", "tst"))


# --------------------------------------------------------------------------- state on disk

@contextmanager
def data_lock(cfg: Config, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of the profile's data folder while downloading, extracting or splitting.

    Two processes that prepare the same data at once (two lessons started
    together, say) would otherwise write into the same folders. The second one
    waits for the first (:func:`helpers.locks.folder_lock`); the split the
    first one made is then reused.

    Raises:
        FlowersError: when another process holds the lock for over ``timeout``
            seconds (``None``: :data:`helpers.locks.LOCK_TIMEOUT`).
    """
    with folder_lock(cfg.work_dir, "a run preparing the data", timeout):
        yield


# --------------------------------------------------------------------------- download


def _download_message(cfg: Config, reason: str) -> str:
    where = cfg.work_dir / "downloads" / ARCHIVE_NAME
    return (
        f"Could not download the Flowers17 archive from {cfg.archive_url} ({reason}).\n"
        f"What to do next: check your internet connection and run the cell again; or download "
        f"{ARCHIVE_NAME} yourself and put it at {where}; or point FLOWERS17_URL at your copy "
        f"(a file:// URL works); or try the course offline with FLOWERS_PROFILE=smoke."
    )


def remove_path(path: Path) -> None:
    """Delete a file or a folder, if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def serve_synthetic(cfg: Config) -> None:
    """The smoke profile's download server: a folder on disk that holds the synthetic archive.

    Writes ``data/synthetic/17flowers.tgz`` (and ``datasplits.mat``) once, with
    the archive's md5 recorded beside it; later calls find them and do nothing.
    :func:`download_archive` and :func:`download_official_splits` call it first
    in the smoke profile, so that the smoke download is a real one.
    """
    if cfg.synthetic:
        synthetic.ensure_synthetic_source(cfg.data_dir / "synthetic", seed=0)


def expected_md5(cfg: Config) -> str | None:
    """The md5 the archive must have: the configured one; in the smoke profile, the one recorded
    beside the synthetic archive (``None`` until :func:`serve_synthetic` has made it). Writes nothing."""
    if cfg.synthetic:
        return synthetic.recorded_md5(cfg.data_dir / "synthetic")
    return cfg.archive_md5


def _kept_file_message(path: Path, actual: str, expected: str, variable: str, url: str) -> str:
    return (f"{path} is not the file the course expects: its md5 is {actual}, not {expected}. "
            f"The course did not download it, so it was kept. If it is your own copy (a repack, "
            f"say), use it with {variable}={actual} (or {variable}= to skip the check); otherwise "
            f"move it away and run the cell again to download it from {url}.")


def _reusable(downloads: Path, name: str, url: str, md5: str | None, variable: str) -> bool:
    """Whether ``downloads/<name>`` can be used as it is (checked); otherwise nothing of it is left.

    The course's own download is recorded in ``<name>.source`` (its URL and
    md5): it is reused only for the same URL and md5, and deleted otherwise,
    or when the record says the download never finished. A file without that
    record was put there by the learner and is never deleted: when its md5 is
    not the expected one, the course stops with its real md5 and the variable
    that accepts it (``get_file`` would download over it).

    Raises:
        FlowersError: for a learner's file of the wrong md5.
    """
    target = downloads / name
    source = downloads / f"{name}.source"
    if target.exists() and source.exists():  # the course's own download: reuse it only for the same source
        try:
            recorded = json.loads(source.read_text())
        except ValueError:
            recorded = None
        if recorded == {"url": url, "md5": md5} and (md5 is None or md5_of(target) == md5):
            return True
        if isinstance(recorded, dict) and recorded.get("finished") is False:
            print(f"The download of {name} into {downloads} was cut off; downloading it again.")
        else:
            print(f"The {name} in {downloads} came from another source ({recorded}); downloading it again.")
        remove_path(target)
        remove_path(source)
    if target.exists():
        if md5 is not None and (actual := md5_of(target)) != md5:
            raise FlowersError(_kept_file_message(target, actual, md5, variable, url))
        return True
    remove_path(source)
    return False


def _fetch(cfg: Config, name: str, url: str, md5: str | None, variable: str) -> tuple[Path, bool]:
    """``downloads/<name>``: a copy already there (checked), or a fresh download; and whether it is fresh.

    :func:`_reusable` decides whether a copy there is used. A download goes
    to ``<name>.part`` and gets the real name only after ``get_file`` has
    checked its md5; a failed one is deleted. A finished download is recorded
    in ``<name>.source``.

    Raises:
        FlowersError: for a kept file of the wrong md5, an unreachable URL,
            or a download that fails its md5 check.
    """
    downloads = cfg.work_dir / "downloads"
    # Keras is imported here, not at the top, so that the tools that read splits load no
    # TensorFlow, and so that the setup cell can quiet TensorFlow's start-up lines first.
    import keras

    # get_file silently falls back to /tmp/.keras when the cache folder does not exist yet.
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / name
    if _reusable(downloads, name, url, md5, variable):
        return target, False
    partial = downloads / f"{name}.part"
    remove_path(partial)
    try:
        keras.utils.get_file(fname=partial.name, origin=url, file_hash=md5, hash_algorithm="md5",
                 cache_dir=str(cfg.work_dir), cache_subdir="downloads")
    except ValueError as exc:
        remove_path(partial)
        if "hash" not in str(exc).lower():
            raise
        raise FlowersError(_corrupt_message(url, md5, variable)) from None
    except OSError as exc:
        remove_path(partial)
        if not is_disk_error(exc):
            raise
        raise disk_error(exc, downloads, f"download {name} from {url}") from None
    except Exception as exc:  # get_file wraps every network failure in a bare Exception
        remove_path(partial)
        if "URL fetch failure" not in str(exc):
            raise
        raise Unreachable(str(exc).split(" -- ")[-1]) from None
    partial.rename(target)
    write_text_atomic(downloads / f"{name}.source", json.dumps({"url": url, "md5": md5}))
    return target, True


def _corrupt_message(url: str, md5: str | None, variable: str) -> str:
    return (f"The file downloaded from {url} is corrupt or incomplete: its md5 is not {md5}. The "
            f"course deleted what it downloaded; run the cell again to download it again. If the "
            f"file at that address is a repack, set {variable} to its md5 (or to an empty value "
            f"to skip the check).")


def downloaded_by_course(path: Path) -> bool:
    """Whether the course downloaded ``path`` itself (it then has a ``.source`` record)."""
    return path.with_name(f"{path.name}.source").exists()


class Unreachable(FlowersError):
    """A download that could not start (no network, no such file); the callers say what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def archive_guard(cfg: Config, verbose: bool = True) -> Iterator[str | None]:
    """Keep a ``get_file`` call that downloads and extracts the archive safe; yield the md5 it must check.

    Lesson 01 makes the call itself, inside this block::

        with download.archive_guard(cfg) as md5:
            extracted = get_file(fname="17flowers.tgz", origin=cfg.archive_url, file_hash=md5,
                                 hash_algorithm="md5", cache_dir=str(cfg.work_dir),
                                 cache_subdir="downloads", extract=True)

    and :func:`download_archive` makes the same call for later lessons.
    Around it the guard holds :func:`data_lock`, plays the smoke profile's
    server (:func:`serve_synthetic`), and:

    - before: keeps or clears the copy in ``downloads/`` (:func:`_reusable`),
      deletes any earlier extraction (so that nothing is written through the
      split's hard links), and, when ``get_file`` is to download, records the
      download as unfinished in ``17flowers.tgz.source``, so that one cut off
      midway (a killed kernel) is known as the course's own and replaced;
    - after: turns ``get_file``'s errors into one :class:`FlowersError` each,
      deletes a bad archive the course downloaded (a learner's own is kept),
      checks for ``jpg/files.txt``, and records the finished download and the
      finished extraction (``17flowers_extracted/.complete``).
    """
    with data_lock(cfg):
        serve_synthetic(cfg)
        downloads = cfg.work_dir / "downloads"
        archive = downloads / ARCHIVE_NAME
        source = downloads / f"{ARCHIVE_NAME}.source"
        extracted = downloads / "17flowers_extracted"
        md5 = expected_md5(cfg)
        # get_file silently falls back to /tmp/.keras when the cache folder does not exist yet.
        downloads.mkdir(parents=True, exist_ok=True)
        remove_path(extracted)
        if verbose and md5 is None:
            print("FLOWERS17_MD5 is empty: the archive's checksum will NOT be checked.")
        fresh = not _reusable(downloads, ARCHIVE_NAME, cfg.archive_url, md5, "FLOWERS17_MD5")
        if fresh:
            write_text_atomic(source, json.dumps({"url": cfg.archive_url, "md5": md5, "finished": False}))

        def bad_archive(what: str) -> FlowersError:
            remove_path(extracted)
            if fresh:
                remove_path(archive)
                remove_path(source)
                return FlowersError(f"{what} The course deleted the file it downloaded; check FLOWERS17_URL "
                                    f"and run the cell again to download it again.")
            return FlowersError(f"{what} The course did not download {archive}, so it was kept: replace it "
                                f"with a good copy, or move it away to download the archive from "
                                f"{cfg.archive_url}.")

        def forget_unfinished() -> None:  # get_file deletes a download that failed; drop its record too
            remove_path(extracted)
            if fresh and not archive.exists():
                remove_path(source)

        try:
            yield md5
        except ValueError as exc:
            if not (fresh and "hash" in str(exc).lower()):
                forget_unfinished()
                raise
            remove_path(archive)
            forget_unfinished()
            raise FlowersError(_corrupt_message(cfg.archive_url, md5, "FLOWERS17_MD5")) from None
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            if is_disk_error(exc):
                raise _disk_full_guard(exc, cfg, fresh, forget_unfinished) from None
            if not archive.exists():  # the download failed, not the extraction
                forget_unfinished()
                raise
            raise bad_archive(f"The archive from {cfg.archive_url} could not be extracted "
                              f"({type(exc).__name__}: {exc}). It is probably truncated or corrupt.") from None
        except Exception as exc:  # get_file wraps every network failure in a bare Exception
            forget_unfinished()
            if "URL fetch failure" not in str(exc):
                raise
            raise FlowersError(_download_message(cfg, str(exc).split(" -- ")[-1])) from None
        except BaseException:  # an interrupt: a cut-off download stays marked unfinished
            forget_unfinished()
            raise
        if not (extracted / "jpg" / "files.txt").exists():
            raise bad_archive(f"The file from {cfg.archive_url} is not the Flowers17 archive (no jpg/files.txt "
                              f"inside).")
        if fresh:
            write_text_atomic(source, json.dumps({"url": cfg.archive_url, "md5": md5}))
        write_text_atomic(extracted / ".complete", f"{cfg.archive_url} {md5}\n")


def _disk_full_guard(exc: OSError, cfg: Config, fresh: bool, forget_unfinished: Callable[[], None]) -> FlowersError:
    """:func:`archive_guard`'s message for a full, read-only or forbidden folder: a checked download is kept.

    When the extraction failed, the archive had passed ``get_file``'s md5
    check: it is kept and recorded as finished (or, where even that small
    record cannot be written, its record is removed, so that the next run
    checks its md5 and reuses it), and the message says so.
    """
    downloads = cfg.work_dir / "downloads"
    archive, source = downloads / ARCHIVE_NAME, downloads / f"{ARCHIVE_NAME}.source"
    forget_unfinished()
    if not archive.exists():
        return disk_error(exc, downloads, f"download {ARCHIVE_NAME} from {cfg.archive_url}")
    if fresh:
        try:
            write_text_atomic(source, json.dumps({"url": cfg.archive_url, "md5": expected_md5(cfg)}))
        except FlowersError:
            remove_path(source)
    return disk_error(exc, downloads, f"extract {ARCHIVE_NAME}", needs=archive.stat().st_size,
                      kept="The archive passed its md5 check and was kept: the next run extracts it "
                           "without downloading it again.")


def download_archive(cfg: Config, verbose: bool = True) -> Path:
    """Download, verify and extract the archive; return the folder that holds ``jpg/``.

    ``keras.utils.get_file`` does the work, inside :func:`archive_guard` (the
    same call lesson 01 makes): it downloads the archive into
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
    serve_synthetic(cfg)
    extracted = cfg.work_dir / "downloads" / "17flowers_extracted"
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

    import keras  # here, not at the top: see _fetch

    with archive_guard(cfg, verbose) as md5:
        keras.utils.get_file(fname=ARCHIVE_NAME, origin=cfg.archive_url, file_hash=md5, hash_algorithm="md5",
                             cache_dir=str(cfg.work_dir), cache_subdir="downloads", extract=True)
    return extracted


# --------------------------------------------------------------------------- the official split file


def read_official_splits(path: Path) -> dict[str, np.ndarray]:
    """The nine arrays of ``datasplits.mat`` (``trn1``, ``val1``, ``tst1``, ... ``tst3``).

    Raises:
        FlowersError: when the file cannot be read or lacks one of them. A file
            the course downloaded is deleted (the next run downloads it again);
            a learner's own file is kept.
    """
    try:
        mat = loadmat(path)
        return {key: np.asarray(mat[key]).astype(int).ravel() for key in SPLITS_KEYS}
    except Exception as exc:
        problem = f"missing the array {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        what = f"{path} is not a readable datasplits.mat ({problem})."
        if downloaded_by_course(path):
            remove_path(path)
            remove_path(path.with_name(f"{path.name}.source"))
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
    serve_synthetic(cfg)
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
