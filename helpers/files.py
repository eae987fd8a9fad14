"""Writing the course's state files whole: a reader never sees half a file."""

from __future__ import annotations

from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file that is then renamed over it.

    An interruption leaves either the old file or the new one, never a
    half-written one (``.complete``, ``.source``, run records, ``results.json``,
    the lesson times).
    """
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
