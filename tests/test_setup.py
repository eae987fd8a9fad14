"""The shared setup cell: version checks, GPU advice, quiet TensorFlow start-up."""

from __future__ import annotations

import os

import pytest

from helpers import environment, models
from helpers.config import load_config


def test_supported_versions_pass() -> None:
    assert environment.check_versions({"Python": "3.11.7", "TensorFlow": "2.21.0", "Keras": "3.15.1"}) == []


@pytest.mark.parametrize("name, version", [("Python", "3.10.4"), ("TensorFlow", "2.15.1"),
                                           ("TensorFlow", "2.22.0rc1"), ("Keras", "2.15.0")])
def test_unsupported_version_gets_a_clear_message(name: str, version: str) -> None:
    problems = environment.check_versions({name: version})
    assert len(problems) == 1
    assert f"{name} {version} is outside the range" in problems[0]
    assert "make venv" in problems[0]


def test_setup_warns_when_a_version_is_off(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(environment, "installed_versions",
                        lambda: {"Python": "3.11.7", "TensorFlow": "2.12.0", "Keras": "3.15.1"})
    # Op determinism, once on, stays on in this process: keep it off for the tests this worker runs next.
    monkeypatch.setenv("FLOWERS_DETERMINISTIC", "0")
    with pytest.warns(UserWarning, match="TensorFlow 2.12.0 is outside the range"):
        cfg = environment.setup(profile="smoke", seed=3)
    assert cfg.seed == 3 and cfg.profile == "smoke"
    out = capsys.readouterr().out
    assert "Profile: smoke" in out and "seed: 3" in out and "GPU:" in out
    assert "Repeatable: no (FLOWERS_DETERMINISTIC=0)" in out


def test_gpu_advice_suggests_the_smoke_profile_on_a_cpu() -> None:
    full = load_config(env={}, profile="full")
    assert "FLOWERS_PROFILE=smoke" in environment.gpu_advice(0, full)
    assert "found" in environment.gpu_advice(2, full) and "smoke" not in environment.gpu_advice(2, full)


def test_native_stderr_filter_hides_known_lines_and_keeps_others(capfd: pytest.CaptureFixture[str]) -> None:
    with environment.filtered_native_stderr():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. blah\n")
        os.write(2, b"E0000 something really broke\n")
    err = capfd.readouterr().err
    assert "oneDNN" not in err
    assert "something really broke" in err


def test_cpu_advice_names_the_backbone_and_its_input_size() -> None:
    """Not always 299 px: the advice is about the backbone the lesson will really train."""
    inception = load_config(env={}, profile="full")
    advice = environment.gpu_advice(0, inception)
    assert "inception_v3" in advice and "299 px" in advice
    assert f"FLOWERS_BACKBONE={environment.FASTEST_ON_CPU}" in advice
    fast = load_config(env={}, profile="full", backbone=environment.FASTEST_ON_CPU)
    advice = environment.gpu_advice(0, fast)
    assert "288 px" in advice and "299" not in advice and "fastest" in advice
    assert environment.FASTEST_ON_CPU in models.BACKBONES
