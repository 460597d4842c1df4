"""Sessions: ``nox -s grade`` grades a submission; ``nox -s tests`` tests labkit itself.

Usage: ``nox -s grade -- --submission PATH --lab cv3_mnist_cnn --results results.json``
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["grade"]
# TensorFlow takes a while to install: build each environment once, then reuse it.
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
# Offline copies of the datasets, when this checkout sits next to a shared/data folder.
SHARED_DATA = ROOT.parent / "shared" / "data"


def data_env() -> dict[str, str]:
    """Point LABKIT_DATA at the shared offline data unless the user chose a folder already."""
    if "LABKIT_DATA" in os.environ or not SHARED_DATA.is_dir():
        return {}
    return {"LABKIT_DATA": str(SHARED_DATA)}


@nox.session
def grade(session: nox.Session) -> None:
    """Grade exercises/ (or --submission PATH) and print the score table."""
    session.install("-e", ".")
    session.run("labkit", "grade", *session.posargs, env=data_env())


@nox.session
def tests(session: nox.Session) -> None:
    """Lint labkit, then run its own test suite on the real datasets."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")  # the stages' layers, as pyproject.toml's contract says
    # pytest exits 5 when it collects no tests; that fails the session on purpose, since
    # labkit's suite is never empty and an empty run would prove nothing.
    session.run("pytest", *session.posargs, env=data_env())


@nox.session
def grade_batch(session: nox.Session) -> None:
    """Grade a class folder of submissions: gradebook, results and feedback pages."""
    session.install("-e", ".[batch]")
    session.run("labkit", "grade-batch", *session.posargs, env=data_env())


@nox.session
def release(session: nox.Session) -> None:
    """Build dist/student/, dist/student.zip and dist/classroom50/autograders/ (per lab)."""
    session.install("-e", ".")
    session.run("labkit", "release", *session.posargs, env=data_env())


@nox.session
def gradescope(session: nox.Session) -> None:
    """Build dist/gradescope.zip: the autograder for Gradescope, hidden checks included."""
    session.install("-e", ".")
    session.run("labkit", "release", "--gradescope", *session.posargs, env=data_env())


@nox.session
def bench(session: nox.Session) -> None:
    """Print where grading time goes, per lab and for whole runs, against a bare TF import."""
    session.install("-e", ".")
    session.run("python", "-m", "labkit.measure.bench", *session.posargs, env=data_env())


@nox.session
def calibrate(session: nox.Session) -> None:
    """Train the reference and the mistake variants over seeds: thresholds and their margins."""
    session.install("-e", ".")
    session.run("python", "-m", "labkit.measure.calibrate", *session.posargs, env=data_env())


@nox.session
def check_course(session: nox.Session) -> None:
    """Check the course against itself: declarations, files, then reference and stub scores."""
    session.install("-e", ".")
    session.run("labkit", "check-course", *session.posargs, env=data_env())


@nox.session
def handouts(session: nox.Session) -> None:
    """Build the student and solution notebooks and HTML pages into build/handouts/."""
    session.install("-e", ".")
    session.run("labkit", "handouts", *session.posargs, env=data_env())
