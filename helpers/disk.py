"""Disk errors as disk errors: a full, read-only or forbidden folder gets one message.

The message names the folder, what the step was writing, how much space it
needs where that is known, and what to do. The callers (whole writes in
:mod:`helpers.files`, downloads and extraction in :mod:`helpers.download`,
the lessons' setup) delete nothing that passed its check when they raise it.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

from helpers.errors import FlowersError

#: The errors of a folder, not of a file's contents, and how the message says them.
DISK_ERRORS: dict[int, str] = {
    errno.ENOSPC: "is full",
    errno.EDQUOT: "is over your disk quota",
    errno.EROFS: "is on a read-only disk",
    errno.EACCES: "cannot be written (no permission)",
    errno.EPERM: "cannot be written (not permitted)",
}

#: What to do about each kind, after the message says what happened.
_ADVICE = {
    "space": ("Free some space there, or point FLOWERS_DATA_DIR / FLOWERS_BUILD_DIR at a folder with room, "
              "and run the cell again."),
    "write": ("Point FLOWERS_DATA_DIR / FLOWERS_BUILD_DIR at a folder you can write (in your home folder, "
              "say), or fix the folder's permissions, and run the cell again."),
}


def is_disk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` about a folder (full, read-only, forbidden): :data:`DISK_ERRORS`."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRORS


def megabytes(size: int) -> str:
    """``size`` bytes, as a reader says it: ``"58 MB"``."""
    return f"{max(1, round(size / 1e6))} MB"


class DiskError(FlowersError):
    """A step could not write to its folder: full, read-only or not permitted."""


def disk_error(exc: OSError, folder: Path, step: str, needs: int | None = None,
               kept: str | None = None) -> DiskError:
    """The :class:`DiskError` for ``exc`` (one :func:`is_disk_error` accepts) while ``step`` wrote in ``folder``.

    ``needs`` is how many bytes the step writes, where known; ``kept`` a
    sentence on what was kept (a checked download, say).
    """
    problem = DISK_ERRORS[exc.errno]
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    need = f" It needs about {megabytes(needs)} free." if needs and full else ""
    keep = f" {kept}" if kept else ""
    return DiskError(f"Could not {step}: the folder {folder} {problem}.{need}{keep} "
                     f"{_ADVICE['space' if full else 'write']}")


def existing_parent(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists (where it would be made)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(folder: Path, what: str, needs: int = 0) -> None:
    """Stop at once when ``folder`` (made if missing) cannot be written or has less than ``needs`` bytes free.

    The lessons' setup calls it for the data and build folders, so that a
    read-only or full disk is found before minutes of work, not after.

    Raises:
        DiskError: naming the folder, ``what`` it is for, and what to do.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        if not is_disk_error(exc):
            raise
        raise disk_error(exc, existing_parent(folder), f"write the {what}") from None
    free = shutil.disk_usage(folder).free
    if free < needs:
        raise DiskError(f"The {what} {folder} has only {megabytes(free)} free; this run writes about "
                        f"{megabytes(needs)} there. {_ADVICE['space']}")
