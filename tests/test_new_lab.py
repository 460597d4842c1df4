"""A lab added without touching labkit/: tests/course declares it, and labkit grades it.

The course's one lab, ``stripes``, tells 8x8 stripes apart. It brings its own dataset file
(written here), an extra harvested function, ``augment``, with a check of its own, and a
point value other than the default. Its reference must score full marks, its stub zero,
and its handout must build and run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from labkit.publish import handouts
from labkit.spec.course import Course

STARTER = ROOT / "labkit" / "publish" / "starter"


@pytest.fixture(scope="module")
def course(stripes_course: Path) -> Path:
    return stripes_course


def grade(course: Path, submission: Path, results: Path) -> tuple[int, dict]:
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "labkit.cli", "grade", "--course", str(course)),
            *("--submission", str(submission), "--results", str(results)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert results.is_file(), finished.stdout + finished.stderr
    return finished.returncode, json.loads(results.read_text())


def by_category(results: dict) -> dict[str, dict]:
    """Each category's first check: its visible one, where a hidden one shares it."""
    found: dict[str, dict] = {}
    for test in results["tests"]:
        found.setdefault(test["tags"][1], test)
    return found


def test_reference_scores_full_marks(course, tmp_path):
    code, results = grade(course, course / "reference", tmp_path / "results.json")
    assert code == 0
    assert results["score"] == results["max_score"] == 13
    checks = by_category(results)
    assert checks["augment"]["name"] == "stripes: augment() mirrors each image left to right"
    assert checks["augment"]["status"] == "passed"
    assert checks["accuracy"]["max_score"] == 2  # the lab's own points, not the default 1
    assert "on 900 training images" in checks["accuracy"]["output"]


def test_stub_scores_zero_and_names_every_todo(course, tmp_path):
    code, results = grade(course, course / "exercises", tmp_path / "results.json")
    assert code == 1
    assert results["score"] == 0 and results["max_score"] == 13
    checks = by_category(results)
    for function in ("preprocess()", "build_model()", "compile_model()", "augment()"):
        assert f"{function} is still a TODO" in checks["submission"]["output"]
    assert checks["augment"]["output"] == "blocked: augment() is still a TODO"


def test_a_wrong_extra_function_fails_its_own_check_only(course, tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    reference = (course / "reference" / "stripes.py").read_text()
    wrong = reference.replace("return images[:, :, ::-1]", "return images[:, ::-1, :]")
    assert wrong != reference
    (submission / "stripes.py").write_text(wrong)
    _, results = grade(course, submission, tmp_path / "results.json")
    failed = [test["tags"][1] for test in results["tests"] if test["status"] == "failed"]
    assert failed == ["augment"]
    assert "mirror each image left to right" in by_category(results)["augment"]["output"]


def test_handout_is_built_from_the_declaration(course, tmp_path):
    (built,) = handouts.build(Course(course), tmp_path / "out", ["stripes"], epochs=1)
    student = nbformat.read(built.student, as_version=4)
    solution = nbformat.read(built.solution, as_version=4)
    tags = [tag for cell in student.cells for tag in cell.metadata.get("tags", [])]
    assert tags == [
        "parameters",
        "graded:preprocess",
        "graded:augment",
        "graded:build_model",
        "graded:compile_model",
    ]
    stub = next(cell for cell in student.cells if "graded:augment" in cell.metadata.get("tags", []))
    assert "NotImplementedError" in stub.source and "::-1" not in stub.source
    outputs = "".join(
        str(output.get("text", "")) for cell in solution.cells for output in cell.get("outputs", [])
    )
    assert "(1000, 8, 8) (600, 8, 8)" in outputs  # the declared dataset file, loaded in Jupyter
    assert "Stripes: three directions" in built.solution_html.read_text(encoding="utf-8")


def test_nothing_in_labkit_names_a_lab_or_its_dataset(course):
    labs, datasets = set(), set()
    for folder in (ROOT, course):
        for lab in Course(folder).labs.values():
            labs.add(lab.name)
            datasets.add(lab.dataset.name)
    assert {"cv3_mnist_cnn", "stripes"} <= labs and "cifar10" in datasets
    for path in sorted((ROOT / "labkit").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".j2", ".json", ".txt"):
            # The starter's example lab is a course's content, which new-course copies out:
            # it may name the dataset it trains on, never another course's lab.
            starter = STARTER in path.parents
            names = labs if starter else labs | datasets
            text = path.read_text(encoding="utf-8").casefold()
            named = sorted(name for name in names if name.casefold() in text)
            assert not named, f"{path.relative_to(ROOT)} names {named}"
