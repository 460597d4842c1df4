"""Grading results: the score table students read and the results file CI reads.

Usage: ``print(report.table(results)); report.write_results(path, results, seconds)``
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIDTH = 88
BLOCKED = "blocked: "  # how a check that failed for a cause shown above begins its message
COULD_NOT_GRADE = "could not grade"  # a check the grader could not judge: its tag and status
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

    @property
    def points(self) -> float:
        return self.max_points if self.passed else 0.0

    @property
    def mark(self) -> str:
        if self.ungraded:
            return UNGRADED_MARK
        return "PASS" if self.passed else "FAIL"


def table(
    results: Sequence[CheckResult],
    titles: Mapping[str, str] | None = None,
    hidden_points: Mapping[str, float] | None = None,
) -> str:
    """The score table: a block per lab, a line per check, what to fix under each failure.

    ``titles`` gives each lab's title, shown beside its name; ``hidden_points``, the points
    of each lab's checks that this copy of the graders does not hold.
    """
    lines = []
    for lab_name in _labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        lines.append(_row(f"{lab_name}  {title}", _score(mine)))
        for result in mine:
            hidden = " (hidden)" if result.hidden else ""
            lines.append(
                _row(
                    f"  {result.mark}  {result.category:<10}  {result.description}{hidden}",
                    f"{_points(result.points)}/{_points(result.max_points)}",
                )
            )
            if result.message:
                lines.extend(_wrapped(result.message, indent=" " * 8))
        if (hidden_points or {}).get(lab_name):
            lines.append(hidden_line(hidden_points[lab_name]))
        lines.append("")
    lines.append(_row("Total", _score(results)))
    lines.append(verdict(results))
    return "\n".join(lines)


def hidden_line(points: float) -> str:
    """What a student's table says of the checks their copy of the graders does not hold."""
    unit = "point" if points == 1 else "points"
    return f"  hidden checks: {_points(points)} {unit}, graded after the deadline"


def verdict(results: Sequence[CheckResult]) -> str:
    """One line in the student's terms: what there is to fix, not how many tests errored."""
    ungraded = sum(result.ungraded for result in results)
    if ungraded:
        return ungraded_line(ungraded)
    failed = [result for result in results if not result.passed]
    if not failed:
        return "The check passed." if len(results) == 1 else f"All {len(results)} checks passed."
    blocked = sum(result.message.startswith(BLOCKED) for result in failed)
    faults = len(failed) - blocked
    line = f"{faults} failed {'check' if faults == 1 else 'checks'} to fix first"
    if blocked:
        line += f"; {blocked} more {'is' if blocked == 1 else 'are'} blocked until then"
    return line + "."


def ungraded_line(count: int) -> str:
    """What the verdict says when the grader could not judge ``count`` checks."""
    checks = "1 check" if count == 1 else f"{count} checks"
    return (
        f"The grader could not grade {checks}: a problem with the grader, not with your code. "
        "Grade again, and if it stays, tell your instructor."
    )


def ungraded(results: Sequence[CheckResult]) -> list[CheckResult]:
    """The checks the grader could not judge: the ones to grade again."""
    return [result for result in results if result.ungraded]


def results_json(results: Sequence[CheckResult], seconds: float) -> dict[str, Any]:
    """Results in Gradescope's format: score, max_score, execution_time and one entry per check.

    Checks the grader could not judge score 0 and carry the tag ``could not grade``; the
    top-level ``output`` then says that the score is incomplete, and ``extra_data`` lists them.
    """
    found = {
        "score": _total(results, "points"),
        "max_score": _total(results, "max_points"),
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


def _labs_in_order(results: Sequence[CheckResult]) -> list[str]:
    return list(dict.fromkeys(result.lab for result in results))


def _score(results: Sequence[CheckResult]) -> str:
    return f"{_points(_total(results, 'points'))}/{_points(_total(results, 'max_points'))}"


def _total(results: Sequence[CheckResult], field: str) -> float:
    return float(sum(getattr(result, field) for result in results))


def _points(value: float) -> str:
    return f"{value:g}"


def _row(left: str, right: str) -> str:
    return f"{left:<{WIDTH - len(right) - 1}} {right}"


def _wrapped(message: str, indent: str) -> list[str]:
    lines = []
    for paragraph in message.splitlines():
        lines.extend(
            textwrap.wrap(paragraph, WIDTH, initial_indent=indent, subsequent_indent=indent)
        )
    return lines


def html_table(results: Sequence[CheckResult], titles: Mapping[str, str] | None = None) -> str:
    """The score table as HTML for notebooks, with every text from student code escaped."""
    from html import escape

    rows = []
    for lab_name in _labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        rows.append(
            f'<tr><th colspan="3" style="text-align:left">{escape(lab_name)} {escape(title)}'
            f"</th><th>{_score(mine)}</th></tr>"
        )
        for result in mine:
            colour = {"PASS": "green", "FAIL": "firebrick"}.get(result.mark, "darkorange")
            message = "<br>".join(escape(line) for line in result.message.splitlines())
            rows.append(
                f'<tr><td style="color:{colour}">{result.mark}</td>'
                f"<td>{escape(result.category)}</td>"
                f'<td style="text-align:left">{escape(result.description)}'
                + (" (hidden)" if result.hidden else "")
                + (f"<br><small>{message}</small>" if message else "")
                + f"</td><td>{_points(result.points)}/{_points(result.max_points)}</td></tr>"
            )
    rows.append(
        f'<tr><th colspan="3" style="text-align:left">Total</th><th>{_score(results)}</th></tr>'
    )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def markdown_table(
    results: Sequence[CheckResult],
    titles: Mapping[str, str] | None = None,
    hidden_points: Mapping[str, float] | None = None,
) -> str:
    """The score table in Markdown, for a CI job's summary page."""
    lines = ["| lab | check | result | points | what to fix |", "|---|---|---|---|---|"]
    for lab_name in _labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        lines.append(f"| **{_cell(lab_name)}** | {_cell(title)} | | **{_score(mine)}** | |")
        for result in mine:
            mark = {"PASS": "pass", "FAIL": "**FAIL**"}.get(result.mark, COULD_NOT_GRADE)
            points = f"{_points(result.points)}/{_points(result.max_points)}"
            description = result.description + (" (hidden)" if result.hidden else "")
            lines.append(
                f"| | {_cell(description)} | {mark} | {points} | {_cell(result.message)} |"
            )
        if (hidden_points or {}).get(lab_name):
            lines.append(f"| | {_cell(hidden_line(hidden_points[lab_name]).strip())} | | | |")
    lines.append(f"| **Total** | | | **{_score(results)}** | |")
    return "\n".join(lines) + "\n\n" + verdict(results) + "\n"


def _cell(text: str) -> str:
    from html import escape

    return escape(text).replace("|", "&#124;").replace("\n", "<br>")


def junit_xml(results: Sequence[CheckResult], seconds: float) -> str:
    """One JUnit testcase per check: points and category as properties, the hint on failure."""
    from xml.etree import ElementTree

    errors = len(ungraded(results))
    failures = sum(not result.passed for result in results) - errors
    suites = ElementTree.Element(
        "testsuites", tests=str(len(results)), failures=str(failures), errors=str(errors)
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="labkit",
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{seconds:.1f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=result.lab, name=result.description, time="0"
        )
        properties = ElementTree.SubElement(case, "properties")
        for name, value in (
            ("category", result.category),
            ("points", _points(result.points)),
            ("max_points", _points(result.max_points)),
            ("hidden", str(result.hidden).lower()),
        ):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        if result.ungraded:  # the grader's problem: an error, not the submission's failure
            error = ElementTree.SubElement(case, "error", message=result.message)
            error.text = result.message
        elif not result.passed:
            failure = ElementTree.SubElement(case, "failure", message=result.message)
            failure.text = result.message
        elif result.message:
            ElementTree.SubElement(case, "system-out").text = result.message
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def classroom_results(results: Sequence[CheckResult]) -> dict[str, dict[str, Any]]:
    """Each lab's results in the format of GitHub Classroom's autograding reporter."""
    by_lab = {}
    for lab_name in _labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        by_lab[lab_name] = {
            "version": 1,
            "status": "pass" if all(result.passed for result in mine) else "fail",
            "max_score": _total(mine, "max_points"),
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
