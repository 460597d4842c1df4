"""The feedback page: one self-contained HTML page per student, read from the top down.

Each lab leads with its first fault, the hint for it and the other checks it costs, then
the rest of the lab in a section that opens on a click; a lab passed in full says so in a
line. Labs not handed in are one line each, at the end. Each lab also shows the grader's
own training run of the student's model (loss and test accuracy per epoch), its confusion
matrix on the test subset, and the figures their code drew; a figure of values the grader
made up says so in its caption. Plots are drawn with matplotlib (``plots``) and embedded; every text
that came from a submission is escaped.

Usage: ``html = feedback.page("smithj", results, Path("out/artifacts/smithj"), course)``
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from labkit.report import artifacts, checkresults, pages, scoretable
from labkit.report.checkresults import CheckResult, Fault, points_text, score_text
from labkit.report.plots import Plots
from labkit.spec.course import Course
from labkit.spec.lab import FIGURE, Lab, Value


def page(
    student: str,
    results: dict[str, Any],
    folder: Path,
    course: Course,
    plots: Plots | None = None,
) -> str:
    """The feedback page for one student's results and the artifacts kept in ``folder``;
    ``plots`` draws the training runs' plots, or finds them drawn already."""
    plots = plots or Plots()
    checks = checkresults.results_from_json(results)
    titles = {name: lab.title for name, lab in course.labs.items()}
    labs = {
        name: [c for c in checks if c.lab == name] for name in checkresults.labs_in_order(checks)
    }
    missing = {name for name, mine in labs.items() if checkresults.not_submitted(mine)}
    handed_in = [check for name, mine in labs.items() if name not in missing for check in mine]
    # What to fix in the labs handed in; the labs not handed in are listed at the end.
    verdict = f" {scoretable.verdict(handed_in)}" if handed_in else ""
    parts = [
        f"<h1>Feedback for {escape(student)}</h1>",
        f"<p>Score: {results['score']:g} of {results['max_score']:g}.{escape(verdict)}</p>",
    ]
    for name, mine in labs.items():
        if name in missing:
            continue
        title = f"{name} {titles.get(name, '')}".strip()
        parts.append(
            f'<section><h2>{escape(title)} <span class="score">{score_text(mine)}</span></h2>'
        )
        parts.extend(lab_checks(mine))
        parts.extend(_figures(folder / name, course.labs.get(name), plots))
        parts.append("</section>")
    if missing:
        parts.append("<h2>Not handed in</h2><ul>")
        parts.extend(
            f"<li><strong>{escape(name)} {escape(titles.get(name, ''))}</strong>: 0 of "
            f"{points_text(_points(labs[name]))} points. "
            f"{escape(_submission_message(labs[name]))}</li>"
            for name in labs
            if name in missing
        )
        parts.append("</ul>")
    return pages.document(f"Feedback: {student}", parts)


def lab_checks(checks: Sequence[CheckResult]) -> list[str]:
    """One lab's checks: what the grader could not grade, the first fault with its hint,
    then the rest, folded."""
    parts = []
    ungraded = checkresults.ungraded(checks)
    if ungraded:
        parts.append(
            f'<div class="notice"><p>{escape(checkresults.ungraded_line(len(ungraded)))}</p>'
            + "".join(_check_line(check) for check in ungraded)
            + "</div>"
        )
    found = checkresults.faults(checks)
    passed = [check for check in checks if check.passed]
    if found:
        parts.append(f'<div class="first">{_fault(found[0], "First to fix")}</div>')
    elif not ungraded:
        parts.append(f'<p class="pass">All {len(checks)} checks passed.</p>')
    rest = [_fault(fault, "Also to fix") for fault in found[1:]]
    if rest or passed:
        counts = []
        if rest:
            counts.append(f"{len(rest)} more to fix")
        if passed:
            counts.append(f"{len(passed)} passed")
        lead = "The rest" if found or ungraded else "The checks"
        parts.append(
            f"<details><summary>{lead}: {', '.join(counts)}</summary>"
            + "".join(rest)
            + "".join(_check_line(check) for check in passed)
            + "</details>"
        )
    return parts


def _fault(fault: Fault, lead: str) -> str:
    check = fault.check
    html = (
        f"<p><strong>{escape(lead)}: {_described(check)}</strong> "
        f'<span class="muted">({escape(check.category)}, '
        f"{_points_word(check.max_points)})</span></p>"
        f'<p class="hint">{pages.lines(check.message)}</p>'
    )
    if fault.blocked:
        costs = "".join(
            f"<li>{_described(blocked)} "
            f"({escape(blocked.category)}, {_points_word(blocked.max_points)})</li>"
            for blocked in fault.blocked
        )
        html += (
            f'<div class="muted">It also fails these checks, {_points_word(fault.points_lost)} '
            f"in all, back once it is fixed:<ul>{costs}</ul></div>"
        )
    return html


def _points_word(points: float) -> str:
    return f"{points_text(points)} point{'' if points == 1 else 's'}"


def _check_line(check: CheckResult) -> str:
    mark = {"PASS": "pass", "FAIL": "fail"}.get(check.mark, "ungraded")
    note = f' <span class="muted">{pages.lines(check.message)}</span>' if check.message else ""
    return (
        f'<p><span class="{mark}">{check.mark}</span> {_described(check)} '
        f"({points_text(check.points)}/{points_text(check.max_points)}){note}</p>"
    )


def _described(check: CheckResult) -> str:
    return escape(check.description) + (" (hidden)" if check.hidden else "")


def _points(checks: Sequence[CheckResult]) -> float:
    return checkresults.total(checks, "max_points")


def _submission_message(checks: Sequence[CheckResult]) -> str:
    said = next(check.message for check in checks if check.category == "submission")
    return said[len(checkresults.NOT_SUBMITTED) :].lstrip(": ").capitalize()


def _figures(folder: Path, lab: Lab | None, plots: Plots) -> list[str]:
    """The grader's training run, its confusion matrix and the student's figures."""
    found = artifacts.load(folder)
    figures = []
    training = found["training"]
    if training is not None and training.losses:
        curve = plots.training_curve(training.losses, training.accuracies)
        figures.append(pages.figure(curve, "The grader's training run of your model"))
    if training is not None and training.confusion:
        names = lab.class_names if lab and lab.class_names else None
        matrix = plots.confusion(training.confusion, names)
        figures.append(pages.figure(matrix, "Confusion matrix on the test set"))
    made_up = _made_up_figures(lab) if lab else set()
    for picture_name, path in found["pictures"].items():
        figures.append(pages.figure(path.read_bytes(), _picture_caption(picture_name, made_up)))
    return figures


def _made_up_figures(lab: Lab) -> set[str]:
    """The figure functions the grader calls with fixed values alone, none of them the student's."""
    return {
        function.name
        for function in lab.api
        if function.returns == FIGURE
        and function.args
        and all(isinstance(arg, Value) for arg in function.args)
    }


def _picture_caption(function: str, made_up: set[str]) -> str:
    # A student would otherwise read made-up curves as their own model's training.
    if function in made_up:
        return (
            f"Your {function}() figure, drawn from made-up data the grader passed in, "
            "not from your training"
        )
    return f"Your {function}() figure"
