"""The `labkit grade` command: exit codes, usage errors and the results file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REFERENCE, ROOT


def labkit(*args: str, cwd=ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", "grade", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--submission", "no/such/folder"], "does not exist"),
        (["--submission", "noxfile.py"], "cannot tell which lab noxfile.py is for"),
        (["--lab", "cv9"], "invalid choice: 'cv9'"),
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
    assert json.loads(results.read_text())["score"] == 10
    # The student sees the table and nothing of pytest's or TensorFlow's own output.
    assert finished.stdout.splitlines()[-2:] == [
        "All 8 checks passed.",
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
