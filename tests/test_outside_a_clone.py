"""A lesson opened outside a clone (Colab, a copied notebook): its first cell installs the course.

The test copies lesson 01 into an empty folder and runs it in a fresh virtual
environment whose only course-related setting is FLOWERS_COURSE_SOURCE, a
local git clone of the course. Offline: the fresh environment reuses this
one's installed packages (TensorFlow, Jupyter, pip, setuptools) through a
``.pth`` file, which does not make ``helpers`` importable, and pip is told not
to look at any index.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support import ROOT

from tools.common import lesson_paths

LESSON = lesson_paths()[0]


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _course_clone(target: Path) -> Path:
    """A git repository holding the course's files as they are now (tracked and new, not ignored)."""
    files = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    _git("init", "--quiet", cwd=target)
    _git("add", "--all", cwd=target)
    _git("-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "--quiet", "-m", "course",
         cwd=target)
    return target


def _fresh_environment(folder: Path, jupyter_path: Path) -> Path:
    """A new virtual environment that sees this one's packages but not ``helpers``, with its own kernel."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "this-machines-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    kernel = jupyter_path / "kernels" / folder.name
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": folder.name, "language": "python"}))
    return python


def _finds_helpers(python: Path) -> bool:
    run = subprocess.run([str(python), "-c", "import importlib.util; print(importlib.util.find_spec('helpers'))"],
                         capture_output=True, text=True, check=True, cwd="/")
    return run.stdout.strip() != "None"


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for a run outside the clone: smoke profile, no index for pip, our own kernels."""
    jupyter = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("FLOWERS_PROFILE", "smoke")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("FLOWERS_DATA_DIR", "FLOWERS_BUILD_DIR", "FLOWERS_COURSE_SOURCE", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")                    # offline: no package index at all
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")          # build with this machine's setuptools
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return jupyter


def _run(lesson: Path, kernel: str, cwd: Path) -> None:
    import papermill as pm

    pm.execute_notebook(str(lesson), str(cwd / f"{lesson.stem}.out.ipynb"), kernel_name=kernel, cwd=str(cwd),
                        progress_bar=False)


def test_a_copied_lesson_installs_the_course_from_its_source_and_runs_in_the_working_folder(
        tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clone = _course_clone(tmp_path / "course")
    python = _fresh_environment(tmp_path / "fresh", outside)
    assert not _finds_helpers(python), "the fresh environment must start without the course"
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(LESSON, work / LESSON.name)
    monkeypatch.setenv("FLOWERS_COURSE_SOURCE", str(clone))

    _run(work / LESSON.name, "fresh", work)

    assert _finds_helpers(python), "the first cell must have installed the course's helpers"
    assert (work / "data" / "smoke").is_dir(), "data must go under the working folder"
    assert not (clone / "data" / "smoke").exists(), "the data must not go into the course's source"
    installed = subprocess.run([str(python), "-c", "import helpers; print(helpers.__file__)"], cwd="/",
                               capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "fresh") in installed, f"helpers came from {installed}, not the fresh environment"


def test_without_a_source_the_first_cell_says_what_to_do_in_one_sentence(
        tmp_path: Path, outside: Path) -> None:
    import papermill as pm

    _fresh_environment(tmp_path / "bare", outside)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(LESSON, work / LESSON.name)
    with pytest.raises(pm.PapermillExecutionError) as failure:
        _run(work / LESSON.name, "bare", work)
    assert failure.value.ename == "SystemExit"
    assert failure.value.evalue == (
        "This notebook needs the course's helpers package: set FLOWERS_COURSE_SOURCE to the course's git "
        "address (git+https://...) or the path of a clone, and run it again.")
    assert failure.value.exec_count == 1, "it stops at the first cell"
    assert not (work / "data").exists()


def test_in_a_clone_the_data_and_build_folders_stay_in_the_clone(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from helpers import config

    monkeypatch.chdir(tmp_path)
    assert config.course_home() == ROOT
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path / "site-packages")   # as when pip installed helpers
    cfg = config.load_config(env={})
    assert (cfg.data_dir, cfg.build_dir) == (tmp_path / "data", tmp_path / "build")
