"""The score table and the Gradescope results file."""

from __future__ import annotations

from labkit.report import checkresults, scoretable
from labkit.report.checkresults import CheckResult

RESULTS = [
    CheckResult("cv1_mnist_intro", "structure", "Layer types", 2, True),
    CheckResult("cv1_mnist_intro", "shapes", "Output shapes", 1, False, "Expected (None, 784)"),
    CheckResult("cv3_mnist_cnn", "params", "Parameter count", 1, False, "not submitted"),
]


def test_table_shows_points_and_what_to_fix():
    table = scoretable.table(RESULTS, {"cv1_mnist_intro": "MNIST intro: a dense network"})
    assert "cv1_mnist_intro  MNIST intro: a dense network" in table
    assert "PASS  structure" in table and "2/2" in table
    assert "FAIL  shapes" in table and "0/1" in table
    assert "        Expected (None, 784)" in table
    total, verdict = table.splitlines()[-2:]
    assert total.startswith("Total") and total.endswith("2/4")
    assert verdict == "2 failed checks to fix first."


def test_a_lab_not_handed_in_is_one_line_and_where_the_grader_looked():
    said = "not submitted: no cv3_mnist_cnn.py or cv3_mnist_cnn.ipynb was found"
    missing = [
        CheckResult("cv3_mnist_cnn", "submission", "The module imports", 1, False, said),
        CheckResult(
            "cv3_mnist_cnn", "structure", "Layer types", 2, False, "blocked: not submitted"
        ),
        CheckResult(
            "cv3_mnist_cnn", "params", "Parameter count", 1, False, "blocked: not submitted"
        ),
    ]
    table = scoretable.table([*RESULTS[:2], *missing])
    lab = table[table.index("cv3_mnist_cnn") : table.index("Total")].strip().splitlines()
    assert lab[0].startswith("cv3_mnist_cnn") and lab[0].endswith("0/4")
    assert lab[1:] == [f"  {said}"]
    assert "FAIL  shapes" in table  # the lab handed in keeps its lines


def test_verdict_counts_faults_not_the_checks_they_block():
    blocked = CheckResult("cv1_mnist_intro", "params", "Parameter count", 1, False, "blocked: x")
    assert scoretable.verdict([*RESULTS[:2], blocked, blocked]) == (
        "1 failed check to fix first; 2 more are blocked until then."
    )
    assert scoretable.verdict(RESULTS[:1]) == "The check passed."


def test_results_json_sums_scores():
    results = checkresults.results_json(RESULTS, seconds=12.34)
    assert (results["score"], results["max_score"], results["execution_time"]) == (2, 4, 12.3)
    assert results["tests"][1] == {
        "name": "cv1_mnist_intro: Output shapes",
        "score": 0.0,
        "max_score": 1,
        "status": "failed",
        "output": "Expected (None, 784)",
        "tags": ["cv1_mnist_intro", "shapes"],
    }


def test_the_markdown_summary_makes_no_link_or_image_from_student_text():
    planted = "see [the fix](https://evil.example) ![pixel](https://evil.example/p.png) | x"
    table = scoretable.markdown_table(
        [CheckResult("cv1_mnist_intro", "structure", "Layer types", 2, False, planted)]
    )
    row = next(line for line in table.splitlines() if "Layer types" in line)
    assert "[" not in row and "]" not in row and row.count("|") == 6
    assert "&#91;the fix&#93;(https://evil.example)" in row


def test_a_lab_not_handed_in_is_one_line_of_the_markdown_summary():
    missing = "not submitted: no cv2_fashion_mnist_intro.py or .ipynb was found"
    results = [
        CheckResult("cv1_mnist_intro", "structure", "Layer types", 2, True),
        CheckResult(
            "cv2_fashion_mnist_intro", "submission", "The module imports", 1, False, missing
        ),
        CheckResult("cv2_fashion_mnist_intro", "structure", "Layer types", 2, False, "blocked"),
    ]
    table = scoretable.markdown_table(results)
    cv2 = table[table.index("cv2_fashion_mnist_intro") : table.index("**Total**")]
    assert (
        cv2.count("\n") == 2 and "not handed in" in cv2 and "no cv2_fashion_mnist_intro.py" in cv2
    )
    assert "blocked" not in table and table.count("Layer types") == 1
