"""The student's feedback page, built from kept artifacts without grading anything."""

from __future__ import annotations

import re
from html import escape

import pagedata
from conftest import COURSE
from PIL import Image

from labkit.report import checkresults, feedback
from labkit.report.checkresults import CheckResult

LAB = "cv4_cifar_cnn"


def test_a_figure_of_the_graders_made_up_history_says_so(tmp_path):
    """plot_history() is called with a fixed Value, plot_samples() with the dataset's images."""
    (tmp_path / LAB).mkdir()
    for function in ("plot_samples", "plot_history"):
        Image.new("RGB", (8, 8), "white").save(tmp_path / LAB / f"{function}.png")
    check = CheckResult(LAB, "plot", "plot_history() plots accuracy", 1, True)
    page = feedback.page("smithj", checkresults.results_json([check], 1.0), tmp_path, COURSE)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == [
        "Your plot_history() figure, drawn from made-up data the grader passed in, "
        "not from your training",
        "Your plot_samples() figure",
    ]


def feedback_page(student: str, tmp_path) -> str:
    results = checkresults.results_json(pagedata.RESULTS[student], 1.0)
    return feedback.page(student, results, tmp_path, COURSE)


def test_a_lab_leads_with_its_first_fault_and_the_checks_it_costs(tmp_path):
    page = feedback_page("ann", tmp_path)
    cv3 = page[page.index("<h2>cv3_mnist_cnn") : page.index("<h2>cv4_cifar_cnn")]
    first = cv3[cv3.index('<div class="first">') : cv3.index("</div>")]
    assert "First to fix: Layer types and activations, in order" in first
    assert escape(pagedata.POOLING_HINT) in first
    costs = first[first.index("It also fails these checks, 4 points in all") :]
    assert re.findall(r"<li>(.*?)</li>", costs) == [
        "Output shape after every layer (shapes, 1 point)",
        "Parameter count (params, 1 point)",
    ]
    # Said once: the blocked checks are not told again, and what passed is folded away.
    assert "blocked:" not in page
    assert "<details><summary>The rest: 4 passed</summary>" in cv3
    assert "5/9" in cv3


def test_a_lab_not_handed_in_is_one_line(tmp_path):
    page = feedback_page("ben", tmp_path)
    assert "<h2>cv4_cifar_cnn" not in page
    missing = page[page.index("<h2>Not handed in</h2>") :]
    assert missing.count("<li>") == 1
    assert "CIFAR" in missing and "0 of 9 points. No cv4_cifar_cnn.py or" in missing
    assert "FAIL" not in page


def test_what_the_grader_could_not_grade_is_said_apart_from_the_faults(tmp_path):
    page = feedback_page("dan", tmp_path)
    cv3 = page[page.index("<h2>cv3_mnist_cnn") : page.index("<h2>cv4_cifar_cnn")]
    assert '<div class="notice"><p>The grader could not grade 1 check' in cv3
    assert "First to fix" not in cv3 and "All 7 checks passed" not in cv3
    cv4 = page[page.index("<h2>cv4_cifar_cnn") :]
    assert "All 7 checks passed." in cv4 and "<summary>The checks: 7 passed</summary>" in cv4
