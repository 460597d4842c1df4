"""End to end: the graders on the reference, the stubs and correct variations, on real data."""

from __future__ import annotations

import pytest
from conftest import COURSE, EXERCISES, GRADERS, REFERENCE, SUBMISSIONS

from labkit.spec.lab import CATEGORIES


def test_reference_scores_full_marks(grade):
    graded = grade(REFERENCE)
    graded.run.assert_outcomes(passed=39)
    assert graded.results["score"] == graded.results["max_score"] == 49
    for name in COURSE.labs:
        assert graded.failed(name) == set()
    assert "labkit scores" in graded.run.stdout.str()


def test_results_file_has_gradescope_fields(grade):
    graded = grade(REFERENCE, "--lab", "cv1_mnist_intro")
    results = graded.results
    assert set(results) == {"score", "max_score", "execution_time", "tests"}
    assert results["execution_time"] > 0
    for test in results["tests"]:
        hidden = {"visibility"} if test["name"].endswith("kept back until the deadline") else set()
        assert set(test) == {"name", "score", "max_score", "status", "output", "tags", *hidden}
        assert test.get("visibility", "after_published") == "after_published"
        assert test["tags"][0] == "cv1_mnist_intro"
        assert test["tags"][1] in CATEGORIES
    accuracy = [t for t in results["tests"] if t["tags"][1] == "accuracy"]
    assert "test accuracy" in accuracy[0]["output"]


def test_untouched_stubs_score_zero_with_their_todos(grade):
    graded = grade(EXERCISES)
    assert graded.results["score"] == 0
    assert graded.results["max_score"] == 49
    for name in COURSE.labs:
        submission = graded.output(name, "submission")
        for function in COURSE.lab(name).functions:
            assert f"{function}() is still a TODO" in submission
    assert "CLASS_NAMES is still a TODO" in graded.output("cv4_cifar_cnn", "submission")
    assert "divide by 255.0" in graded.output("cv3_mnist_cnn", "submission")
    assert graded.output("cv3_mnist_cnn", "preprocess") == "blocked: preprocess() is still a TODO"
    assert "Traceback" not in graded.run.stdout.str()


def test_equivalent_solutions_score_full_marks(grade):
    """Functional or Sequential, tf.keras or keras, activation layers, softmax, float64..."""
    graded = grade(SUBMISSIONS / "equivalent")
    for name in COURSE.labs:
        assert graded.failed(name) == set(), [
            (t["tags"][1], t["output"]) for t in graded.checks(name) if t["status"] == "failed"
        ]


def test_one_lab_file_grades_only_that_lab(grade):
    graded = grade(REFERENCE / "cv3_mnist_cnn.py")
    assert {test["tags"][0] for test in graded.results["tests"]} == {"cv3_mnist_cnn"}
    assert graded.results["score"] == graded.results["max_score"] == 11
    graded.run.assert_outcomes(passed=9)


def test_each_root_cause_is_told_once_per_lab(grade):
    graded = grade(EXERCISES / "cv4_cifar_cnn.py")
    outputs = [test["output"] for test in graded.results["tests"]]
    told = [line for output in outputs for line in output.splitlines()]
    causes = [line for line in told if not line.startswith("blocked: ")]
    assert len(causes) == len(set(causes)) == 6, causes
    assert sum("build_model() is still a TODO" in output for output in outputs) == 8
    assert sum("return keras.Sequential" in output for output in outputs) == 1
    blocked = {test["tags"][1]: test["output"] for test in graded.results["tests"][1:]}
    assert blocked["shapes"] == "blocked: build_model() is still a TODO"
    assert graded.results["score"] == 0


def test_lab_option_limits_grading(grade):
    graded = grade(REFERENCE, "--lab", "cv1_mnist_intro", "--lab", "cv3_mnist_cnn")
    assert {test["tags"][0] for test in graded.results["tests"]} == {
        "cv1_mnist_intro",
        "cv3_mnist_cnn",
    }


def test_grades_are_deterministic(grade):
    first = grade(REFERENCE, "--lab", "cv4_cifar_cnn").results["tests"]
    second = grade(REFERENCE, "--lab", "cv4_cifar_cnn").results["tests"]
    assert [t["output"] for t in first] == [t["output"] for t in second]
    assert any("test accuracy" in t["output"] for t in first)


def test_unknown_lab_is_a_usage_error(pytester):
    outcome = pytester.runpytest(str(GRADERS), "--lab", "cv9")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown lab cv9" in outcome.stderr.str()
