"""Grades do not depend on the machine's load: limits count CPU time, not the clock.

A correct solution graded beside other work, on a slow machine or in a paused container
must get exactly the grade it gets on an idle machine. These tests load both cores with
spinning processes, or freeze the grader's children outright, and compare.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import COURSE, REFERENCE, ROOT

from labkit.batch import classrun
from labkit.batch.worker import Options
from labkit.sandbox import forkserver, runner
from labkit.sandbox.trainer import Trainer
from labkit.spec.limits import Limits

CV1 = COURSE.lab("cv1_mnist_intro")
HOG_PER_CORE = 1  # spinning processes per core: the grader gets half of the machine


@contextlib.contextmanager
def cpu_hog() -> Iterator[None]:
    """Every core busy with processes that never yield, for as long as the test runs."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(HOG_PER_CORE * (os.cpu_count() or 1))
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def without_time(results: dict) -> dict:
    return {key: value for key, value in results.items() if key != "execution_time"}


def test_the_reference_keeps_full_marks_five_times_under_a_cpu_hog(tmp_path):
    """Five grades in a row, as a batch grades them, each identical to an idle grade."""
    idle = tmp_path / "idle.json"
    command = [sys.executable, "-m", "labkit.cli", "grade", "--submission", str(REFERENCE)]
    subprocess.run(
        [*command, "--results", str(idle)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert idle.is_file()
    classroom = tmp_path / "class"
    for student in ("ana", "ben", "cai", "dee", "eli"):
        (classroom / student).mkdir(parents=True)
        for module in REFERENCE.glob("*.py"):
            (classroom / student / module.name).write_bytes(module.read_bytes())
    out = tmp_path / "graded"
    with cpu_hog():
        rows = classrun.run(classroom, out, Options(course=ROOT), workers=1, progress=False)
    expected = without_time(json.loads(idle.read_text()))
    assert expected["score"] == expected["max_score"] == 49
    for row in rows:
        assert (row.status, row.total, row.max_score) == ("graded", 49, 49), row.reason
        graded = json.loads((out / "results" / f"{row.student}.json").read_text())
        assert without_time(graded) == expected


def frozen(pids: list[int], seconds: float) -> None:
    """Stop these processes for ``seconds``, as a machine that gives them no CPU at all."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    time.sleep(seconds)
    for pid in pids:
        os.kill(pid, signal.SIGCONT)


def descendants(root: int) -> list[int]:
    """Every process started, directly or not, by process ``root``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


@pytest.mark.skipif(not forkserver.FORKS, reason="training runs in a child only on Linux")
def test_a_training_run_frozen_past_its_limit_keeps_its_result(tmp_path):
    """The grader's training stopped longer than its CPU limit still trains, unchanged."""
    limits = Limits(training_seconds=20)
    with runner.start_server(tmp_path / "work", data=[CV1.dataset]) as server:
        harvest = runner.run(
            CV1, REFERENCE / "cv1_mnist_intro.py", tmp_path / "work", limits, server
        )
        compiled = harvest.model_file("compile_model")
        grader = Trainer(server, limits)
        # Training folders sit in the run's work folder, the part of the disk a sandbox sees.
        expected = grader.train(compiled, CV1, tmp_path / "work" / "idle")
        assert not expected.error and not expected.grader_error, expected
        found = {}
        run = threading.Thread(
            target=lambda: found.setdefault(
                "result", grader.train(compiled, CV1, tmp_path / "work" / "frozen")
            )
        )
        run.start()
        time.sleep(1.0)  # the training child has started
        frozen(descendants(os.getpid()), limits.training_seconds + 5)
        run.join()
    result = found["result"]
    assert not result.error and not result.grader_error, result
    assert (result.accuracy, result.losses) == (expected.accuracy, expected.losses)
