"""Running a course: the student release, the Gradescope autograder, and CI's formats."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import xmlschema
import yaml
from conftest import COURSE, REFERENCE
from junitparser import Failure, JUnitXml

from labkit.intake import sourcecode
from labkit.publish import github, release
from labkit.spec.course import Course

GRADESCOPE_STATUSES = {"passed", "failed"}
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
JUNIT_SCHEMA = Path(__file__).resolve().parent / "data" / "junit-10.xsd"


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
    assert {"noxfile.py", "README.md", github.WORKFLOW_PATH} <= names
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


def test_the_workflow_grades_any_repository(unpacked):
    """The workflow's documented keys: triggers, a runner, steps GitHub's own actions run."""
    workflow = yaml.safe_load((unpacked / github.WORKFLOW_PATH).read_text())
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert workflow["permissions"] == {"contents": "read"}  # no Classroom, no checks API
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and job["timeout-minutes"] >= 15
    steps = job["steps"]
    assert all(("uses" in step) != ("run" in step) for step in steps)
    uses = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    python = next(step for step in steps if step.get("uses", "").startswith("actions/setup"))
    assert python["with"]["python-version"] in {"3.11", "3.12", "3.13"}  # TensorFlow's wheels
    named = {step["name"]: step for step in steps if "name" in step}
    assert named["Install labkit"]["run"] == "python -m pip install -e ."
    grade = named["Grade"]["run"]
    assert "labkit grade" in grade and "--junitxml" in grade and "--feedback" in grade
    assert named["Grade"]["id"] == "grade"
    later = steps[steps.index(named["Grade"]) + 1 :]
    assert [step.get("if") for step in later] == ["always()"] * 3  # whatever grading said
    upload = next(step for step in later if "uses" in step)
    assert upload["with"]["name"] == github.ARTIFACT
    assert upload["with"]["path"].rstrip("/") == github.RESULTS_FOLDER
    assert named["Verdict"]["env"]["STATUS"] == "${{ steps.grade.outputs.status }}"


def run_step(step: dict, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A workflow step's script, run by bash as GitHub runs it, with the unpacked labkit."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env={**os.environ, "PATH": path, "PYTHONPATH": str(cwd), **step.get("env", {}), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_workflow_reports_failed_checks_on_the_stubs(unpacked, tmp_path):
    """Its Grade, Annotate and Verdict steps, run on the release's own stubs."""
    repository = tmp_path / "repository"  # a checkout of the release, as a student pushes it
    shutil.copytree(unpacked, repository)
    workflow = yaml.safe_load((unpacked / github.WORKFLOW_PATH).read_text())
    (job,) = workflow["jobs"].values()
    named = {step["name"]: step for step in job["steps"] if "name" in step}
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    github_env = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    graded = run_step(named["Grade"], repository, **github_env)
    assert graded.returncode == 0, graded.stderr  # the step itself never fails
    assert outputs.read_text() == "status=1\n"
    results = repository / github.RESULTS_FOLDER
    assert json.loads((results / "results.json").read_text())["max_score"] == 45
    assert "to fix first" in (results / "scores.txt").read_text()
    assert "## labkit scores" in summary.read_text()
    assert "<h1>Feedback for exercises</h1>" in (results / "feedback.html").read_text()
    (suite,) = JUnitXml.fromfile(str(results / "junit.xml"))
    structure = next(case for case in suite if case.name == "Layer types and activations, in order")
    assert structure.classname == "cv1_mnist_intro.structure"
    assert dict(line.split(": ", 1) for line in structure.system_out.splitlines()) == {
        "category": "structure",
        "points": "0",
        "max_points": "2",
        "hidden": "false",
    }
    (failure,) = structure.result
    assert isinstance(failure, Failure)
    assert "build_model() is still a TODO" in failure.message
    xmlschema.validate(str(results / "junit.xml"), JUNIT_SCHEMA)  # as Jenkins' xUnit checks it
    annotated = run_step(named["Annotate failed checks"], repository)
    commands = annotated.stdout.splitlines()
    assert annotated.returncode == 0 and len(commands) == sum(
        1 for case in suite if not case.is_passed
    )
    assert all(line.startswith("::error file=exercises/cv") for line in commands)
    first = commands[0]  # the cause comes before the checks it blocks
    assert "is still a TODO" in first and "blocked" not in first
    for status, code, title in (
        ("1", 1, "Checks failed"),
        ("3", 3, "Could not grade"),
        ("", 2, ""),
    ):
        verdict = run_step(named["Verdict"], repository, STATUS=status)
        assert verdict.returncode == code and f"::error title={title}" in verdict.stdout
    assert run_step(named["Verdict"], repository, STATUS="0").returncode == 0


def test_annotations_escape_what_checks_say():
    junit = """<testsuites><testsuite name="labkit">
      <testcase classname="lab1.params" name="blocked one">
        <failure message="blocked: build_model() is still a TODO"/>
        <system-out>category: params&#10;points: 0&#10;max_points: 1&#10;hidden: false</system-out>
      </testcase>
      <testcase classname="lab1.shapes" name="Shapes, the: layers"
        file="exercises/lab1.py" line="7">
        <failure message="50% off&#10;::add-mask::secret"/></testcase>
      <testcase classname="lab1.accuracy" name="Accuracy">
        <error message="the dataset is unreadable"/></testcase>
      <testcase classname="lab1.structure" name="passes"/>
    </testsuite></testsuites>"""
    assert github.annotations(junit) == [
        "::error file=exercises/lab1.py,line=7,title=lab1%3A Shapes%2C the%3A layers::"
        "50%25 off%0A::add-mask::secret",
        "::warning title=could not grade (not your code)%3A lab1%3A Accuracy::"
        "the dataset is unreadable",
        "::error title=lab1%3A blocked one (0/1)::blocked: build_model() is still a TODO",
    ]


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


def test_the_student_readme_opens_the_notebooks_with_labkit_in_the_kernel(unpacked, tmp_path):
    """The README's kernel command works with what `pip install -e .` installed."""
    readme = (unpacked / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . jupyterlab" in readme
    (command,) = [line for line in readme.splitlines() if "ipykernel install" in line]
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "ipykernel", "install"] and "--user" in words
    words[words.index("--user")] = f"--prefix={tmp_path}"  # not the user's own kernels
    subprocess.run([sys.executable, *words[1:]], check=True, capture_output=True)
    kernel = json.loads((tmp_path / "share/jupyter/kernels/labkit/kernel.json").read_text())
    assert kernel["display_name"] == "Python (labkit)" in readme
    assert Path(kernel["argv"][0]) == Path(sys.executable)
    assert ".venv/" in (unpacked / ".gitignore").read_text().split()


def test_a_release_from_a_wheel_install_says_what_to_do(tmp_path, monkeypatch):
    """Installed from a wheel, labkit has no pyproject.toml beside it to ship."""
    monkeypatch.setattr(release, "PACKAGE", tmp_path / "site-packages" / "labkit")
    with pytest.raises(release.ReleaseError, match=r"pip install -e PATH/TO/labkit"):
        release.copy_project_files(tmp_path)
    assert not (tmp_path / "pyproject.toml").exists()
