"""Feedback pages: one self-contained HTML page per student, and a summary for the instructor.

A student's page holds the score table with its hints, then per lab the grader's own
training run of their model (loss and test accuracy per epoch), its confusion matrix on the
test subset, and the figures their code drew; a figure of values the grader made up says so
in its caption. The summary shows the score distribution per lab, every check's pass rate
(the most failed first), and the slowest and errored submissions. Plots are drawn with
matplotlib and embedded as PNG data, so a page is one file to send; every text that came
from a submission is escaped.

Usage: ``html = feedback.page("smithj", results, Path("out/artifacts/smithj"), course)``
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from labkit.report import artifacts, checkresults, scoretable
from labkit.report.gradebook import FINAL, Row
from labkit.spec.course import Course
from labkit.spec.lab import FIGURE, Lab, Value

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; vertical-align: top; text-align: left; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
figure { margin: 1rem 0; } figcaption { color: #555; }
"""
SLOWEST = 10


def page(student: str, results: dict[str, Any], folder: Path, course: Course) -> str:
    """The feedback page for one student's results and the artifacts kept in ``folder``."""
    checks = checkresults.results_from_json(results)
    titles = {name: lab.title for name, lab in course.labs.items()}
    parts = [
        f"<h1>Feedback for {escape(student)}</h1>",
        f"<p>Score: {results['score']:g} of {results['max_score']:g}.</p>",
        scoretable.html_table(checks, titles),
    ]
    for name in dict.fromkeys(check.lab for check in checks):
        found = artifacts.load(folder / name)
        lab = course.labs.get(name)
        figures = []
        training = found["training"]
        if training is not None and training.losses:
            figures.append(
                _figure(_training_curve(training), "The grader's training run of your model")
            )
        if training is not None and training.confusion:
            names = list(lab.class_names) if lab and lab.class_names else None
            figures.append(
                _figure(_confusion(training.confusion, names), "Confusion matrix on the test set")
            )
        made_up = _made_up_figures(lab) if lab else set()
        for picture_name, path in found["pictures"].items():
            figures.append(_figure(path.read_bytes(), _picture_caption(picture_name, made_up)))
        if figures:
            parts.append(f"<h2>{escape(name)} {escape(titles.get(name, ''))}</h2>")
            parts.extend(figures)
    return _document(f"Feedback: {student}", parts)


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


def write_summary(
    path: Path, rows: Sequence[Row], results: Path, course: Course, labs: Sequence[str]
) -> None:
    """The instructor's summary of a batch, written to ``path``."""
    graded = [row for row in rows if row.status in FINAL]
    parts = [
        "<h1>Class summary</h1>",
        f"<p>{len(rows)} submissions: {len(graded)} graded, "
        f"{len(rows) - len(graded)} with errors.</p>",
    ]
    if graded:
        scores = {lab: [row.scores.get(lab, 0.0) for row in graded] for lab in labs}
        parts.append("<h2>Scores per lab</h2>")
        parts.append(_figure(_distribution(scores), "How many students got each score"))
    parts.append("<h2>Checks, most failed first</h2>")
    parts.append(_pass_rates([results / f"{row.student}.json" for row in graded]))
    slowest = sorted(graded, key=lambda row: -row.seconds)[:SLOWEST]
    parts.append("<h2>Slowest submissions</h2>")
    parts.append(
        _table(
            ["student", "seconds", "total"],
            [
                [row.student, f"{row.seconds:.1f}", f"{row.total:g}/{row.max_score:g}"]
                for row in slowest
            ],
        )
    )
    errored = [row for row in rows if row.status not in FINAL]
    parts.append("<h2>To grade again: errors and checks the grader could not grade</h2>")
    parts.append(_table(["student", "reason"], [[row.student, row.reason] for row in errored]))
    path.write_text(_document("Class summary", parts), encoding="utf-8")


def _pass_rates(files: Sequence[Path]) -> str:
    counts: dict[str, list[int]] = {}
    for file in files:
        if not file.is_file():
            continue
        for test in json.loads(file.read_text(encoding="utf-8"))["tests"]:
            passed, total = counts.setdefault(test["name"], [0, 0])
            counts[test["name"]] = [passed + (test["status"] == "passed"), total + 1]
    ordered = sorted(counts.items(), key=lambda item: (item[1][0] / item[1][1], item[0]))
    return _table(
        ["check", "passed", "pass rate"],
        [[name, f"{p}/{t}", f"{p / t:.0%}"] for name, (p, t) in ordered],
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _document(title: str, parts: Sequence[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _training_curve(training: Any) -> bytes:
    plt = _pyplot()
    figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(8, 3))
    epochs = range(1, len(training.losses) + 1)
    loss.plot(epochs, training.losses, marker="o")
    loss.set(xlabel="epoch", ylabel="training loss", title="Loss")
    if training.accuracies:
        accuracy.plot(range(1, len(training.accuracies) + 1), training.accuracies, marker="o")
    accuracy.set(xlabel="epoch", ylabel="test accuracy", title="Accuracy", ylim=(0, 1))
    for ax in (loss, accuracy):
        ax.xaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return _png(figure)


def _confusion(matrix: list[list[int]], names: list[str] | None) -> bytes:
    plt = _pyplot()
    size = len(matrix)
    labels = names or [str(index) for index in range(size)]
    figure, ax = plt.subplots(figsize=(1.5 + 0.5 * size, 1.2 + 0.5 * size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(size), labels, rotation=60, ha="right")
    ax.set_yticks(range(size), labels)
    ax.set(xlabel="predicted", ylabel="true class")
    top = max(max(row) for row in matrix) or 1
    for row in range(size):
        for column in range(size):
            value = matrix[row][column]
            colour = "white" if value > top / 2 else "black"
            ax.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    return _png(figure)


def _distribution(scores: dict[str, list[float]]) -> bytes:
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(scores), figsize=(3 * len(scores), 2.5), squeeze=False)
    for ax, (lab, values) in zip(axes[0], scores.items(), strict=True):
        counts = Counter(values)
        ax.bar(list(counts), list(counts.values()), width=0.8)
        ax.set(title=lab, xlabel="score", ylabel="students")
        ax.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return _png(figure)
