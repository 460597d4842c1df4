"""A course started with `labkit new-course`, in a folder outside labkit's repository, works.

It builds its handouts, grades, checks itself and releases with nothing but what labkit
installs: the notebook skeleton comes from the package, not from labkit's repository. A lab
added with `labkit new-lab` is a consistent lab at once; the author's TODOs never reach
students.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from labkit.publish import handouts, scaffold
from labkit.spec.course import Course

AUTHOR_TODO = "TODO(author)"


def labkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The `labkit` command, run in ``cwd``; labkit itself is imported from the installed
    package, never from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", *args],
        cwd=cwd,
        env={key: value for key, value in os.environ.items() if key != "LABKIT_COURSE"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course made by `labkit new-course`, as an author would start one."""
    parent = tmp_path_factory.mktemp("author")
    made = labkit("new-course", "my-course", cwd=parent)
    assert made.returncode == 0, made.stderr
    folder = parent / "my-course"
    assert ROOT not in folder.resolve().parents
    return folder


def test_the_new_course_holds_a_lab_of_four_files(course):
    names = sorted(path.relative_to(course).as_posix() for path in course.rglob("*.*"))
    assert names == [
        "README.md",
        "exercises/digits.py",
        "graders/test_digits.py",
        "reference/digits.py",
        "templates/digits.ipynb.j2",
    ]
    assert not (course / "templates" / "base.ipynb.j2").exists()  # labkit's own is used
    shown = labkit("labs", cwd=course)
    assert shown.returncode == 0, shown.stderr
    assert "| `digits` | mnist | Flatten (784) -> Dense relu (32) -> Dense (10) | 25,450 |" in (
        shown.stdout
    )


def test_the_new_course_checks_itself(course):
    """check-course grades the reference (full marks) and the stubs (not) with labkit grade."""
    checked = labkit("check-course", cwd=course)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith(
        "the course is consistent: declarations, files, full marks for the reference and "
        "not for the stubs"
    )


def test_the_new_course_grades_its_stubs_with_friendly_hints(course, tmp_path):
    results = tmp_path / "results.json"
    graded = labkit("grade", "--results", str(results), cwd=course)
    assert graded.returncode == 1, graded.stdout + graded.stderr
    tests = json.loads(results.read_text())["tests"]
    submission = next(test["output"] for test in tests if test["tags"][1] == "submission")
    assert "preprocess() is still a TODO" in submission
    assert "return the images divided by 255.0" in submission
    assert AUTHOR_TODO not in graded.stdout


def test_the_new_course_builds_its_handouts(course, tmp_path):
    out = tmp_path / "handouts"
    built = labkit("handouts", "--epochs", "1", "--out", str(out), cwd=course)
    assert built.returncode == 0, built.stdout + built.stderr
    student = nbformat.read(out / "student" / "digits.ipynb", as_version=4)
    tags = [tag for cell in student.cells for tag in cell.metadata.get("tags", [])]
    assert tags == ["parameters", "graded:preprocess", "graded:build_model", "graded:compile_model"]
    assert "check_your_work" in student.cells[-1].source  # the skeleton's last cell
    for path in (out / "student" / "digits.ipynb", out / "solutions" / "digits.ipynb"):
        assert AUTHOR_TODO not in path.read_text(encoding="utf-8")


def test_the_new_course_releases_with_the_skeleton(course, tmp_path):
    released = labkit("release", "--out", str(tmp_path / "dist"), cwd=course)
    assert released.returncode == 0, released.stdout + released.stderr
    with zipfile.ZipFile(tmp_path / "dist" / "student.zip") as bundle:
        names = set(bundle.namelist())
        assert {
            "exercises/digits.py",
            "notebooks/digits.ipynb",
            "graders/test_digits.py",
            "labkit/publish/skeleton/base.ipynb.j2",  # the release's labkit builds notebooks too
        } <= names
        for name in ("exercises/digits.py", "notebooks/digits.ipynb", "README.md"):
            assert AUTHOR_TODO not in bundle.read(name).decode()


def test_a_new_lab_is_consistent_at_once(tmp_path):
    scaffold.new_course(tmp_path / "course", "week1")
    course = Course((tmp_path / "course").resolve())
    written = scaffold.new_lab(course, "week2_cnn", title="Week 2: a CNN")
    assert [path.relative_to(course.root).as_posix() for path in written] == [
        "graders/test_week2_cnn.py",
        "exercises/week2_cnn.py",
        "reference/week2_cnn.py",
        "templates/week2_cnn.ipynb.j2",
    ]
    checked = labkit("check-course", "--no-grade", cwd=course.root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = labkit("labs", cwd=course.root)
    assert "| `week1` |" in listed.stdout and "| `week2_cnn` |" in listed.stdout
    grader = (course.root / "graders" / "test_week2_cnn.py").read_text()
    assert 'title="Week 2: a CNN"' in grader and "class TestWeek2Cnn(ModelChecks)" in grader


@pytest.mark.parametrize("name", ["2nd_lab", "Week2", "week-2", "class", ""])
def test_a_lab_name_that_cannot_name_a_module_is_refused(tmp_path, name):
    with pytest.raises(scaffold.ScaffoldError, match="use lower-case letters, digits and _"):
        scaffold.new_course(tmp_path / "course", name)
    assert not (tmp_path / "course").exists()


def test_nothing_is_overwritten(tmp_path):
    scaffold.new_course(tmp_path / "course")
    with pytest.raises(scaffold.ScaffoldError, match="not empty: choose a new folder"):
        scaffold.new_course(tmp_path / "course")
    refused = labkit("new-lab", "digits", cwd=tmp_path / "course")
    assert refused.returncode == 2
    assert "already has graders/test_digits.py" in refused.stderr


def test_a_course_may_override_the_skeleton(tmp_path):
    scaffold.new_course(tmp_path / "course")
    course = Course((tmp_path / "course").resolve())
    lab = course.lab("digits")
    assert "check_your_work" in handouts.render(course, lab)  # labkit's skeleton
    (course.templates / "base.ipynb.j2").write_text(
        "# %% [markdown]\n# Our own skeleton: {{ lab.title }}\n{% block intro %}{% endblock %}\n"
    )
    rendered = handouts.render(course, lab)
    assert rendered.startswith("# %% [markdown]\n# Our own skeleton: Digits")
    assert "check_your_work" not in rendered


def test_the_skeleton_and_starter_are_in_the_wheel(tmp_path):
    """A regular install finds them as an editable one does: they are package data."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "labkit", source / "labkit", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(  # setuptools' own build, as pip runs it; TensorFlow brings setuptools
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta; build_meta.build_wheel({str(tmp_path)!r})",
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("labkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "labkit" / "publish").rglob("*.j2")
    }
    assert "labkit/publish/skeleton/base.ipynb.j2" in shipped
    assert shipped <= names
