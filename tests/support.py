"""What the test modules share that is not a fixture: plain functions and the repository root.

The fixtures live in ``conftest.py`` files (which hold only fixtures and
pytest hooks); every helper function a test module uses from elsewhere lives
here, so that no test module imports another test module or a conftest. Test
modules use it as ``from support import ...``: pytest's default ``prepend``
import mode puts ``tests/`` on ``sys.path`` (in each pytest-xdist worker too).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import nbformat

from helpers.config import Config, load_config
from tools.common import ROOT

__all__ = ["ROOT", "assert_single_readable_message", "copy_synthetic_source", "file_stats", "lesson_cell",
           "link_or_copy", "run_cell", "smoke_split", "write_tgz"]


# --------------------------------------------------------------------------- data


def copy_synthetic_source(source: Path, data_dir: Path) -> Path:
    """Copy the session's synthetic source into ``data_dir/synthetic`` and return that folder."""
    target = Path(data_dir) / "synthetic"
    shutil.copytree(source, target)
    return target


def smoke_split(root: Path, source: Path) -> tuple[Config, Path]:
    """A smoke configuration under ``root`` (data/ and build/) with its split prepared."""
    from helpers.data import ensure_split

    copy_synthetic_source(source, root / "data")
    cfg = load_config(env={}, profile="smoke", data_dir=root / "data", build_dir=root / "build")
    return cfg, ensure_split(cfg, verbose=False)


def write_tgz(path: Path, members: list[tuple[tarfile.TarInfo | str, bytes | None]]) -> Path:
    """Write a .tar.gz: each member is (name or TarInfo, bytes); bytes None for links and folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for member, payload in members:
            info = tarfile.TarInfo(member) if isinstance(member, str) else member
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def file_stats(folder: Path) -> dict[Path, tuple[int, int]]:
    """Size and modification time (ns) of every file under ``folder``: to notice a write into shared files."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` to ``dst``, or copy it where the file system cannot link (a ``copytree`` copy function)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --------------------------------------------------------------------------- messages


def assert_single_readable_message(exc: BaseException) -> None:
    """Raised ``from None``: the learner sees one message, not a chain of tracebacks."""
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None


# --------------------------------------------------------------------------- lessons


def lesson_cell(lesson: str, contains: str) -> str:
    """The source of the one code cell of ``notebooks/<lesson>*.ipynb`` that contains ``contains``."""
    notebooks = ROOT / "notebooks"
    nb = nbformat.read(next(notebooks.glob(f"{lesson}_*.ipynb")), as_version=4)
    found = [c.source for c in nb.cells if c.cell_type == "code" and contains in c.source]
    assert len(found) == 1, f"lesson {lesson} must have exactly one code cell with {contains!r}"
    return found[0]


def run_cell(source: str, namespace: dict[str, object]) -> dict[str, object]:
    """Run a lesson cell's ``source`` in ``namespace`` (as its kernel would) and return that namespace."""
    exec(compile(source, "<lesson cell>", "exec"), namespace)
    return namespace


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: an "image bomb" for Pillow's checks.

    A real 1 x 1 PNG with its IHDR size rewritten (and the chunk's CRC redone), so
    Pillow opens it and refuses it by the size alone, without decoding gigabytes.
    """
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buffer, format="PNG")
    png = bytearray(buffer.getvalue())
    assert png[12:16] == b"IHDR"
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)
