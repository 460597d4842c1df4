"""The class summary: what an instructor acts on after a batch, on one page.

Per lab: how many handed it in, how many got full marks, the median and the distribution
of the scores of those who handed it in (a lab not handed in is no score of 0 here). Then
the class's mistakes, each counted once per student and grouped by its cause across
students (the short name every check's fault carries, such as "a softmax output with
from_logits=True"), with the hint the students got; a check blocked by a fault is that
fault's consequence, not a mistake of its own. Then who could not be graded and why. The
counts of the first line are those of ``labkit grade-batch``'s last lines.

Usage: ``summary.write(Path("out/summary.html"), rows, Path("out/results"), course, labs)``
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from labkit.report import checkresults, gradebook, pages
from labkit.report.checkresults import CheckResult, points_text
from labkit.report.gradebook import FINAL, Row
from labkit.spec.course import Course

SLOWEST = 10


@dataclass(frozen=True)
class LabScores:
    """One lab across the class: the scores of those who handed it in and were graded."""

    lab: str
    max_points: float
    scores: tuple[float, ...]
    not_submitted: int
    ungraded: int  # handed in, but the grader could not grade some of its checks

    @property
    def submitted(self) -> int:
        return len(self.scores) + self.ungraded

    @property
    def full_marks(self) -> int:
        return sum(score >= self.max_points for score in self.scores)

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None


@dataclass
class Mistake:
    """One cause of failed checks in one lab, and the students whose work has it."""

    lab: str
    cause: str
    categories: list[str] = field(default_factory=list)  # the checks it fails, in order
    hints: dict[str, list[str]] = field(default_factory=dict)  # the hint: students told it

    @property
    def students(self) -> list[str]:
        return [student for told in self.hints.values() for student in told]


def write(
    path: Path, rows: Sequence[Row], results: Path, course: Course, labs: Sequence[str]
) -> None:
    """Write the summary of a batch's gradebook ``rows`` and ``results`` folder to ``path``."""
    path.write_text(page(rows, read_results(rows, results), course, labs), encoding="utf-8")


def read_results(rows: Sequence[Row], folder: Path) -> dict[str, list[CheckResult]]:
    """Each graded student's checks, from the results files a batch wrote."""
    found = {}
    for row in rows:
        file = folder / f"{row.student}.json"
        if row.status == "error" or not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            found[row.student] = checkresults.results_from_json(data)
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue  # a file damaged since: its row still counts, its checks cannot
    return found


def page(
    rows: Sequence[Row],
    results: Mapping[str, Sequence[CheckResult]],
    course: Course,
    labs: Sequence[str],
) -> str:
    """The summary page of a class's gradebook rows and each graded student's checks."""
    titles = {name: lab.title for name, lab in course.labs.items()}
    parts = [
        "<h1>Class summary</h1>",
        f"<p>{escape(gradebook.counts_line(rows))}.</p>",
        "<h2>Labs</h2>",
        _labs_table(lab_scores(results, labs), titles, len(results)),
        "<h2>Mistakes, by how many students made them</h2>",
        _mistakes_table(mistakes(results, labs)),
        "<h2>Could not be graded</h2>",
        _ungraded_table(rows),
    ]
    graded = [row for row in rows if row.status in FINAL]
    slowest = sorted(graded, key=lambda row: -row.seconds)[:SLOWEST]
    parts.append(
        f"<details><summary>The {len(slowest)} slowest submissions</summary>"
        + pages.table(
            ["student", "seconds", "total"],
            [
                [row.student, f"{row.seconds:.1f}", f"{row.total:g}/{row.max_score:g}"]
                for row in slowest
            ],
            numbers=(1, 2),
        )
        + "</details>"
    )
    return pages.document("Class summary", parts)


def lab_scores(
    results: Mapping[str, Sequence[CheckResult]], labs: Sequence[str]
) -> list[LabScores]:
    """Each lab's scores across the students in ``results``."""
    found = []
    for lab in labs:
        scores, not_submitted, ungraded, most = [], 0, 0, 0.0
        for checks in results.values():
            mine = [check for check in checks if check.lab == lab]
            if not mine:
                continue
            most = max(most, checkresults.total(mine, "max_points"))
            if checkresults.not_submitted(mine):
                not_submitted += 1
            elif checkresults.ungraded(mine):
                ungraded += 1
            else:
                scores.append(checkresults.total(mine, "points"))
        found.append(LabScores(lab, most, tuple(scores), not_submitted, ungraded))
    return found


def mistakes(results: Mapping[str, Sequence[CheckResult]], labs: Sequence[str]) -> list[Mistake]:
    """The class's mistakes, most students first; each student counts once per cause."""
    found: dict[tuple[str, str], Mistake] = {}
    for student, checks in results.items():
        for lab in labs:
            mine = [check for check in checks if check.lab == lab]
            if not mine or checkresults.not_submitted(mine):
                continue
            for fault in checkresults.faults(mine):
                if fault.check.blocked:  # its fault is not in these results: not counted
                    continue
                for cause, hint in _causes(fault.check):
                    mistake = found.setdefault((lab, cause), Mistake(lab, cause))
                    if student in mistake.students:
                        continue
                    mistake.hints.setdefault(hint, []).append(student)
                    costs = [b for b in fault.blocked if cause in b.causes]
                    for check in (fault.check, *costs):
                        if check.category not in mistake.categories:
                            mistake.categories.append(check.category)
    order = {lab: index for index, lab in enumerate(labs)}
    return sorted(found.values(), key=lambda m: (-len(m.students), order[m.lab], m.cause))


def _causes(check: CheckResult) -> list[tuple[str, str]]:
    """Each cause a failed check tells, with its own part of the hint where it has one."""
    if not check.causes:  # results written before checks named their causes
        return [(check.message, check.message)]
    said = check.message.splitlines()
    if len(said) == len(check.causes) > 1:  # one line per cause, as the submission check says
        return list(zip(check.causes, said, strict=True))
    return [(cause, check.message) for cause in check.causes]


def _labs_table(scores: Sequence[LabScores], titles: Mapping[str, str], students: int) -> str:
    rows = []
    for lab in scores:
        median = (
            "" if lab.median is None else f"{points_text(lab.median)}/{points_text(lab.max_points)}"
        )
        handed = f"{lab.submitted} of {students}"
        if lab.ungraded:
            handed += f" ({lab.ungraded} not fully graded)"
        rows.append(
            [
                f"<strong>{escape(lab.lab)}</strong><br>"
                f'<span class="muted">{escape(titles.get(lab.lab, ""))}</span>',
                escape(handed),
                str(lab.full_marks),
                escape(median),
                _bars(lab),
            ]
        )
    header = ["lab", "handed in", "full marks", "median", "scores of those who handed it in"]
    return pages.html_table(header, rows, numbers=(2, 3)) if rows else "<p>None.</p>"


def _bars(lab: LabScores) -> str:
    """A histogram of the lab's scores, one bar per point, that reads at any width."""
    if not lab.scores:
        return '<span class="muted">no scores</span>'
    counts = Counter(int(score) for score in lab.scores)
    top = max(counts.values())
    bars = []
    for points in range(int(lab.max_points) + 1):
        count = counts.get(points, 0)
        height = max(1, round(100 * count / top)) if count else 0
        students = "student" if count == 1 else "students"
        bars.append(
            f'<div class="bar" title="{count} {students} scored {points}">'
            f"<span>{count or ''}</span>"
            f'<span class="fill{"" if count else " zero"}" style="height:{height}%"></span>'
            f"<span>{points}</span></div>"
        )
    return f'<div class="bars">{"".join(bars)}</div>'


def _mistakes_table(found: Sequence[Mistake]) -> str:
    rows = []
    for mistake in found:
        wordings = sorted(mistake.hints.items(), key=lambda item: -len(item[1]))
        hint = pages.lines(wordings[0][0])
        if len(wordings) > 1:
            others = "".join(
                f"<p>{escape(', '.join(students))}: {pages.lines(text)}</p>"
                for text, students in wordings[1:]
            )
            hint += (
                f"<details><summary>{len(wordings) - 1} other wording"
                f"{'' if len(wordings) == 2 else 's'}</summary>{others}</details>"
            )
        students = sorted(mistake.students)
        rows.append(
            [
                str(len(students)),
                f"<strong>{escape(mistake.cause)}</strong><br>"
                f'<span class="muted">{escape(mistake.lab)}; fails '
                f"{escape(', '.join(mistake.categories))}</span>"
                f"<details><summary>who</summary>{escape(', '.join(students))}</details>",
                hint,
            ]
        )
    if not rows:
        return "<p>None: every check of every lab handed in passed.</p>"
    return pages.html_table(["students", "mistake", "the hint they got"], rows, numbers=(0,))


def _ungraded_table(rows: Sequence[Row]) -> str:
    again = [row for row in rows if row.status not in FINAL]
    if not again:
        return "<p>None: every submission was graded.</p>"
    return (
        "<p>Run the same command again to grade these; an error row says what to fix.</p>"
        + pages.table(
            ["student", "status", "why"], [[row.student, row.status, row.reason] for row in again]
        )
    )
