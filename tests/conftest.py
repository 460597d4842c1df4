"""Shared fixtures: run the graders on a submission with pytester and read the results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Import TensorFlow before pytester snapshots sys.modules: an in-process run that imported
# it first would have it removed afterwards, and TensorFlow cannot be imported twice.
import keras  # noqa: F401
import numpy as np
import pytest
import tensorflow  # noqa: F401

from labkit.spec.course import Course

pytest_plugins = ["pytester"]
# Every grade in this suite trains afresh, so that each test sees the grader's real run (and
# a load test real load); the cache's own tests turn it on with a folder of their own.
os.environ["LABKIT_CACHE"] = "off"
# A second course, graded by test_new_lab.py; its grader is not one of this suite's tests.
collect_ignore = ["course"]

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT)
GRADERS = ROOT / "graders"
REFERENCE = ROOT / "reference"
EXERCISES = ROOT / "exercises"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


@dataclass
class Graded:
    """One grading run: pytest's outcome and the Gradescope results it wrote."""

    run: pytest.RunResult
    results: dict[str, Any]
    path: Path  # the results file

    def checks(self, lab: str) -> list[dict[str, Any]]:
        return [test for test in self.results["tests"] if test["tags"][0] == lab]

    def failed(self, lab: str) -> set[str]:
        return {test["tags"][1] for test in self.checks(lab) if test["status"] == "failed"}

    def score(self, lab: str) -> tuple[float, float]:
        mine = self.checks(lab)
        return sum(t["score"] for t in mine), sum(t["max_score"] for t in mine)

    def output(self, lab: str, category: str) -> str:
        return "\n".join(t["output"] for t in self.checks(lab) if t["tags"][1] == category)


def processes_with(marker: str) -> list[int]:
    """The processes whose command line holds ``marker``: what an attack left running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def labkit_grade(
    *args: str, cwd: Path = ROOT, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """``labkit grade ARGS`` in a process of its own, as a user runs it, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", "grade", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def by_student(out: Path) -> dict[str, dict]:
    """A batch's results in ``out``, by student, without their run times."""
    found = {}
    for path in sorted((out / "results").glob("*.json")):
        results = json.loads(path.read_text())
        results.pop("execution_time")
        found[path.stem] = results
    return found


def stripes(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images with stripes across (label 0), down (1) or diagonal (2), at random phases."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    rows, columns = np.mgrid[0:8, 0:8]
    patterns = (rows, columns, rows + columns)
    phases = rng.integers(0, 4, count)
    images = np.stack(
        [
            (patterns[label] + phase) // 2 % 2 * 200.0
            for label, phase in zip(labels, phases, strict=True)
        ]
    )
    images += rng.normal(0, 25, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="session")
def stripes_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/course, the one-lab course, with the dataset file its grader declares."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(Path(__file__).resolve().parent / "course", root, dirs_exist_ok=True)
    (x_train, y_train), (x_test, y_test) = stripes(1000, seed=0), stripes(600, seed=1)
    (root / "data").mkdir()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    np.savez(root / "data" / "stripes.npz", **arrays)
    return root


@pytest.fixture
def grade(pytester: pytest.Pytester):
    """Grade a submission path in-process; returns a Graded."""

    def run(submission: Path, *args: str) -> Graded:
        results = pytester.path / "results.json"
        outcome = pytester.runpytest(
            str(GRADERS),
            "--submission",
            str(submission),
            "--results",
            str(results),
            "-p",
            "no:cacheprovider",
            *args,
        )
        return Graded(outcome, json.loads(results.read_text()), results)

    return run
