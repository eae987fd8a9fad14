"""A split's class folders on disk: written safely, listed in ``manifest.csv``, checked against it.

Both kinds of data the course trains on, Flowers17 (:mod:`helpers.data`) and
your own photos (:mod:`helpers.own_split`), end up as the same layout in
:attr:`Config.split_dir`: ``train/``, ``validation/`` and ``test/``, one folder
per class in each, plus ``manifest.csv`` (a ``file`` column with each photo's
path in the split) and ``split.json`` (what the split was made from).
:func:`new_split` writes such a folder so that it is either whole or not
there; :func:`split_problem` says when one no longer matches its manifest.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.config import Config
from helpers.download import data_lock, remove_path

#: The three parts of every split, in the order lessons list them.
SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


@contextmanager
def new_split(cfg: Config, finish: Callable[[Path], None]) -> Iterator[Path]:
    """An empty ``<split>.tmp/`` to write a split's class folders into, swapped in for ``cfg``'s split at the end.

    On leaving the block, ``finish(tmp)`` writes ``manifest.csv`` and
    ``split.json`` (the settings and the data the split was made from, which
    ``ensure_split`` compares) and checks the folders against them (raising
    :class:`FlowersError` when they do not match); only then does the new
    split replace the old one. So a rerun leaves
    exactly the files of the new split, and an error in the block, folders
    that do not match, or an interruption leave the old split as it was.

    A split on disk that is already exactly the new one (the same manifest and
    record, every file in place) is kept as it is, and the new copy dropped:
    a lesson reading it in another tab never sees its files disappear.

    Raises:
        FlowersError: from ``finish``, when the folders written in the block do not match the split.
    """
    with data_lock(cfg):
        target = cfg.split_dir
        tmp, old = target.with_name(f"{target.name}.tmp"), target.with_name(f"{target.name}.old")
        remove_path(tmp)
        tmp.mkdir(parents=True)
        try:
            yield tmp
            finish(tmp)
        except BaseException:
            remove_path(tmp)
            raise
        if _same_split_files(target, tmp):
            remove_path(tmp)
            return
        remove_path(old)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        remove_path(old)


def _same_split_files(target: Path, new: Path) -> bool:
    """Whether the split in ``target`` is whole and holds what ``new`` does (manifest and record alike)."""
    try:
        same = all((target / name).read_bytes() == (new / name).read_bytes()
                   for name in ("manifest.csv", "split.json"))
    except OSError:
        return False
    return same and split_problem(target) is None


def read_manifest(folder: Path) -> list[dict[str, str]]:
    """The rows of a split's ``manifest.csv``."""
    with open(Path(folder) / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def split_problem(folder: Path) -> str | None:
    """Why the split folder no longer matches its ``manifest.csv``, or ``None`` when it does.

    Every image the manifest lists must be in its class folder, and no other
    image may be there (a class folder deleted by hand, a photo dropped in).
    """
    try:
        listed = {row["file"] for row in read_manifest(folder)}
    except (OSError, ValueError, KeyError, csv.Error):
        return "its manifest.csv is missing or damaged"
    present = {p.relative_to(folder).as_posix() for name in SPLIT_NAMES if (folder / name).is_dir()
               for p in (folder / name).glob("*/*") if p.is_file()}
    missing, extra = sorted(listed - present), sorted(present - listed)
    if missing:
        return f"{len(missing)} image(s) of manifest.csv are missing, e.g. {missing[0]}"
    if extra:
        return f"{len(extra)} file(s) are not in manifest.csv, e.g. {extra[0]}"
    return None


def reuse_problem(folder: Path, differences: Callable[[dict[str, object]], list[str]],
                  made_from: str = "with other settings") -> tuple[str, str] | None:
    """Why the split in ``folder`` cannot be reused: ``(kind, sentence)``, or ``None`` when it can.

    ``kind`` is ``"missing"`` (no ``split.json`` yet: the sentence is empty),
    ``"damaged"``, ``"changed"`` (``differences(saved record)`` named what
    differs; ``made_from`` words it) or ``"altered"`` (the folders no longer
    match ``manifest.csv``). Both ``ensure_split`` functions ask this first.
    """
    info = Path(folder) / "split.json"
    if not info.exists():
        return "missing", ""
    try:
        saved = json.loads(info.read_text())
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        return "damaged", f"{info} is damaged (an interrupted run?); preparing the split again."
    if changed := differences(saved):
        return "changed", f"The split on disk was made {made_from} ({'; '.join(changed)}); preparing it again."
    if (problem := split_problem(folder)) is not None:
        return "altered", f"The split in {folder} no longer matches what was written: {problem}. Preparing it again."
    return None
