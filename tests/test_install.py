"""pyproject.toml picks one TensorFlow that has a wheel on every platform students use.

The wheel table lists the files on PyPI (March 2026), as PyPI's file listings of tensorflow
and tensorflow-cpu show them and ``pip download --no-deps --only-binary=:all: --platform TAG
--python-version X.Y`` confirms: for example, no tensorflow 2.21.0 for macosx_10_15_x86_64.

Usage: ``pytest tests/test_install.py``
"""

from __future__ import annotations

import tomllib

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

TENSORFLOW = {"tensorflow", "tensorflow-cpu"}
# The marker variables that differ between the platforms; Python's own come per test.
PLATFORMS = {
    "Linux x86-64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "Linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macOS arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "macOS x86-64": {"sys_platform": "darwin", "platform_machine": "x86_64"},
    "Windows x86-64": {"sys_platform": "win32", "platform_machine": "AMD64"},
}
# (distribution, version) -> the platforms and Pythons it has wheels for.
WHEELS = {
    ("tensorflow", "2.21.0"): (
        {"Linux x86-64", "Linux aarch64", "macOS arm64", "Windows x86-64"},
        {"3.10", "3.11", "3.12", "3.13"},
    ),
    ("tensorflow-cpu", "2.21.0"): (
        {"Linux x86-64", "Windows x86-64"},
        {"3.10", "3.11", "3.12", "3.13"},
    ),
    # The last release with Intel Mac wheels.
    ("tensorflow", "2.16.2"): (set(PLATFORMS), {"3.9", "3.10", "3.11", "3.12"}),
}
# tensorflow-cpu only where it is the smaller download (274 MB instead of 573 MB).
CHOSEN = {
    "Linux x86-64": ("tensorflow-cpu", "2.21.0"),
    "Linux aarch64": ("tensorflow", "2.21.0"),
    "macOS arm64": ("tensorflow", "2.21.0"),
    "macOS x86-64": ("tensorflow", "2.16.2"),
    "Windows x86-64": ("tensorflow", "2.21.0"),
}
# No TensorFlow release has wheels for these: pip refuses to install, as it should.
NO_WHEEL = {("macOS x86-64", "3.13")}
PYTHONS = [f"3.{minor}" for minor in range(9, 16)]


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def supported_pythons() -> list[str]:
    allowed = SpecifierSet(project()["requires-python"])
    return [version for version in PYTHONS if allowed.contains(f"{version}.0")]


def tensorflow_for(platform: str, python: str) -> list[tuple[str, str]]:
    """The TensorFlow requirements pip would install there, as (name, pinned version)."""
    environment = {**PLATFORMS[platform], "python_version": python, "python_full_version": python}
    chosen = []
    for line in project()["dependencies"]:
        requirement = Requirement(line)
        if requirement.name not in TENSORFLOW:
            continue
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (pin,) = requirement.specifier
            assert pin.operator == "==", f"pin TensorFlow to one release: {line}"
            chosen.append((requirement.name, pin.version))
    return chosen


def test_requires_python_matches_tensorflow_2_21():
    pythons = supported_pythons()
    assert pythons == ["3.11", "3.12", "3.13"]
    assert set(pythons) <= WHEELS["tensorflow", "2.21.0"][1]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_gets_one_tensorflow_with_a_wheel(platform):
    for python in supported_pythons():
        chosen = tensorflow_for(platform, python)
        assert chosen == [CHOSEN[platform]], f"{platform}, Python {python}: {chosen}"
        platforms, pythons = WHEELS[CHOSEN[platform]]
        has_wheel = platform in platforms and python in pythons
        assert has_wheel != ((platform, python) in NO_WHEEL), f"{platform}, Python {python}"
