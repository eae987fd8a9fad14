"""Stamp "Open in Colab" links and the course's git address into the lessons (``make colab-links``).

Usage:
    python -m tools.colab_links [--branch main]

Once the course has a public home on GitHub, name it in ``pyproject.toml``::

    [project.urls]
    Repository = "https://github.com/OWNER/NAME"

Then this tool writes, into every lesson in ``notebooks/``:

- a link under the title, ``[Open in Colab](https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/notebooks/NN_....ipynb)``;
- the default source of the bootstrap cell, ``COURSE_SOURCE = "git+https://github.com/OWNER/NAME"``,
  which the lesson installs the course's helpers from when it is opened outside a clone.

Running it again replaces both, so a new address or branch is one command. Without
an address it changes nothing and says so: the course ships no link to an address
it does not have.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

from tools.common import BOOTSTRAP_TAG, ROOT, lesson_paths

_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?$")
_SOURCE_LINE = re.compile(r'^COURSE_SOURCE = "[^"\n]*"', re.MULTILINE)
_LINK_LINE = re.compile(r"^\[Open in Colab\]\([^)\n]*\)\n\n", re.MULTILINE)
NO_ADDRESS = ("pyproject.toml names no public home for the course ([project.urls] Repository = "
              '"https://github.com/OWNER/NAME"), so there is nothing to link to; the lessons are unchanged.')


def repository_url(pyproject: Path = ROOT / "pyproject.toml") -> str | None:
    """``[project.urls] Repository`` of ``pyproject``, if it is set."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("urls", {})
    return urls.get("Repository") or None


def colab_url(repository: str, branch: str, lesson: str) -> str:
    """Colab's address for ``notebooks/<lesson>`` of a GitHub repository."""
    match = _GITHUB.match(repository)
    if not match:
        raise SystemExit(f"Colab opens notebooks from GitHub; {repository!r} is not a https://github.com/OWNER/NAME "
                         "address.")
    return (f"https://colab.research.google.com/github/{match['owner']}/{match['name']}/blob/{branch}/"
            f"notebooks/{lesson}")


def stamp(nb: nbformat.NotebookNode, repository: str, branch: str, lesson: str) -> nbformat.NotebookNode:
    """Put the Colab link under the lesson's title and the git address into its bootstrap cell."""
    title = nb.cells[0]
    text = _LINK_LINE.sub("", title.source)
    head, _, rest = text.partition("\n\n")
    title.source = f"{head}\n\n[Open in Colab]({colab_url(repository, branch, lesson)})\n\n{rest}"
    bootstrap = next(c for c in nb.cells if BOOTSTRAP_TAG in c.metadata.get("tags", []))
    if not _SOURCE_LINE.search(bootstrap.source):
        raise SystemExit(f"{lesson}: its bootstrap cell has no COURSE_SOURCE = \"...\" line to fill in.")
    bootstrap.source = _SOURCE_LINE.sub(f'COURSE_SOURCE = "git+{repository.rstrip("/")}"', bootstrap.source)
    return nb


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branch", default="main", help="the branch Colab opens (default: main)")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # tests use a copy
    args = parser.parse_args(argv)
    repository = repository_url(args.root / "pyproject.toml")
    if not repository:
        print(NO_ADDRESS)
        return 1
    lessons = lesson_paths(args.root)
    stamped = [stamp(nbformat.read(path, as_version=4), repository, args.branch, path.name) for path in lessons]
    for path, nb in zip(lessons, stamped):  # all or nothing: a lesson that cannot be stamped stops the rest
        nbformat.write(nb, path)
    print(f"Stamped {len(lessons)} lessons with Colab links to {repository} ({args.branch}).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
