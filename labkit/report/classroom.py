"""Results in the format of GitHub Classroom's autograding reporter, one entry per lab.

Usage: ``for lab, found in classroom_results(results).items(): ...``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labkit.report.checkresults import CheckResult, labs_in_order, total


def classroom_results(results: Sequence[CheckResult]) -> dict[str, dict[str, Any]]:
    """Each lab's results in the format of GitHub Classroom's autograding reporter."""
    by_lab = {}
    for lab_name in labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        by_lab[lab_name] = {
            "version": 1,
            "status": "pass" if all(result.passed for result in mine) else "fail",
            "max_score": total(mine, "max_points"),
            "tests": [
                {
                    "name": f"{result.category}: {result.description}",
                    "status": "pass" if result.passed else "fail",
                    "message": result.message,
                    "score": result.points,
                    "max_score": result.max_points,
                }
                for result in mine
            ],
        }
    return by_lab
