"""The `labkit grade` command: exit codes, usage errors and the results file."""

from __future__ import annotations

import json

import pytest
from conftest import REFERENCE
from conftest import labkit_grade as labkit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--submission", "no/such/folder"], "does not exist"),
        (["--submission", "noxfile.py"], "cannot tell which lab noxfile.py is for"),
        (["--lab", "cv9"], "unknown lab 'cv9': choose one of cv1_mnist_intro"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (
            ["--submission", str(REFERENCE / "cv1_mnist_intro.py"), "--lab", "cv3_mnist_cnn"],
            "cv1_mnist_intro.py is for cv1_mnist_intro, not cv3_mnist_cnn",
        ),
    ],
)
def test_usage_errors_exit_2(args, message):
    finished = labkit(*args)
    assert finished.returncode == 2
    assert message in finished.stderr
    assert "usage: labkit grade" in finished.stderr or "ERROR" in finished.stderr


def test_all_passing_exits_0_and_writes_results(tmp_path):
    results = tmp_path / "out" / "results.json"
    finished = labkit(
        "--submission",
        str(REFERENCE / "cv1_mnist_intro.py"),
        "--lab",
        "cv1_mnist_intro",
        "--results",
        str(results),
    )
    assert finished.returncode == 0, finished.stdout[-3000:]
    assert "Total" in finished.stdout
    assert json.loads(results.read_text())["score"] == 11
    # The student sees the table and nothing of pytest's or TensorFlow's own output.
    assert finished.stdout.splitlines()[-2:] == [
        "All 9 checks passed.",
        f"results written to {results}",
    ]
    assert finished.stderr == ""
    for noise in ("passed in", "oneDNN", "absl", "E0000"):
        assert noise not in finished.stdout


def test_a_failed_check_exits_1(tmp_path):
    broken = tmp_path / "cv1_mnist_intro.py"
    broken.write_text("def preprocess(images):\n    return images\n")
    finished = labkit("--submission", str(broken), "--lab", "cv1_mnist_intro")
    assert finished.returncode == 1
    assert "FAIL  preprocess" in finished.stdout


# As on a laptop with no bubblewrap, where the grader is not root.
NO_SANDBOX = {"LABKIT_BWRAP": "/no/such/bwrap", "LABKIT_SANDBOX_UIDS": "none"}


def test_without_a_sandbox_grading_works_and_says_so_once():
    finished = labkit("--submission", str(REFERENCE / "cv1_mnist_intro.py"), **NO_SANDBOX)
    assert finished.returncode == 0, finished.stdout[-3000:]
    assert finished.stdout.count("isolation: unavailable on this platform") == 1
    assert finished.stdout.splitlines()[-1] == "All 9 checks passed."


def test_isolation_required_refuses_without_a_sandbox():
    finished = labkit("--isolation", "required", **NO_SANDBOX)
    assert finished.returncode == 3  # the grader could not grade: not a usage error
    assert finished.stderr.startswith("could not grade: ")
    assert "isolation: unavailable on this platform" in finished.stderr
    assert "refuses to grade without one" in finished.stderr


def test_each_limit_is_also_a_setting():
    from labkit.spec.limits import OPTIONS

    settings = {spec.setting: "7" for spec in OPTIONS}
    shown = labkit("--help", **settings).stdout
    for spec in OPTIONS:
        assert spec.flag in shown and spec.setting in shown
    assert shown.count("(default: 7;") == len(OPTIONS)
    refused = labkit(**{**settings, "LABKIT_WALL_LIMIT": "soon"})
    assert refused.returncode == 2
    assert "LABKIT_WALL_LIMIT='soon' is not a number" in refused.stderr
