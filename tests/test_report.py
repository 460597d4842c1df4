"""The score table and the Gradescope results file."""

from __future__ import annotations

from labkit import report
from labkit.report import CheckResult

RESULTS = [
    CheckResult("cv1_mnist_intro", "structure", "Layer types", 2, True),
    CheckResult("cv1_mnist_intro", "shapes", "Output shapes", 1, False, "Expected (None, 784)"),
    CheckResult("cv3_mnist_cnn", "params", "Parameter count", 1, False, "not submitted"),
]


def test_table_shows_points_and_what_to_fix():
    table = report.table(RESULTS)
    assert "cv1_mnist_intro  MNIST intro: a dense network" in table
    assert "PASS  structure" in table and "2/2" in table
    assert "FAIL  shapes" in table and "0/1" in table
    assert "        Expected (None, 784)" in table
    assert table.splitlines()[-1].startswith("Total") and table.endswith("2/4")


def test_results_json_sums_scores():
    results = report.results_json(RESULTS, seconds=12.34)
    assert (results["score"], results["max_score"], results["execution_time"]) == (2, 4, 12.3)
    assert results["tests"][1] == {
        "name": "cv1_mnist_intro: Output shapes",
        "score": 0.0,
        "max_score": 1,
        "status": "failed",
        "output": "Expected (None, 784)",
        "tags": ["cv1_mnist_intro", "shapes"],
    }
