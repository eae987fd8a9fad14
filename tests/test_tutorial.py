"""`make tutorial`'s runner: a missing download stops it fast, with one clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support import ROOT


def test_full_profile_without_network_stops_within_seconds_with_the_download_message(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWERS_PROFILE": "full", "FLOWERS_DATA_DIR": str(tmp_path / "data"),
           "FLOWERS_BUILD_DIR": str(tmp_path / "build"),
           # A closed local port: fails at once, like a machine with no network.
           "FLOWERS17_URL": "http://127.0.0.1:9/17flowers.tgz"}
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "tools.run_lessons"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert run.returncode == 1
    assert "Could not download the Flowers17 archive from http://127.0.0.1:9/17flowers.tgz" in run.stdout
    assert "FLOWERS_PROFILE=smoke" in run.stdout
    assert "Traceback" not in run.stdout
    assert "Kernel is running over TCP" not in run.stderr, "the kernel's start-up warning reaches the terminal"
    assert "Executing" in run.stderr, "papermill's progress bar shows the cell and the time"
    assert elapsed < 60, f"took {elapsed:.0f} s"
    assert (tmp_path / "build" / "executed" / "01_labelling_the_data.ipynb").exists()
