"""Build a folder of "your own photos" from the Flowers17 archive, arranged as a learner would arrange theirs.

The course has one real data set. To develop and measure the own-photos
path on real photos, this tool makes :mod:`helpers.example_photos`' folder
(the one lesson 09 uses when a learner has none) from the archive: six species
under names as a person writes them (with spaces), uneven counts (25 to 80
photos), and a few bad files of the kinds learners' folders hold::

    python -m tools.own_photos --archive ../shared/flowers17/17flowers.tgz --out data/own-photos

The photos are the archive's: never commit the folder (``data/`` is ignored).
``OUT`` is made afresh each run, and only when it is missing or was made by
the course (it holds :data:`helpers.example_photos.MARK`); any other folder is left alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.errors import FlowersError
from helpers.example_photos import BAD_FILES, DUPLICATES, PLAN, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=Path("../shared/flowers17/17flowers.tgz"))
    parser.add_argument("--out", type=Path, default=Path("data/own-photos"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        out = build(args.archive, args.out, args.seed)
    except FlowersError as exc:
        raise SystemExit(str(exc)) from None
    counts = ", ".join(f"{folder} {n}" for folder, (_, n) in PLAN.items())
    print(f"{out}: {counts} photos; bad files {', '.join(BAD_FILES)}; duplicates "
          f"{', '.join(copy for copy, _ in DUPLICATES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
