"""One process at a time: the data folder's lock (download, extract, split) and the build folder's (train, score).

Two lessons started together on one folder would otherwise write into the
same files, or one would read a model while the other replaces it. Each lock
is a ``filelock.FileLock`` file (``.lock``) in the folder. The operating system
releases it when its holder ends, even by a crash, so it never goes stale.
Within one process it is re-entrant. Next to it, ``.lock-holder`` says who
took it and when, so that a second process can name the first one.

- :func:`folder_lock`: a ``with`` block (the data folder; lesson 07's scoring).
- :func:`hold` and :func:`release`: a lock that spans cells, from the start
  of a training run to its end (:func:`helpers.runs.begin_phase`,
  :func:`helpers.runs.finish_phase`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from helpers.errors import FlowersError

#: Seconds a second process waits for a lock before giving up with a message.
LOCK_TIMEOUT = 600.0

#: The locks :func:`hold` took, by folder. A lock object that nothing refers to is collected and lets go of
#: its lock, so the one lock that spans cells needs this one reference until :func:`release`.
_HELD: dict[Path, FileLock] = {}


def _lock(folder: Path) -> FileLock:
    """This process's lock object of ``folder`` (one per path: ``is_singleton``)."""
    return FileLock(folder / ".lock", is_singleton=True)


def _holder_path(folder: Path) -> Path:
    return folder / ".lock-holder"


def holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its holder named itself.

    For example "lesson 05, training its transfer phase (process 12, since 10:03:00)".
    """
    try:
        about = json.loads(_holder_path(folder).read_text())
        return f"{about['holder']} (process {about['pid']}, since {about['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def hold(folder: Path, who: str, timeout: float | None = None) -> None:
    """Take ``folder``'s lock and keep it until :func:`release` (or the process ends).

    ``who`` is how a second process's message names this one ("lesson 05,
    training its transfer phase").

    A process that already holds it through :func:`hold` keeps it as it is;
    inside a :func:`folder_lock` block it takes one more level, so that each
    gives back only its own. When another process holds it, one sentence
    names that one, and this one waits at most ``timeout`` seconds (``None``:
    :data:`LOCK_TIMEOUT`).

    Raises:
        FlowersError: when the other process still holds it after ``timeout`` seconds.
    """
    if Path(folder) in _HELD:
        return
    lock = _lock(folder)
    _take(lock, folder, who, timeout)
    _HELD[Path(folder)] = lock


def release(folder: Path) -> None:
    """Give back the level of the lock :func:`hold` took (nothing happens when :func:`hold` took none)."""
    lock = _HELD.pop(Path(folder), None)
    if lock is not None:
        _give(lock, folder)


@contextmanager
def folder_lock(folder: Path, who: str, timeout: float | None = None) -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block (re-entrant; see :func:`hold` for the waiting)."""
    lock = _lock(folder)
    _take(lock, folder, who, timeout)
    try:
        yield
    finally:
        _give(lock, folder)


def _take(lock: FileLock, folder: Path, who: str, timeout: float | None) -> None:
    """One more level of ``lock``: at once when this process holds it already, else :func:`_acquire`."""
    if lock.is_locked:
        lock.acquire()
    else:
        _acquire(lock, folder, who, timeout)


def _give(lock: FileLock, folder: Path) -> None:
    """Give back one level of ``lock``; with the last one, this process's name goes from ``.lock-holder``."""
    if lock.lock_counter == 1:
        try:
            _holder_path(folder).unlink(missing_ok=True)
        except OSError:
            pass
    lock.release()


def _acquire(lock: FileLock, folder: Path, who: str, timeout: float | None) -> None:
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    folder.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"{_capital(holder(folder))} is using {folder}. This cell waits for it to finish (at most "
              f"{timeout:.0f} s; a lesson stopped halfway holds it until its kernel is restarted).")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise FlowersError(
                f"{_capital(holder(folder))} has been using {folder} for over {timeout:.0f} s. Let it finish, "
                f"or stop it (a lesson stopped halfway keeps the folder until its kernel is restarted or shut "
                f"down), and run the cell again.") from None
    about = {"holder": who, "pid": os.getpid(), "since": time.strftime("%H:%M:%S")}
    try:
        _holder_path(folder).write_text(json.dumps(about) + "\n")
    except OSError:
        pass   # only the second process's message would lack the name


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
