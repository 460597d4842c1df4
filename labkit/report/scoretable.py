"""The score table students read: as text in a terminal, HTML in Jupyter, Markdown in CI.

Usage: ``print(table(results, titles, hidden_points))``
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from html import escape

from labkit.report.checkresults import (
    BLOCKED,
    COULD_NOT_GRADE,
    CheckResult,
    labs_in_order,
    not_submitted,
    points_text,
    score_text,
    ungraded_line,
)

WIDTH = 88


def table(
    results: Sequence[CheckResult],
    titles: Mapping[str, str] | None = None,
    hidden_points: Mapping[str, float] | None = None,
) -> str:
    """The score table: a block per lab, a line per check, what to fix under each failure.

    ``titles`` gives each lab's title, shown beside its name; ``hidden_points``, the points
    of each lab's checks that this copy of the graders does not hold. A lab not handed in
    is its line and what the grader looked for, as on the feedback page.
    """
    lines = []
    for lab_name in labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        lines.append(_row(f"{lab_name}  {title}", score_text(mine)))
        if not_submitted(mine):
            said = next(result.message for result in mine if result.category == "submission")
            lines.extend([*_wrapped(said, indent=" " * 2), ""])
            continue
        for result in mine:
            hidden = " (hidden)" if result.hidden else ""
            lines.append(
                _row(
                    f"  {result.mark}  {result.category:<10}  {result.description}{hidden}",
                    f"{points_text(result.points)}/{points_text(result.max_points)}",
                )
            )
            if result.message:
                lines.extend(_wrapped(result.message, indent=" " * 8))
        if (hidden_points or {}).get(lab_name):
            lines.append(hidden_line(hidden_points[lab_name]))
        lines.append("")
    lines.append(_row("Total", score_text(results)))
    lines.append(verdict(results))
    return "\n".join(lines)


def hidden_line(points: float) -> str:
    """What a student's table says of the checks their copy of the graders does not hold."""
    unit = "point" if points == 1 else "points"
    return f"  hidden checks: {points_text(points)} {unit}, graded after the deadline"


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
    rows = []
    for lab_name in labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        rows.append(
            f'<tr><th colspan="3" style="text-align:left">{escape(lab_name)} {escape(title)}'
            f"</th><th>{score_text(mine)}</th></tr>"
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
                + f"</td><td>{points_text(result.points)}/"
                + f"{points_text(result.max_points)}</td></tr>"
            )
    rows.append(
        f'<tr><th colspan="3" style="text-align:left">Total</th><th>{score_text(results)}</th></tr>'
    )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def markdown_table(
    results: Sequence[CheckResult],
    titles: Mapping[str, str] | None = None,
    hidden_points: Mapping[str, float] | None = None,
) -> str:
    """The score table in Markdown, for a CI job's summary page; a lab not handed in is one
    line, as in ``table``."""
    lines = ["| lab | check | result | points | what to fix |", "|---|---|---|---|---|"]
    for lab_name in labs_in_order(results):
        mine = [result for result in results if result.lab == lab_name]
        title = (titles or {}).get(lab_name, "")
        lines.append(f"| **{_cell(lab_name)}** | {_cell(title)} | | **{score_text(mine)}** | |")
        if not_submitted(mine):  # one line, as in the text table: what the grader looked for
            said = next(result.message for result in mine if result.category == "submission")
            lines.append(f"| | not handed in | | | {_cell(said)} |")
            continue
        for result in mine:
            mark = {"PASS": "pass", "FAIL": "**FAIL**"}.get(result.mark, COULD_NOT_GRADE)
            points = f"{points_text(result.points)}/{points_text(result.max_points)}"
            description = result.description + (" (hidden)" if result.hidden else "")
            lines.append(
                f"| | {_cell(description)} | {mark} | {points} | {_cell(result.message)} |"
            )
        if (hidden_points or {}).get(lab_name):
            lines.append(f"| | {_cell(hidden_line(hidden_points[lab_name]).strip())} | | | |")
    lines.append(f"| **Total** | | | **{score_text(results)}** | |")
    return "\n".join(lines) + "\n\n" + verdict(results) + "\n"


def _cell(text: str) -> str:
    """Text in a Markdown table cell, shown as it is: no HTML, no table break, and no link
    or image (``[text](url)``, ``![alt](url)``) that text from student code could make."""
    return (
        escape(text)
        .replace("|", "&#124;")
        .replace("[", "&#91;")
        .replace("]", "&#93;")
        .replace("\n", "<br>")
    )
