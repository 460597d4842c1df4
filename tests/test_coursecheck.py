"""A course checks itself: declarations against their arithmetic, files, and scores."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COURSE

from labkit.judge.grader import BUILD_MODEL, COMPILE_MODEL, PREPROCESS
from labkit.publish.coursecheck import chain_problems, findings, layer_problems
from labkit.spec.course import Course
from labkit.spec.lab import OUTPUT, Lab, Layer, Training

# input shape, the declared layer (kind, output shape, parameters), what the check says:
# None when the declaration is consistent, else a fragment of the one problem it reports.
LAYERS = [
    ((28, 28), Layer("Flatten", (784,), 0), None),
    ((6, 6, 64), Layer("Flatten", (1600,), 0), "gives 6 x 6 x 64 = 2,304 values; declare (2304,)"),
    ((28, 28), Layer("Flatten", (784,), 10), "has no weights: declare 0 parameters, not 10"),
    ((600,), Layer("Dense", (90,), 54_090), None),
    (
        (600,),
        Layer("Dense", (90,), 54_000),
        "give 54,090 ((600 + 1) x 90), and 54,000 leaves out the 90 biases: declare 54,090",
    ),
    ((600,), Layer("Dense", (90,), 54_100), "give 54,090 ((600 + 1) x 90): declare 54,090"),
    ((5, 5, 64), Layer("Dense", (5, 5, 10), 650), None),
    ((5, 5, 64), Layer("Dense", (10,), 650), "gives (5, 5, 10); declare that, or put a Flatten"),
    ((28, 28, 1), Layer("Conv2D", (26, 26, 32), 320), None),  # 3x3, 'valid'
    ((28, 28, 1), Layer("Conv2D", (28, 28, 32), 320), None),  # 3x3, 'same'
    ((28, 28, 1), Layer("Conv2D", (24, 24, 32), 832), None),  # 5x5, 'valid'
    ((32, 32, 3), Layer("Conv2D", (30, 30, 32), 896), None),
    ((13, 13, 32), Layer("Conv2D", (11, 11, 64), 18_496), None),
    (
        (28, 28, 1),
        Layer("Conv2D", (26, 26, 32), 300),
        "which no square kernel gives: 32 filters at input depth 1 take (k x k x 1 + 1) x 32, "
        "160 for 2x2, 320 for 3x3, 544 for 4x4",
    ),
    (
        (28, 28, 1),
        Layer("Conv2D", (26, 26, 32), 288),
        "the weights of a 3x3 kernel without its 32 biases: declare 320",
    ),
    (
        (28, 28, 1),
        Layer("Conv2D", (24, 24, 32), 320),
        "its 3x3 kernel (the one its 320 parameters give) makes (26, 26, 32) with padding "
        "'valid' or (28, 28, 32) with 'same'",
    ),
    ((28, 28), Layer("Conv2D", (26, 26, 32), 320), "declare three dimensions for both"),
    ((26, 26, 32), Layer("MaxPooling2D", (13, 13, 32), 0), None),
    ((11, 11, 64), Layer("MaxPooling2D", (5, 5, 64), 0), None),  # rounded down
    ((11, 11, 64), Layer("AveragePooling2D", (6, 6, 64), 0), None),  # 'same': rounded up
    ((26, 26, 32), Layer("MaxPooling2D", (12, 12, 32), 0), "the default 2x2 gives (13, 13, 32)"),
    ((26, 26, 32), Layer("MaxPooling2D", (13, 13, 64), 0), "keeps the 32 channels"),
    ((4, 4, 64), Layer("GlobalAveragePooling2D", (64,), 0), None),
    ((4, 4, 64), Layer("GlobalAveragePooling2D", (4, 4, 64), 0), "declare (64,)"),
    ((128,), Layer("Dropout", (128,), 0), None),
    ((128,), Layer("Dropout", (64,), 0), "Dropout keeps its input's shape; declare (128,)"),
    ((26, 26, 32), Layer("BatchNormalization", (26, 26, 32), 128), None),
    ((26, 26, 32), Layer("BatchNormalization", (26, 26, 32), 64), "give 128"),
    ((8, 8), Layer("Rescaling", (3,), 7), None),  # a kind it does not know: skipped
]


@pytest.mark.parametrize(("inputs", "layer", "problem"), LAYERS)
def test_a_layer_is_checked_against_its_arithmetic(inputs, layer, problem):
    found = layer_problems(inputs, layer)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def lab(input_shape: tuple[int, ...], *layers: Layer) -> Lab:
    return Lab(
        name="mine",
        title="A lab",
        dataset="digits",
        input_shape=input_shape,
        layers=layers,
        training=Training(train_size=100, test_size=100, epochs=1, min_accuracy=0.5),
        api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL),
    )


def test_each_layer_takes_the_shape_the_one_before_it_declares():
    # Flatten after (5, 5, 64) gives 1600, not 1024; the Dense after it is consistent with the
    # 1024 declared, so the one slip is reported once, where it is.
    broken = lab(
        (28, 28, 1),
        Layer("Conv2D", (26, 26, 32), 320, "relu"),
        Layer("MaxPooling2D", (13, 13, 32), 0),
        Layer("Conv2D", (11, 11, 64), 18_496, "relu"),
        Layer("MaxPooling2D", (5, 5, 64), 0),
        Layer("Flatten", (1024,), 0),
        Layer("Dense", (64,), 65_600, "relu"),
        Layer("Dense", (10,), 650, OUTPUT),
    )
    problems = chain_problems(broken)
    assert [index for index, _ in problems] == [4]
    assert "Flatten (1024,) after (5, 5, 64)" in problems[0][1]
    assert "declare (1600,)" in problems[0][1]


def test_the_first_layer_takes_the_labs_input_shape():
    (problem,) = chain_problems(lab((28, 28), Layer("Flatten", (28,), 0)))
    assert problem == (
        0,
        "Flatten (28,) after (28, 28): Flatten gives 28 x 28 = 784 values; declare (784,)",
    )


GRADER = '''"""A one-lab course's grader."""

from labkit.judge.grader import BUILD_MODEL, COMPILE_MODEL, PREPROCESS, ModelChecks
from labkit.spec.lab import OUTPUT, Lab, Layer, Training

LAB = Lab(
    name={name!r},
    title="A lab",
    dataset="digits",
    input_shape=(28, 28),
    layers=(
        Layer("Flatten", (784,), 0),
        Layer("Dense", (10,), {params}, OUTPUT),
    ),
    training=Training(train_size=100, test_size=100, epochs=1, min_accuracy=0.5),
    api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL),
)


class TestLab(ModelChecks):
    pass
'''


def course_with(root: Path, grader: str, name: str = "mine", params: str = "7_850") -> Course:
    """A course of one lab, ``mine``, with all four files, declared by ``grader``."""
    for folder in ("graders", "exercises", "reference", "templates"):
        (root / folder).mkdir()
    (root / "graders" / grader).write_text(GRADER.format(name=name, params=params))
    (root / "exercises" / "mine.py").write_text("")
    (root / "reference" / "mine.py").write_text("")
    (root / "templates" / "mine.ipynb.j2").write_text("")
    return Course(root)


def line_of(path: Path, text: str) -> int:
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return number


def declaration_findings(course: Course) -> list[str]:
    return [str(finding) for finding in findings(course, grade=False)]


def test_a_wrong_count_is_reported_at_its_layers_line(tmp_path):
    course = course_with(tmp_path, "test_mine.py", params="7_000")
    line = line_of(course.graders / "test_mine.py", 'Layer("Dense"')
    assert declaration_findings(course) == [
        f"graders/test_mine.py:{line}: Dense (10,) declares 7,000 parameters; 784 inputs and "
        "10 units give 7,850 ((784 + 1) x 10): declare 7,850, or correct the input shape "
        "(784,) it gets"
    ]


def test_a_missing_stub_is_reported_at_the_labs_name(tmp_path):
    course = course_with(tmp_path, "test_mine.py")
    (course.exercises / "mine.py").unlink()
    line = line_of(course.graders / "test_mine.py", "name=")
    assert declaration_findings(course) == [
        f"graders/test_mine.py:{line}: the lab 'mine' has no exercises/mine.py: add it, the "
        "stub students fill in"
    ]


def test_a_lab_named_unlike_its_grader_is_reported_and_checked_all_the_same(tmp_path):
    course = course_with(tmp_path, "test_other.py", params="1")
    name, dense = (line_of(course.graders / "test_other.py", text) for text in ("name=", "Dense"))
    found = declaration_findings(course)
    assert found[0] == (
        f"graders/test_other.py:{name}: the lab is named 'mine': name the file test_mine.py, "
        "or the lab 'other'"
    )
    assert [finding.split(": ")[0] for finding in found[1:]] == [f"graders/test_other.py:{dense}"]


def test_a_grader_that_does_not_import_is_reported_at_the_failing_line(tmp_path):
    course = course_with(tmp_path, "test_mine.py")
    grader = course.graders / "test_mine.py"
    # compile_model takes build_model's result, so it must come after it: Lab refuses this.
    text = grader.read_text()
    grader.write_text(text.replace("BUILD_MODEL, COMPILE_MODEL)", "COMPILE_MODEL, BUILD_MODEL)"))
    assert grader.read_text() != text
    (found,) = declaration_findings(course)
    assert found.startswith(f"graders/test_mine.py:{line_of(grader, 'LAB = Lab(')}: ")
    assert "does not import: ValueError" in found


def test_this_course_and_the_stripes_course_are_consistent(stripes_course):
    assert declaration_findings(COURSE) == []
    assert declaration_findings(Course(stripes_course)) == []


def check_course(course: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", "check-course", "--course", str(course)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_check_course_passes_a_consistent_course(stripes_course):
    finished = check_course(stripes_course)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.splitlines() == [
        "the course is consistent: declarations, files, full marks for the reference and not "
        "for the stubs"
    ]
    assert finished.stderr == ""


def test_check_course_names_the_lab_whose_reference_is_not_full_marks(stripes_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)
    reference = course / "reference" / "stripes.py"
    right = reference.read_text()
    wrong = right.replace("return images[:, :, ::-1]", "return images[:, ::-1, :]")
    assert wrong != right
    reference.write_text(wrong)
    finished = check_course(course)
    assert finished.returncode == 1, finished.stdout + finished.stderr
    problem, verdict = finished.stdout.splitlines()
    assert problem.startswith(
        "reference/stripes.py: the reference of stripes scores 12/13, not full marks "
        "(failed: augment)"
    )
    assert verdict.startswith("the course is not consistent: 1 problem above")


def test_check_course_without_a_course_is_a_usage_error(tmp_path):
    finished = check_course(tmp_path)
    assert finished.returncode == 2
    assert "has no graders/ folder" in finished.stderr
