"""The two ways of installing the course must install the same things."""

from __future__ import annotations

import re

import pytest
from support import ROOT

PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)")


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = PIN.match(line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def requirement_pins() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    unpinned = [line for line in lines if line.strip() and "==" not in line]
    assert not unpinned, f"requirements.txt has unpinned lines: {unpinned}"
    return _pins(lines)


def environment_pins() -> dict[str, str]:
    text = (ROOT / "environment.yml").read_text()
    pip_block = text.split("- pip:", 1)[1].splitlines()
    return _pins([line for line in pip_block if not line.lstrip().startswith("#")])


def test_requirements_and_environment_pin_the_same_packages_and_versions() -> None:
    req, env = requirement_pins(), environment_pins()
    assert req, "no pins found in requirements.txt"
    assert req == env


def test_the_packages_the_course_needs_are_pinned() -> None:
    req = requirement_pins()
    for name in ("tensorflow", "keras", "scipy", "matplotlib", "pillow", "jupyter", "nbval", "pytest"):
        assert name in req, f"{name} is not pinned"
    major = int(req["scipy"].split(".")[0])
    assert major < 2, "ImageDataGenerator's rotation/shift/shear/zoom need scipy < 2"


@pytest.mark.parametrize("name", ["tensorflow", "keras", "scipy", "pillow"])
def test_the_running_environment_matches_the_pins(name: str) -> None:
    from importlib.metadata import version

    assert version(name) == requirement_pins()[name], f"{name}: run `make venv` to install the pinned version"


def test_environment_yml_pins_python_in_the_supported_range() -> None:
    m = re.search(r"python=(\d+)\.(\d+)", (ROOT / "environment.yml").read_text())
    assert m and (int(m.group(1)), int(m.group(2))) >= (3, 11)
