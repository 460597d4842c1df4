"""The class summary: per-lab scores, the class's mistakes by cause, who could not be graded."""

from __future__ import annotations

import re

import browser
from conftest import COURSE
from pagedata import LABS, LOGITS, LOGITS_HINT, POOLING, RESULTS, ROWS, SCALE

from labkit.report import checkresults, feedback, gradebook, summary


def test_a_lab_not_handed_in_is_no_score_of_zero():
    cv3, cv4 = summary.lab_scores(RESULTS, LABS)
    # cv3: ann and ben lose structure, shapes and params (4 of 9); dan could not be graded.
    assert (cv3.submitted, cv3.ungraded, cv3.not_submitted) == (4, 1, 0)
    assert sorted(cv3.scores) == [5, 5, 9]
    assert (cv3.full_marks, cv3.median, cv3.max_points) == (1, 5, 9)
    # cv4: ben handed nothing in, so the median is of ann, cat and dan alone.
    assert (cv4.submitted, cv4.not_submitted) == (3, 1)
    assert sorted(cv4.scores) == [6, 7, 9]
    assert (cv4.full_marks, cv4.median) == (1, 7)


def test_mistakes_are_counted_by_cause_once_per_student_with_their_consequences():
    found = summary.mistakes(RESULTS, LABS)
    assert [(m.lab, m.cause, sorted(m.students)) for m in found] == [
        ("cv3_mnist_cnn", POOLING, ["ann", "ben"]),
        ("cv4_cifar_cnn", LOGITS, ["ann", "cat"]),
        ("cv4_cifar_cnn", SCALE, ["cat"]),
    ]
    pooling = found[0]
    assert pooling.categories == ["structure", "shapes", "params"]
    assert len(pooling.hints) == 2  # ben's hint was worded otherwise: both are kept
    assert found[1].hints == {LOGITS_HINT: ["ann", "cat"]}


def test_the_page_leads_with_the_counts_the_command_prints(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for student, checks in RESULTS.items():
        checkresults.write_results(results / f"{student}.json", checks, 1.0)
    path = tmp_path / "summary.html"
    (results / "eve.json").write_text("{ damaged")  # an error row's file is never read
    summary.write(path, ROWS, results, COURSE, LABS)
    page = path.read_text(encoding="utf-8")
    line = gradebook.counts_line(ROWS)
    assert line == "5 submissions: 2 graded, 1 partial, 1 could not grade, 1 error"
    assert f"<p>{line}.</p>" in page
    labs = page[page.index("<h2>Labs") : page.index("<h2>Mistakes")]
    assert "4 of 4 (1 not fully graded)" in labs and "3 of 4" in labs
    assert 'title="2 students scored 5"' in labs
    mistakes = page[page.index("<h2>Mistakes") : page.index("<h2>Could not be graded")]
    assert mistakes.index(POOLING) < mistakes.index(LOGITS) < mistakes.index(SCALE)
    assert NOT_COUNTED.search(mistakes) is None
    who = page[page.index("<h2>Could not be graded") : page.index("slowest submissions")]
    assert "<td>dan</td>" in who and "eve.zip cannot be read" in who and "<td>ann</td>" not in who


# Neither a lab not handed in nor a check blocked by a fault is a mistake of its own.
NOT_COUNTED = re.compile(r"not submitted|blocked")


@browser.needs_browser
def test_the_pages_of_a_class_with_every_kind_of_row_read_on_a_laptop(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    pages = {"class-summary": tmp_path / "summary.html"}
    for student, checks in RESULTS.items():
        checkresults.write_results(results / f"{student}.json", checks, 1.0)
        if student == "cat":  # laid out as ann's page is: one browser run less
            continue
        page = pages[f"class-feedback-{student}"] = tmp_path / f"{student}.html"
        data = checkresults.results_json(checks, 1.0)
        page.write_text(feedback.page(student, data, tmp_path, COURSE))
    summary.write(pages["class-summary"], ROWS, results, COURSE, LABS)
    for name, page in pages.items():
        seen = browser.look(page, name)
        assert seen.width == browser.WIDTH and seen.errors == []
        assert seen.scroll_width <= seen.width, f"{name} scrolls sideways"
        assert not browser.is_blank(seen.screenshot)


def test_a_damaged_results_file_costs_only_its_own_student(tmp_path):
    for student, checks in RESULTS.items():
        checkresults.write_results(tmp_path / f"{student}.json", checks, 1.0)
    (tmp_path / "ann.json").write_text('{"tests": [{"name": "cut off')
    found = summary.read_results(ROWS, tmp_path)
    assert sorted(found) == ["ben", "cat", "dan"]
