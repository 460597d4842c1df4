"""A grading run's results: one verdict per check, and the results file CI reads.

The file is Gradescope's format; the other readers' formats (the score table, JUnit) are
built from the same ``CheckResult`` list in their own modules.

Usage: ``write_results(path, results, seconds)``; ``results_from_json(data)`` reads it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCKED = "blocked: "  # how a check that failed for a cause shown above begins its message
CAUSES = "causes"  # the key of a failed check's causes in its extra_data in the results file
COULD_NOT_GRADE = "could not grade"  # a check the grader could not judge: its tag and status
NOT_SUBMITTED = "not submitted"  # how the submission check of a lab not handed in begins
UNGRADED_MARK = "----"  # in the table, where PASS or FAIL would be


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one lab."""

    lab: str
    category: str
    description: str
    max_points: float
    passed: bool
    message: str = ""
    hidden: bool = False  # shown to students only once grades are published
    # The grader could not judge this check, for a reason that is not the submission's:
    # it scores nothing for now and is to be graded again.
    ungraded: bool = False
    # The short names of the faults it failed for, the same for every student who makes
    # them: a check blocked by a fault shown above names that fault. The class summary
    # counts them, and the feedback page lists each fault's blocked checks under it.
    causes: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        """It failed for a fault that an earlier check of its lab shows."""
        return not self.passed and self.message.startswith(BLOCKED)

    @property
    def points(self) -> float:
        return self.max_points if self.passed else 0.0

    @property
    def mark(self) -> str:
        if self.ungraded:
            return UNGRADED_MARK
        return "PASS" if self.passed else "FAIL"


def ungraded(results: Sequence[CheckResult]) -> list[CheckResult]:
    """The checks the grader could not judge: the ones to grade again."""
    return [result for result in results if result.ungraded]


def ungraded_line(count: int) -> str:
    """What the verdict says when the grader could not judge ``count`` checks."""
    checks = "1 check" if count == 1 else f"{count} checks"
    return (
        f"The grader could not grade {checks}: a problem with the grader, not with your code. "
        "Grade again, and if it stays, tell your instructor."
    )


def results_json(results: Sequence[CheckResult], seconds: float) -> dict[str, Any]:
    """Results in Gradescope's format: score, max_score, execution_time and one entry per check.

    Checks the grader could not judge score 0 and carry the tag ``could not grade``; the
    top-level ``output`` then says that the score is incomplete, and ``extra_data`` lists them.
    """
    found = {
        "score": total(results, "points"),
        "max_score": total(results, "max_points"),
        "execution_time": round(seconds, 1),
        "tests": [_test_json(result) for result in results],
    }
    missing = ungraded(results)
    if missing:
        found["output"] = ungraded_line(len(missing))
        found["extra_data"] = {
            COULD_NOT_GRADE: [f"{result.lab}: {result.description}" for result in missing]
        }
    return found


def _test_json(result: CheckResult) -> dict[str, Any]:
    test = {
        "name": f"{result.lab}: {result.description}",
        "score": result.points,
        "max_score": result.max_points,
        "status": "passed" if result.passed else "failed",
        "output": result.message,
        "tags": [result.lab, result.category, *([COULD_NOT_GRADE] if result.ungraded else [])],
    }
    if result.hidden:
        test["visibility"] = "after_published"
    if result.causes:
        test["extra_data"] = {CAUSES: list(result.causes)}
    return test


def results_from_json(results: dict[str, Any]) -> list[CheckResult]:
    """Read back what ``results_json`` wrote."""
    return [
        CheckResult(
            lab=test["tags"][0],
            category=test["tags"][1],
            description=test["name"].split(": ", 1)[-1],
            max_points=test["max_score"],
            passed=test["status"] == "passed",
            message=test["output"],
            hidden=test.get("visibility") == "after_published",
            ungraded=COULD_NOT_GRADE in test["tags"][2:],
            causes=tuple(test.get("extra_data", {}).get(CAUSES, ())),
        )
        for test in results["tests"]
    ]


def write_results(path: Path, results: Sequence[CheckResult], seconds: float) -> None:
    """Write the results file whole or not at all: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results_json(results, seconds))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` whole or not at all, replacing what was there."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(partial, path)


@dataclass(frozen=True)
class Fault:
    """A failed check that tells its fault, and the later checks of its lab it blocks."""

    check: CheckResult
    blocked: tuple[CheckResult, ...] = ()

    @property
    def points_lost(self) -> float:
        return total([self.check, *self.blocked], "max_points")


def faults(results: Sequence[CheckResult]) -> list[Fault]:
    """The faults of one lab's checks in the order they were found, each with the checks
    that failed only for it; passed and ungraded checks are left out."""
    found: list[Fault] = []
    for result in results:
        if result.passed or result.ungraded:
            continue
        owner = next(
            (
                index
                for index, fault in enumerate(found)
                if result.blocked and result.causes and result.causes[0] in fault.check.causes
            ),
            None,
        )
        if owner is None:
            found.append(Fault(result))
        else:
            fault = found[owner]
            found[owner] = Fault(fault.check, (*fault.blocked, result))
    return found


def not_submitted(results: Sequence[CheckResult]) -> bool:
    """One lab's checks say that the lab was not handed in."""
    return any(
        result.category == "submission" and result.message.startswith(NOT_SUBMITTED)
        for result in results
    )


def labs_in_order(results: Sequence[CheckResult]) -> list[str]:
    return list(dict.fromkeys(result.lab for result in results))


def score_text(results: Sequence[CheckResult]) -> str:
    return f"{points_text(total(results, 'points'))}/{points_text(total(results, 'max_points'))}"


def total(results: Sequence[CheckResult], field: str) -> float:
    return float(sum(getattr(result, field) for result in results))


def points_text(value: float) -> str:
    return f"{value:g}"
