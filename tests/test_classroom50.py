"""The Classroom 50 autograder: run as its runner runs it, checked against its contract."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labkit import cli
from labkit.publish import classroom50, release
from labkit.spec.course import Course

# What Classroom 50's runner passes every autograder (Advanced Autograding, "Contract").
RUNNER = {
    "CLASSROOM": "cnn-2026",
    "ASSIGNMENT": "stripes-lab",  # the teacher's slug, not the lab's name
    "SUBMISSION_TAG": "submit/2026-09-01T10-00-00Z-a1b2c3d",
    "COMMIT_URL": "https://github.com/cnn-2026/stripes-lab-alice/commit/a1b2c3d",
    "RELEASE_URL": "https://github.com/cnn-2026/stripes-lab-alice/releases/tag/submit%2F...",
    "REVIEW_URL": "https://github.com/cnn-2026/stripes-lab-alice/compare/0000000...a1b2c3d",
    "GITHUB_ACTIONS": "false",  # no sysctl on the machine that runs these tests
}
VISIBLE = 12  # the stripes lab's 13 points, without its hidden check's 1


def contract_errors(result: Any) -> list[str]:
    """What ``result`` breaks of the result.json contract an autograder must satisfy.

    From Classroom 50's wiki, Advanced Autograding, "The result.json contract"
    (https://github.com/foundation50/classroom50/wiki/Advanced-Autograding): schema is
    exactly classroom50/result/v1; classroom and assignment match the run; submission is
    the submit tag; commit, release and review are URLs and datetime is UTC ISO 8601, all
    strings; score and max-score are non-negative integers, the sums of the tests'; each
    test has a non-empty test-name, a boolean passed, and integer score and max-score, its
    other fields kept verbatim. owner, assignment_type, graded_at and submitted_by are the
    runner's to stamp. (The runner's validate_result also refuses a bool as an integer and
    a score above its max-score.)
    """
    errors = []

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if not isinstance(result, dict):
        return ["not a JSON object"]
    if result.get("schema") != "classroom50/result/v1":
        errors.append(f"schema {result.get('schema')!r}")
    for field, name in (("classroom", "CLASSROOM"), ("assignment", "ASSIGNMENT")):
        if result.get(field) != RUNNER[name]:
            errors.append(f"{field} {result.get(field)!r} is not the run's")
    if not str(result.get("submission", "")).startswith("submit/"):
        errors.append("submission is not a submit/* tag")
    for field in ("commit", "release", "review"):
        if not str(result.get(field, "")).startswith("https://"):
            errors.append(f"{field} is not a URL")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(result.get("datetime"))):
        errors.append(f"datetime {result.get('datetime')!r} is not UTC ISO 8601")
    tests = result.get("tests")
    if not isinstance(tests, list):
        return [*errors, "tests is not a list"]
    for index, test in enumerate(tests):
        if not isinstance(test.get("test-name"), str) or not test["test-name"]:
            errors.append(f"tests[{index}] has no test-name")
        if not isinstance(test.get("passed"), bool):
            errors.append(f"tests[{index}].passed is not a boolean")
        if not (whole(test.get("score")) and whole(test.get("max-score"))):
            errors.append(f"tests[{index}] score or max-score is not a whole number")
        elif test["score"] > test["max-score"]:
            errors.append(f"tests[{index}] scores more than its max-score")
    for field in ("score", "max-score"):
        if not whole(result.get(field)):
            errors.append(f"{field} is not a non-negative integer")
        elif result[field] != sum(test.get(field, 0) for test in tests):
            errors.append(f"{field} is not the sum of the tests'")
    return errors


@pytest.fixture(scope="module")
def bundle(stripes_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stripes lab's autograder folder, as `labkit release` writes it."""
    out = tmp_path_factory.mktemp("dist")
    code = cli.main(["release", "--course", str(stripes_course), "--out", str(out)])
    assert code == 0
    return out / classroom50.FOLDER / "stripes"


def checkout(tmp_path: Path, stripes_course: Path, module: str | None) -> Path:
    """A student's repository with ``module`` (reference or exercises) as their lab file, and
    a labkit and graders of their own that the autograder must never use."""
    folder = tmp_path / "checkout"
    (folder / "exercises").mkdir(parents=True)
    if module:
        shutil.copy(stripes_course / module / "stripes.py", folder / "exercises")
    (folder / "labkit").mkdir()
    (folder / "labkit" / "__init__.py").write_text("raise SystemExit('the student labkit ran')\n")
    return folder


def autograde(
    bundle: Path, folder: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run autograder.py as the runner does: its Python, in the checkout, with its variables."""
    outputs = folder.parent / "github_output"
    finished = subprocess.run(
        [sys.executable, str(bundle / "autograder.py")],
        cwd=folder,
        env={
            **os.environ,
            **RUNNER,
            "GITHUB_OUTPUT": str(outputs),
            "LABKIT_PYTHON": sys.executable,  # labkit's dependencies, already installed
            "PYTHONPATH": str(folder),  # even so, the checkout's labkit is not imported
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert not outputs.exists()  # the runner derives the status from result.json
    result = folder / classroom50.RESULT
    return finished, json.loads(result.read_text()) if result.is_file() else None


def test_the_bundle_holds_what_the_runner_needs_and_no_hidden_check(bundle, stripes_course):
    names = {path.relative_to(bundle).as_posix() for path in bundle.rglob("*") if path.is_file()}
    assert {"autograder.py", "labkit.json", "pyproject.toml", "data/stripes.npz"} <= names
    assert {"labkit/publish/classroom50.py", "graders/test_stripes.py"} <= names
    assert not [name for name in names if name.startswith(("reference/", "exercises/"))]
    hidden = [check for check in Course(stripes_course).checks("stripes") if check.hidden]
    assert hidden, "the lab has a hidden check to leave out"
    texts = [path.read_text(errors="replace") for path in bundle.rglob("*.py")]
    for check in hidden:
        assert not [text for text in texts if f"test_{check.name}" in text]
        assert not [text for text in texts if check.description in text]
    config = json.loads((bundle / "labkit.json").read_text())
    assert config == {
        "lab": "stripes",
        "submission": "exercises/stripes.py",
        "isolation": "required",
    }


def test_the_reference_scores_every_visible_point(bundle, stripes_course, tmp_path):
    folder = checkout(tmp_path, stripes_course, "reference")
    finished, result = autograde(bundle, folder)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert contract_errors(result) == []
    assert result["score"] == result["max-score"] == VISIBLE
    course = Course(stripes_course)
    visible = [check for check in course.checks("stripes") if not check.hidden]
    assert {test["test-name"]: test["max-score"] for test in result["tests"]} == {
        f"stripes: {check.description}": int(check.points) for check in visible
    }
    assert all(test["passed"] and test["tags"][0] == "stripes" for test in result["tests"])
    body = (folder / classroom50.RELEASE_BODY).read_text()
    assert (
        body.startswith(f"### labkit: {VISIBLE}/{VISIBLE}\n") and "hidden checks: 1 point" in body
    )
    assert "Feedback for stripes.py" in (folder / classroom50.FEEDBACK).read_text()


def test_the_stub_fails_with_what_to_fix(bundle, stripes_course, tmp_path):
    finished, result = autograde(bundle, checkout(tmp_path, stripes_course, "exercises"))
    assert finished.returncode == 0  # graded: a failing score is no error
    assert contract_errors(result) == []
    assert result["score"] == 0 and result["max-score"] == VISIBLE
    failed = [test for test in result["tests"] if not test["passed"]]
    assert failed == result["tests"] and all(test["output"] for test in failed)
    assert "still a TODO" in failed[0]["output"]


def test_a_missing_lab_file_scores_zero(bundle, stripes_course, tmp_path):
    finished, result = autograde(bundle, checkout(tmp_path, stripes_course, None))
    assert finished.returncode == 0
    assert contract_errors(result) == []
    assert result["score"] == 0 and result["max-score"] == VISIBLE
    assert "not submitted" in result["tests"][0]["output"]


def test_could_not_grade_is_an_error_not_a_score(bundle, stripes_course, tmp_path):
    broken = tmp_path / "bundle"
    shutil.copytree(bundle, broken)
    (broken / "data" / "stripes.npz").write_bytes(b"not a dataset")
    finished, result = autograde(broken, checkout(tmp_path, stripes_course, "reference"))
    assert finished.returncode == classroom50.EXIT_UNGRADED  # the runner posts "error"
    assert "::error title=labkit autograder::could not grade" in finished.stdout
    assert contract_errors(result) == []  # written all the same, for whoever reads the log
    ungraded = [test for test in result["tests"] if "could not grade" in test["tags"]]
    assert ungraded and not any(test["passed"] for test in ungraded)


def test_grading_that_cannot_start_is_an_error(bundle, stripes_course, tmp_path):
    folder = checkout(tmp_path, stripes_course, "reference")
    finished, result = autograde(bundle, folder, LABKIT_BWRAP="/no/such/bwrap")
    assert finished.returncode == classroom50.EXIT_UNGRADED and result is None
    assert "::error title=labkit autograder::labkit grade stopped" in finished.stdout
    assert "isolation" in finished.stderr


def test_result_json_keeps_whole_points_only():
    results = {"tests": [{"name": "l: c", "score": 0, "max_score": 1.5, "status": "failed"}]}
    with pytest.raises(ValueError, match="whole points"):
        classroom50.result_json(results, RUNNER, datetime.datetime.now(datetime.UTC))


def test_release_refuses_what_classroom50_cannot_score(stripes_course, tmp_path, monkeypatch):
    halves = tmp_path / "course"
    shutil.copytree(stripes_course, halves)
    grader = halves / "graders" / "test_stripes.py"
    grader.write_text(
        grader.read_text().replace('points={"accuracy": 2}', 'points={"accuracy": 1.5}')
    )
    with pytest.raises(release.ReleaseError, match="whole points"):
        classroom50.autograders(Course(halves), tmp_path / "dist")
    monkeypatch.setattr(classroom50, "MAX_BUNDLE_BYTES", 1000)
    with pytest.raises(release.ReleaseError, match="declare its dataset by URL"):
        classroom50.autograders(Course(stripes_course), tmp_path / "dist")
