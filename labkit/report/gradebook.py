"""The class's gradebook: one CSV row per student, that spreadsheets and LMS imports read.

Columns: ``student``, one score per lab, ``total``, ``max_score``, ``status`` (graded,
partial, could not grade or error), ``reason``, ``seconds`` and ``grading`` (re-judged when
every lab judged a kept harvest and no code of the submission ran, else graded afresh). The
file is UTF-8 with a byte-order mark, so that Excel reads names in any script; text that a
spreadsheet would run as a formula is quoted with a leading apostrophe.

Usage: ``gradebook.write(Path("out/gradebook.csv"), rows, ["my_lab"])``
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.report.checkresults import COULD_NOT_GRADE
from labkit.report.files import write_atomically

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UNGRADED = COULD_NOT_GRADE  # the grader failed on part of it: grade it again
STATUSES = ("graded", "partial", UNGRADED, "error")
FINAL = ("graded", "partial")  # a row a rerun may keep; any other is graded again
REJUDGED, AFRESH = "re-judged", "graded afresh"  # how a graded row was graded


@dataclass(frozen=True)
class Row:
    """One student's line in the gradebook."""

    student: str
    scores: dict[str, float]  # by lab; a lab not graded is missing
    total: float
    max_score: float
    status: str  # one of STATUSES
    reason: str
    seconds: float
    grading: str = ""  # REJUDGED or AFRESH; '' for an error row


def write(path: Path, rows: Sequence[Row], labs: Sequence[str]) -> None:
    """Write the gradebook whole, replacing any earlier one only once it is complete."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    header = ["student", *labs, "total", "max_score", "status", "reason", "seconds"]
    writer.writerow([*header, "grading"])
    for row in rows:
        scores = [number(row.scores[lab]) if lab in row.scores else "" for lab in labs]
        writer.writerow(
            [
                _text(row.student),
                *scores,
                number(row.total),
                number(row.max_score),
                row.status,
                _text(row.reason),
                f"{row.seconds:.1f}",
                row.grading,
            ]
        )
    write_atomically(path, lambda file: file.write(text.getvalue().encode("utf-8-sig")))


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def number(value: float) -> str:
    """A score as the gradebook and the LMS exports write it: 3, not 3.0; 2.5."""
    return f"{value:g}"


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def status_counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many rows have each status, in the order of ``STATUSES``."""
    return {status: sum(row.status == status for row in rows) for status in STATUSES}


def counts_line(rows: Sequence[Row]) -> str:
    """'12 submissions: 9 graded, 2 partial, 0 could not grade, 1 error': what the command's
    last lines and the class summary both say, so that they never disagree."""
    counts = status_counts(rows)
    return f"{len(rows)} submissions: " + ", ".join(
        f"{count} {status}" for status, count in counts.items()
    )
