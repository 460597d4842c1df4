"""The Gradescope autograder: its build script, its memory plan, and grading as in a container.

What runs here and what does not: setup.sh's Python selection runs in bash with a PATH of
stand-ins (a python3 that is 3.10, a uv that fails or finds a Python); its downloads (uv's
Python, TensorFlow) do not. The memory plan runs in a real memory cgroup where this user may
make one. Grading "as in a container" runs under tests/tools/docker_like.py: Docker's
default seccomp rules for namespaces and mounts, and its default capabilities, as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.publish import autograder
from labkit.spec.limits import GIB

DOCKER_LIKE = Path(__file__).resolve().parent / "tools" / "docker_like.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def cgroup_tree(root: Path, version: int, limits: dict[str, str]) -> Path:
    """A fake /sys/fs/cgroup and /proc/self/cgroup: this process in /docker/abc."""
    top = root / "fs" if version == 2 else root / "fs" / "memory"
    setting = "memory.max" if version == 2 else "memory.limit_in_bytes"
    for path, value in limits.items():
        (top / path).mkdir(parents=True, exist_ok=True)
        (top / path / setting).write_text(value + "\n")
    line = "0::/docker/abc" if version == 2 else "4:memory:/docker/abc\n0::/"
    (root / "cgroup").write_text(line + "\n")
    return root / "fs"


@pytest.mark.parametrize("version", [1, 2])
def test_the_container_limit_is_the_smallest_above_this_process(tmp_path, version):
    unlimited = "max" if version == 2 else str(2**63 - 4096)
    fs = cgroup_tree(tmp_path, version, {"": unlimited, "docker/abc": str(3 * GIB)})
    assert autograder.container_memory(fs, tmp_path / "cgroup") == 3 * GIB
    fs = cgroup_tree(tmp_path, version, {"": unlimited, "docker/abc": unlimited})
    assert autograder.container_memory(fs, tmp_path / "cgroup") is None


def test_the_memory_plan_keeps_each_lab_below_the_container():
    assert autograder.memory_plan(None, 4 * GIB) == (4 * GIB, "")
    assert autograder.memory_plan(8 * GIB, 4 * GIB) == (4 * GIB, "")
    assert autograder.memory_plan(5 * GIB, 4 * GIB) == (int(3.5 * GIB), "")
    assert autograder.memory_plan(2 * GIB, 4 * GIB) == (3 * GIB, "")  # what TensorFlow needs
    _, problem = autograder.memory_plan(768 * 2**20, 4 * GIB)
    assert "has 0.75 GiB of memory and grading needs at least 1.50 GiB" in problem
    assert "raise the autograder's Memory" in problem


def _memory_cgroup(limit: int) -> Path | None:
    """A memory cgroup of ``limit`` bytes this test may run a process in, or None."""
    for top, setting in (
        (Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"),
        (Path("/sys/fs/cgroup"), "memory.max"),
    ):
        if (top / setting).exists() or (top / "cgroup.controllers").exists():
            folder = top / f"labkit-test-{os.getpid()}"
            try:
                folder.mkdir()
                (folder / setting).write_text(str(limit))
                return folder
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)
    return None


def test_a_container_too_small_to_grade_in_says_which_setting_to_raise(tmp_path):
    group = _memory_cgroup(768 * 2**20)  # Gradescope's default
    if group is None:
        pytest.skip("no memory cgroup this user may make")
    (tmp_path / "results").mkdir()
    try:
        done = subprocess.run(
            [
                "sh",
                "-c",
                f'echo $$ > {group}/cgroup.procs && exec "$0" "$@"',
                sys.executable,
                *("-m", "labkit.publish.autograder", "grade", str(tmp_path)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        group.rmdir()
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["output_format"] == "text"
    assert "has 0.75 GiB of memory" in results["output"]
    assert "raise the autograder's Memory" in results["output"]
    assert results["tests"][0]["tags"] == ["could not grade"]
