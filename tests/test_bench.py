"""``python -m benchmarks.bench --quick``: the benchmark still runs, measures everything and reports every claim.

The quick mode uses toy sizes, so its numbers are not checked, only that
each one exists and is positive, and that each target is judged correctly.
Importing the module loads no TensorFlow, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from helpers.backbones import BACKBONES
from tools.common import ROOT

#: How the benchmark is run (``make bench``): as a module of the working tree.
BENCH = [sys.executable, "-m", "benchmarks.bench"]

SECTIONS = ("Input pipeline", "Transfer phase", "Fine-tuning step", "Backbone forward pass", "Targets")
INPUT_OPTIONS = (
    "generator_augmented_1_worker", "generator_augmented_2_workers", "generator_plain_2_workers",
    "tf_data_augmented_first_pass", "tf_data_augmented_cached_pass",
    "tf_data_plain_first_pass", "tf_data_plain_cached_pass",
)
TRANSFER_KEYS = ("augmented_epoch_s", "feature_extraction_s", "cached_head_epoch_s",
                 "augmented_epoch_train_images", "augmented_epoch_validation_images",
                 "feature_extraction_images", "cached_head_epoch_train_images", "feature_dim")
TARGETS = {
    "cached_head_epoch_vs_augmented_epoch": 50.0,
    "ten_transfer_epochs_cached_vs_augmented": 5.0,
    "best_augmented_input_vs_finetune_step": 1.5,
    "finetune_mixed8_vs_original_cut": 2.0,
}


@dataclass
class BenchRun:
    """One finished ``python -m benchmarks.bench --quick`` run."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    """Run the quick benchmark once for the module, in a temporary folder."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    proc = subprocess.run(
        [*BENCH, "--quick", "--out", str(out), "--data-dir", str(tmp / "data")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    report = json.loads(out.read_text()) if out.exists() else {}
    return BenchRun(proc.returncode, proc.stdout, proc.stderr, report)


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_quick_bench_exits_0_and_writes_the_json(run: BenchRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.report, "no JSON written"
    assert run.report["mode"] == "quick"
    assert run.report["date"]
    machine = run.report["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["tensorflow"] and machine["keras"]


def test_every_measurement_is_a_positive_number(run: BenchRun) -> None:
    m = run.report["measurements"]
    assert set(m["input_pipeline"]) == set(INPUT_OPTIONS)
    assert all(_positive(v) for v in m["input_pipeline"].values()), m["input_pipeline"]
    for key in TRANSFER_KEYS:
        assert _positive(m["transfer"][key]), key
    for cut in ("mixed8", "original_layers18"):
        assert _positive(m["finetune"][cut]["images_per_s"]), cut
        assert _positive(m["finetune"][cut]["trainable_params"]), cut
    assert m["finetune"]["original_layers18"]["trainable_params"] > m["finetune"]["mixed8"]["trainable_params"]
    assert set(m["backbones"]) == set(BACKBONES)
    for name, b in m["backbones"].items():
        assert b["input_size"] == BACKBONES[name].min_size, name  # quick mode: the smallest input
        assert _positive(b["images_per_s"]) and _positive(b["params"]), name


def test_four_ratios_are_judged_against_their_targets(run: BenchRun) -> None:
    ratios = run.report["ratios"]
    assert set(ratios) == set(TARGETS)
    for key, target in TARGETS.items():
        r = ratios[key]
        assert r["target"] == target, key
        assert _positive(r["value"]), key
        assert r["passed"] is (r["value"] >= target), key
    assert ratios["best_augmented_input_vs_finetune_step"]["best_input"] in INPUT_OPTIONS


def test_the_printed_report_has_every_section_and_a_verdict_per_claim(run: BenchRun) -> None:
    for section in SECTIONS:
        assert f"### {section}" in run.stdout, section
    assert "| claim | measured | target | result |" in run.stdout
    assert run.stdout.count("PASS") + run.stdout.count("FAIL") == len(TARGETS)
    assert "Traceback" not in run.stderr


def test_help_answers_without_running_anything() -> None:
    proc = subprocess.run([*BENCH, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout and "--data-dir" in proc.stdout
    assert "python -m benchmarks.bench" in proc.stdout


def test_importing_the_benchmark_loads_no_tensorflow() -> None:
    """``import benchmarks.bench`` does no work: TensorFlow and Keras load in ``main``."""
    code = ("import sys, benchmarks.bench; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
