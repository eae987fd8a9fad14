"""`make colab-links`: Colab links and the course's git address go into the lessons only once there is an address."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from support import ROOT

from tools import colab_links
from tools.common import lesson_paths


def _copy_course(root: Path, urls: str = "") -> Path:
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + urls)
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.colab_links", "--root", str(root), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_course_ships_no_link_while_it_has_no_public_address(tmp_path: Path) -> None:
    assert colab_links.repository_url() is None, "pyproject.toml names an address: run `make colab-links`"
    for path in lesson_paths():
        nb = nbformat.read(path, as_version=4)
        assert "colab.research.google.com" not in nb.cells[0].source
        assert 'COURSE_SOURCE = ""' in next(c for c in nb.cells if c.cell_type == "code").source
    root = _copy_course(tmp_path)
    run = _run(root)
    assert run.returncode == 1 and run.stdout.strip() == colab_links.NO_ADDRESS
    assert [p.read_bytes() for p in lesson_paths(root)] == [p.read_bytes() for p in lesson_paths()]


def test_an_address_stamps_a_colab_link_and_the_install_source_into_every_lesson(tmp_path: Path) -> None:
    root = _copy_course(tmp_path, '\n[project.urls]\nRepository = "https://github.com/someone/flowers-transfer"\n')
    assert _run(root).returncode == 0
    for path in lesson_paths(root):
        nb = nbformat.read(path, as_version=4)
        title, link, *_ = nb.cells[0].source.split("\n\n")
        assert title.startswith("# Lesson ")
        assert link == ("[Open in Colab](https://colab.research.google.com/github/someone/flowers-transfer/blob/"
                        f"main/notebooks/{path.name})")
        bootstrap = next(c for c in nb.cells if c.cell_type == "code")
        assert 'COURSE_SOURCE = "git+https://github.com/someone/flowers-transfer"' in bootstrap.source
    once = [p.read_bytes() for p in lesson_paths(root)]
    assert _run(root, "--branch", "main").returncode == 0
    assert [p.read_bytes() for p in lesson_paths(root)] == once, "running it again changes nothing"
    assert _run(root, "--branch", "course-2027").returncode == 0
    first = nbformat.read(lesson_paths(root)[0], as_version=4).cells[0].source
    assert first.count("[Open in Colab]") == 1 and "/blob/course-2027/notebooks/" in first


def test_an_address_colab_cannot_open_is_refused_with_one_message() -> None:
    with pytest.raises(SystemExit, match="Colab opens notebooks from GitHub"):
        colab_links.colab_url("https://gitlab.com/someone/flowers", "main", "01.ipynb")
