"""Running a course: the student release, the Gradescope autograder, and CI's formats."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import COURSE, EXERCISES, REFERENCE, ROOT
from junitparser import JUnitXml, Properties

from labkit.intake import sourcecode
from labkit.publish import release
from labkit.spec.course import Course

GRADESCOPE_STATUSES = {"passed", "failed"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student zip, unpacked into an empty folder."""
    out = tmp_path_factory.mktemp("dist")
    archive = release.student(COURSE, out)
    folder = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(folder)
    return folder


def labkit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m labkit.cli` with the labkit found first in ``cwd``, as a bundle ships it."""
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_release_holds_no_solution_and_no_hidden_check(unpacked):
    files = [path for path in unpacked.rglob("*") if path.is_file()]
    names = {path.relative_to(unpacked).as_posix() for path in files}
    assert {"noxfile.py", "README.md", ".github/workflows/classroom.yml"} <= names
    assert {"exercises/cv3_mnist_cnn.py", "notebooks/cv3_mnist_cnn.ipynb"} <= names
    assert {"labkit/grading/plugin.py", "graders/test_cv3_mnist_cnn.py"} <= names
    assert not [name for name in names if name.startswith(("reference/", "tests/"))]
    texts = {path: path.read_text(encoding="utf-8", errors="replace") for path in files}
    secrets = []
    for module in sorted(REFERENCE.glob("*.py")):
        for name, definition in sourcecode.definitions(module.read_text()).items():
            body = "\n".join(definition.splitlines()[1:]).strip()
            if name.isidentifier() and not name.isupper() and body:
                secrets.append(body)
    hidden = [check for lab in COURSE.labs for check in COURSE.checks(lab) if check.hidden]
    assert hidden, "the course has hidden checks to leave out"
    secrets += [f"test_{check.name}" for check in hidden]
    secrets += [check.description for check in hidden]
    found = [
        (secret[:40], path.name)
        for secret in secrets
        for path, text in texts.items()
        if secret in text
    ]
    assert found == []


def test_the_release_grades_offline_hidden_points_announced(unpacked, tmp_path):
    stubs = labkit("grade", "--results", str(tmp_path / "stubs.json"), cwd=unpacked)
    results = json.loads((tmp_path / "stubs.json").read_text())
    assert results["score"] == 0 and results["max_score"] == 45, stubs.stdout[-2000:]
    assert "hidden checks: 1 point, graded after the deadline" in stubs.stdout
    submission = tmp_path / "reference"
    shutil.copytree(REFERENCE, submission)
    passed = labkit(
        "grade",
        "--submission",
        str(submission),
        "--results",
        str(tmp_path / "ref.json"),
        cwd=unpacked,
    )
    results = json.loads((tmp_path / "ref.json").read_text())
    assert passed.returncode == 0, passed.stdout[-2000:]
    assert results["score"] == results["max_score"] == 45
    assert not [test for test in results["tests"] if "visibility" in test]


def test_the_classroom_workflow_reports_every_lab(unpacked):
    workflow = yaml.safe_load((unpacked / ".github" / "workflows" / "classroom.yml").read_text())
    assert set(workflow["on"]) >= {"push"}
    assert workflow["permissions"]["checks"] == "write"
    (job,) = workflow["jobs"].values()
    steps = {step.get("id", step.get("name", step.get("uses"))): step for step in job["steps"]}
    assert '--classroom "$GITHUB_OUTPUT"' in steps["grade"]["run"]
    reporter = next(s for s in job["steps"] if "autograding-grading-reporter" in s.get("uses", ""))
    runners = reporter["with"]["runners"].split(",")
    assert runners == list(COURSE.labs)
    for lab in runners:
        assert reporter["env"][f"{lab.upper()}_RESULTS"] == f"${{{{ steps.grade.outputs.{lab} }}}}"


def test_classroom_output_junit_and_job_summary(tmp_path):
    outputs, junit, summary = tmp_path / "outputs", tmp_path / "junit.xml", tmp_path / "summary.md"
    finished = labkit(
        "grade",
        "--submission",
        str(EXERCISES / "cv1_mnist_intro.py"),
        "--classroom",
        str(outputs),
        "--junitxml",
        str(junit),
        cwd=ROOT,
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert finished.returncode == 1
    name, encoded = outputs.read_text().strip().split("=", 1)
    result = json.loads(base64.b64decode(encoded))
    assert name == "cv1_mnist_intro" and result["status"] == "fail"
    assert result["max_score"] == 11 and sum(test["score"] for test in result["tests"]) == 0
    (suite,) = JUnitXml.fromfile(str(junit))
    cases = list(suite)
    assert len(cases) == 9  # 11 points
    structure = next(case for case in cases if case.name == "Layer types and activations, in order")
    properties = {prop.name: prop.value for prop in structure.child(Properties)}
    assert properties == {
        "category": "structure",
        "points": "0",
        "max_points": "2",
        "hidden": "false",
    }
    assert "build_model() is still a TODO" in structure.result[0].message
    page = summary.read_text()
    assert "## labkit scores" in page and "| **Total** | | | **0/11** | |" in page


def test_gradescope_runs_the_autograder_with_hidden_checks(stripes_course, tmp_path):
    archive = release.gradescope(Course(stripes_course), tmp_path / "dist")
    root, home = tmp_path / "autograder", tmp_path / "labkit"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
        modes = {info.filename: info.external_attr >> 16 for info in bundle.infolist()}
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    # setup.sh's dataset step, at build time; grading then needs neither it nor the network.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "labkit.publish.autograder",
            "datasets",
            root / "source",
            home / "data",
        ],
        check=True,
    )
    assert (home / "data" / "stripes.npz").stat().st_mode & 0o777 == 0o644
    (root / "source" / "data" / "stripes.npz").unlink()
    (root / "submission").mkdir()
    shutil.copy(stripes_course / "reference" / "stripes.py", root / "submission")
    env = {key: value for key, value in os.environ.items() if key != "LABKIT_DATA"}
    finished = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env={
            **env,
            "AUTOGRADER_ROOT": str(root),
            "LABKIT_HOME": str(home),
            "LABKIT_PYTHON": sys.executable,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 13, (root / "results" / "output.txt").read_text()[-2000:]
    assert isinstance(results["execution_time"], int | float)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "output"} <= set(test)
        assert test["status"] in GRADESCOPE_STATUSES
        assert test.get("visibility", "visible") in GRADESCOPE_VISIBILITY
    hidden = [test for test in results["tests"] if test.get("visibility") == "after_published"]
    assert [test["name"] for test in hidden] == [
        "stripes: Accuracy on test images kept back until the deadline"
    ]
    assert finished.returncode == 0


def test_gradescope_says_why_when_grading_cannot_start(stripes_course, tmp_path):
    archive = release.gradescope(Course(stripes_course), tmp_path / "dist")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    (root / "submission").mkdir()
    subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env={
            **os.environ,
            "AUTOGRADER_ROOT": str(root),
            "LABKIT_PYTHON": sys.executable,
            "LABKIT_BWRAP": "/no/such/bwrap",  # no sandbox, and isolation is required
            "LABKIT_SANDBOX_UIDS": "none",  # nor the unprivileged user
            "LABKIT_HOME": str(tmp_path / "labkit"),
        },
        capture_output=True,
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["output_format"] == "text"
    assert "could not grade this submission: a problem with the autograder" in results["output"]
    assert "isolation" in results["output"]
    (test,) = results["tests"]  # never a check failed: one that says it could not grade
    assert test["tags"] == ["could not grade"] and test["max_score"] == 0
    assert results["extra_data"]["could not grade"] == ["the whole submission"]


def test_gradescope_says_why_when_labkit_cannot_even_start(tmp_path):
    archive = release.gradescope(COURSE, tmp_path / "dist")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(root / "source")
    subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "LABKIT_PYTHON": "/no/such/python"},
        check=False,
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["output_format"] == "text"
    assert results["tests"][0]["tags"] == ["could not grade"]


def test_strip_hidden_leaves_the_rest_of_a_module():
    source = (
        "import pytest\n\n\nclass TestLab:\n"
        "    @pytest.mark.check('accuracy', points=1)\n"
        "    def test_seen(self):\n        pass\n\n"
        "    @pytest.mark.check('accuracy', points=1, hidden=True)\n"
        "    def test_unseen(self):\n        '''kept back'''\n        pass\n"
    )
    stripped = release.strip_hidden(source)
    assert "test_seen" in stripped and "test_unseen" not in stripped and "kept back" not in stripped
    compile(stripped, "grader.py", "exec")
