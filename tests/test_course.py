"""A course's labs come from its graders: each grader module declares one LAB."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import COURSE, ROOT

from labkit.judge.grader import BUILD_MODEL, COMPILE_MODEL, PREPROCESS
from labkit.spec.course import COURSE_ENV, Course, CourseError, labs_table
from labkit.spec.lab import NAMES, Data, Function, Lab, Layer, Result, Training

# The course's labs, one per grader file: a lab added to graders/ is one more here.
LABS = sorted(path.stem.removeprefix("test_") for path in (ROOT / "graders").glob("test_*.py"))
DECLARATION = """
from labkit.judge.grader import BUILD_MODEL, COMPILE_MODEL, PREPROCESS, ModelChecks
from labkit.spec.lab import OUTPUT, Lab, Layer, Training

LAB = Lab(
    name={name!r},
    title="A lab",
    dataset="mnist",
    input_shape=(28, 28),
    layers=(Layer("Flatten", (784,), 0), Layer("Dense", (10,), 7_850, OUTPUT)),
    training=Training(train_size=100, test_size=100, epochs=1, min_accuracy=0.5),
    api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL),
)


class TestLab(ModelChecks):
    pass
"""


def course_with(tmp_path: Path, files: dict[str, str]) -> Course:
    (tmp_path / "graders").mkdir()
    for name, text in files.items():
        (tmp_path / "graders" / name).write_text(text)
    return Course(tmp_path)


def test_the_course_labs_are_found_in_file_order():
    assert list(COURSE.labs) == LABS
    assert COURSE.lab("cv4_cifar_cnn").dataset.name == "cifar10"


def test_a_grader_is_named_after_its_lab(tmp_path):
    course = course_with(tmp_path, {"test_other.py": DECLARATION.format(name="mine")})
    with pytest.raises(CourseError, match=r"name the file test_mine\.py"):
        course.labs  # noqa: B018


def test_a_test_module_without_a_lab_is_no_lab(tmp_path):
    course = course_with(
        tmp_path,
        {"test_mine.py": DECLARATION.format(name="mine"), "test_helpers.py": "X = 1\n"},
    )
    assert list(course.labs) == ["mine"]


def test_a_grader_that_does_not_import_says_so(tmp_path):
    course = course_with(tmp_path, {"test_mine.py": "LAB = (\n"})
    with pytest.raises(CourseError, match=r"test_mine\.py does not import: SyntaxError"):
        course.labs  # noqa: B018


def test_an_unknown_lab_lists_the_labs_there_are():
    with pytest.raises(CourseError, match="unknown lab 'cv9': choose one of " + ", ".join(LABS)):
        COURSE.lab("cv9")


def test_the_course_comes_from_the_environment(monkeypatch, tmp_path):
    course_with(tmp_path, {"test_mine.py": DECLARATION.format(name="mine")})
    monkeypatch.setenv(COURSE_ENV, str(tmp_path))
    assert list(Course.find().labs) == ["mine"]
    monkeypatch.setenv(COURSE_ENV, str(tmp_path / "graders"))
    with pytest.raises(CourseError, match="has no graders/ folder"):
        Course.find()


def test_checks_and_their_points_come_from_the_grader():
    points = {lab: sum(check.points for check in COURSE.checks(lab)) for lab in LABS}
    sample_labs = {  # labs added beside these are found too, without a change here
        "cv1_mnist_intro": 11,
        "cv2_fashion_mnist_intro": 13,
        "cv3_mnist_cnn": 11,
        "cv4_cifar_cnn": 14,
    }
    assert {lab: points[lab] for lab in sample_labs} == sample_labs
    hidden = [check.name for check in COURSE.checks("cv1_mnist_intro") if check.hidden]
    assert hidden == ["holdout_accuracy"]
    names = [check.name for check in COURSE.checks("cv4_cifar_cnn")]
    assert {"submission", "structure", "sample_grid", "history_plot"} <= set(names)


def test_the_readme_shows_the_labs_as_declared():
    """`labkit labs` prints the table; the README must carry the current one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert labs_table(COURSE) in readme


def lab(**changes) -> Lab:
    declared = {
        "name": "mine",
        "title": "A lab",
        "dataset": "mnist",
        "input_shape": (28, 28),
        "layers": (Layer("Flatten", (784,), 0),),
        "training": Training(100, 100, 1, 0.5),
        "api": (PREPROCESS, BUILD_MODEL, COMPILE_MODEL),
    }
    return Lab(**{**declared, **changes})


def test_a_declaration_with_a_mistake_is_refused():
    with pytest.raises(ValueError, match="must be declared before it"):
        lab(api=(PREPROCESS, COMPILE_MODEL, BUILD_MODEL))
    with pytest.raises(ValueError, match="needs the lab's class_names"):
        lab(api=(Function("LABELS", (), NAMES, constant=True),))
    with pytest.raises(ValueError, match="choose one of x_train, y_train, x_test, y_test"):
        Data("train_images", 5)
    with pytest.raises(ValueError, match="returns 'picture'"):
        Function("draw", (), "picture")


def test_what_a_function_needs_follows_its_arguments():
    names = Function("LABELS", (), NAMES, constant=True)
    plot = Function("plot", (Result("LABELS"), Result("build_model")), "figure")
    declared = lab(api=(BUILD_MODEL, names, plot), class_names=("a", "b"))
    assert declared.needs("plot") == ("build_model",)  # class names have a stand-in
    assert declared.api_names == ("build_model", "plot", "LABELS")
