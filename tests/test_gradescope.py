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
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import COURSE, REFERENCE, ROOT, SUBMISSIONS

from labkit.publish import autograder, release
from labkit.sandbox import unprivileged
from labkit.spec.limits import GIB

DOCKER_LIKE = Path(__file__).resolve().parent / "tools" / "docker_like.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def bash_function(call: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Source setup.sh (its main does not run then) and call one of its functions."""
    script = path / "setup.sh"
    script.write_text(release.SETUP_SH)
    return subprocess.run(
        ["bash", "-c", f'source "{script}"; {call}'],
        env={"PATH": f"{path / 'bin'}:/usr/bin:/bin", "LABKIT_HOME": str(path / "home"), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def stand_in(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(f"#!/bin/sh\n{script}\n")
    (folder / name).chmod(0o755)


def test_setup_fails_fast_saying_why_when_no_python_can_be_installed(tmp_path):
    stand_in(tmp_path / "bin", "python3", 'echo "Python 3.10.12"; exit 0')
    stand_in(tmp_path / "bin", "uv", 'echo "error: failed to download" >&2; exit 2')
    done = bash_function("choose_python", tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    said = done.stderr
    assert "could not install Python 3.12.12 with uv" in said
    assert "needs Python 3.11 to 3.13 and this image has Python 3.10.12" in said
    assert "internet access" in said and "LABKIT_SETUP_PYTHON" in said


def test_setup_uses_the_python_uv_installed(tmp_path):
    log = tmp_path / "uv.log"
    stand_in(
        tmp_path / "bin",
        "uv",
        f'echo "$UV_PYTHON_INSTALL_DIR $*" >> "{log}"\n'
        f'[ "$1 $2" = "python find" ] && echo "{sys.executable}"\nexit 0',
    )
    done = bash_function("choose_python", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sys.executable
    home = tmp_path / "home" / "python"
    assert log.read_text().splitlines() == [
        f"{home} python install 3.12.12",
        f"{home} python find --python-preference only-managed 3.12.12",
    ]


def test_setup_refuses_a_python_labkit_does_not_run_on(tmp_path):
    stand_in(tmp_path / "bin", "old-python", "exit 1")  # 3.10 says no to the version check
    done = bash_function(
        "choose_python", tmp_path, LABKIT_SETUP_PYTHON=str(tmp_path / "bin/old-python")
    )
    assert done.returncode == 1
    assert "is not Python 3.11 to 3.13" in done.stderr


def test_setup_resolves_the_datasets_and_probes_the_sandbox():
    text = release.SETUP_SH
    assert "labkit.publish.autograder datasets" in text  # at build time, with internet
    assert "labkit.sandbox.isolation required" in text  # which sandbox, or stop the build
    assert 'chmod -R go-rwx "$SOURCE"' in text
    assert "LABKIT_DATA" in release.RUN_AUTOGRADER


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck here")
def test_the_scripts_pass_shellcheck(tmp_path):
    for name, text in (("setup.sh", release.SETUP_SH), ("run_autograder", release.RUN_AUTOGRADER)):
        (tmp_path / name).write_text(text)
        done = subprocess.run(
            ["shellcheck", str(tmp_path / name)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout


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


@pytest.mark.parametrize("version", [1, 2])
def test_the_container_oom_kills_are_counted(tmp_path, version):
    fs = cgroup_tree(tmp_path, version, {"": "max", "docker/abc": str(3 * GIB)})
    assert autograder.oom_kills(fs, tmp_path / "cgroup") == 0
    name = "memory.events" if version == 2 else "memory/memory.oom_control"
    (fs / name).write_text("oom 2\noom_kill 2\n" if version == 2 else "under_oom 0\noom_kill 2\n")
    assert autograder.oom_kills(fs, tmp_path / "cgroup") == 2


def test_a_lab_killed_while_the_container_ran_out_of_memory_is_not_graded_as_a_zero():
    killed = "The module's process stopped early: killed, probably for using more than 3 GiB"
    results = {
        "score": 11,
        "tests": [
            {
                "name": "cv1: submission",
                "score": 0,
                "status": "failed",
                "output": killed,
                "tags": ["cv1", "submission"],
            },
            {
                "name": "cv1: shapes",
                "score": 0,
                "status": "failed",
                "output": "blocked: ...",
                "tags": ["cv1", "shapes"],
            },
            {
                "name": "cv3: shapes",
                "score": 1,
                "status": "passed",
                "output": "",
                "tags": ["cv3", "shapes"],
            },
        ],
    }
    assert autograder.excuse_out_of_memory(results, 2 * GIB) == ["cv1"]
    cv1 = results["tests"][:2]
    assert all(test["tags"][-1] == "could not grade" for test in cv1)
    assert all("the container ran out of memory (2.00 GiB)" in test["output"] for test in cv1)
    assert results["tests"][2]["tags"] == ["cv3", "shapes"]
    assert results["extra_data"]["could not grade"] == ["cv1: shapes", "cv1: submission"]
    assert "not your code's fault" in results["output"]


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


def docker_like_reason() -> str:
    """Why grading cannot be tried here as in a Docker container; '' when it can."""
    if os.geteuid() != 0:
        return "needs root, as Gradescope's grader is"
    if shutil.which("capsh") is None:
        return "no capsh (Debian: libcap2-bin)"
    found = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True, check=False
    )
    if found.returncode != 0:
        return "no seccomp binding for the system Python (Debian: python3-seccomp)"
    return unprivileged.unavailable_reason()


docker_like = pytest.mark.skipif(bool(docker_like_reason()), reason=docker_like_reason())


def in_container(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SYSTEM_PYTHON, str(DOCKER_LIKE), *command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )


@docker_like
def test_in_a_container_the_reference_keeps_full_marks_as_an_unprivileged_user(tmp_path):
    probe = in_container(sys.executable, "-m", "labkit.sandbox.isolation", "required")
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert probe.stdout.startswith("sandbox: unprivileged user. Bubblewrap cannot run here")
    results = tmp_path / "results.json"
    graded = in_container(
        *(sys.executable, "-m", "labkit.cli", "grade", "--course", str(ROOT)),
        *("--submission", str(REFERENCE), "--lab", "cv1_mnist_intro"),
        *("--isolation", "required", "--results", str(results)),
    )
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    assert "isolation: unprivileged user, since bubblewrap cannot run here" in graded.stdout
    found = json.loads(results.read_text())
    assert found["score"] == found["max_score"] == 11


@docker_like
def test_in_a_container_an_attack_loses_only_its_own_lab():
    """run_autograder as Gradescope runs it: the course root's, a submission that reaches for
    the course and the results beside the reference of another lab."""
    top = Path(tempfile.mkdtemp(prefix="labkit-test-autograder-"))
    top.chmod(0o755)
    try:
        root = top / "autograder"
        archive = release.gradescope(COURSE, top / "dist")
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(root / "source")
        shutil.copytree(REFERENCE, root / "source" / "reference")  # a secret to reach for
        submission = root / "submission"
        submission.mkdir(parents=True)
        shutil.copy(REFERENCE / "cv3_mnist_cnn.py", submission)
        (submission / "cv1_mnist_intro.py").write_text(
            (SUBMISSIONS / "attacks" / "as_user.py")
            .read_text()
            .replace('"/autograder/source"', f'"{root / "source"}"')
            .replace('"/autograder/results"', f'"{root / "results"}"')
        )
        done = in_container(
            "bash",
            str(root / "source" / "run_autograder"),
            AUTOGRADER_ROOT=str(root),
            LABKIT_HOME=str(top / "labkit"),
            LABKIT_PYTHON=sys.executable,
        )
        output = (root / "results" / "output.txt").read_text()
        results = json.loads((root / "results" / "results.json").read_text())
        assert done.returncode == 0, done.stderr
        assert "isolation: unprivileged user" in output, output[-3000:]
        scores = {}
        for test in results["tests"]:
            lab = test["tags"][0]
            scores[lab] = scores.get(lab, 0) + test["score"]
        assert scores["cv3_mnist_cnn"] == 11, output[-3000:]
        assert scores["cv1_mnist_intro"] == 0
        said = next(
            t["output"]
            for t in results["tests"]
            if t["tags"][:2] == ["cv1_mnist_intro", "submission"]
        )
        assert "attack: read []; wrote []; saw []; root False" in said, said
        assert results["score"] == 11
        assert (root / "source").stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(top, ignore_errors=True)
