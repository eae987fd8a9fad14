"""Files the course writes and checks: whole writes (a reader never sees half a file) and md5 digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from helpers.disk import disk_error, is_disk_error


def md5_of(path: Path) -> str:
    """The md5 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def partial_path(path: Path) -> Path:
    """The temporary name a whole write goes through: ``<name>.part`` beside ``path``."""
    path = Path(path)
    return path.with_name(f"{path.name}.part")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`partial_path`, then rename it over ``path``.

    An interruption leaves either the old file or the new one, never a
    half-written one; a failed write removes its temporary file.

    Raises:
        helpers.disk.DiskError: when the folder is full, read-only or not
            permitted; the old file, if any, is left as it was.
    """
    tmp = partial_path(path)
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if is_disk_error(exc):
            raise disk_error(exc, Path(path).parent, f"write {Path(path).name}", needs=len(data)) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """:func:`write_bytes_atomic` for text, encoded as UTF-8.

    The course's state files go through it: ``.complete``, ``.source``, run
    records, ``results.json``, the lesson times.
    """
    write_bytes_atomic(path, text.encode("utf-8"))
