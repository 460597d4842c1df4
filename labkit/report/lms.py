"""Grades where they go: the gradebook as Canvas and Moodle import it, through a roster.

Next to ``gradebook.csv`` it writes:

- ``canvas.csv``, in the layout of Canvas's gradebook import: the header ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per lab named ``Title (ID)``
  with the Canvas assignment's id (``Title`` alone where none is given: Canvas then matches an
  assignment of that title, or creates one), and a ``Points Possible`` row below the header;
- ``moodle.csv``, for Moodle's CSV grade import: ``Email address``, the identifier column to
  map, and one column per lab, to map to its grade item;
- ``lms-missing.csv``: every student who is in one list and not the other, or whose grade is
  left out, and why. Nobody is dropped silently.

Each file is written only where the roster has the identities it needs (any of name,
``canvas_id``, ``sis_user_id``, ``sis_login_id`` for Canvas; ``email`` for Moodle). A
student's row holds final grades only (``graded``, ``partial``, every lab's cell filled): a
student without one (no submission, an error, a grader fault) has no row at all, since a
blank cell would clear a grade already in the LMS (Moodle imports it as "no grade") and a 0
would blame the student.

Usage: ``lms.export(Path("graded"), roster, titles, points, {"my_lab": "1234"})``
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.report import gradebook
from labkit.report.files import write_atomically
from labkit.report.roster import Person

CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
MOODLE_IDENTIFIER = "Email address"
MISSING_FILE = "lms-missing.csv"


@dataclass(frozen=True)
class Exported:
    """What an export wrote, and each student it could not carry over, with why."""

    written: list[Path] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (student, problem)


def export(
    folder: Path,
    people: Mapping[str, Person],
    titles: Mapping[str, str],
    points: Mapping[str, float],
    canvas_ids: Mapping[str, str] | None = None,
) -> Exported:
    """Write the LMS files for ``folder/gradebook.csv``; ``titles`` and ``points`` by lab."""
    rows = {_student(row): row for row in gradebook.read(folder / "gradebook.csv")}
    labs = [lab for lab in titles if rows and lab in next(iter(rows.values()))]
    missing = [
        (student, "graded, but not in the roster: no LMS file has this grade")
        for student in rows
        if student not in people
    ]
    missing += [
        (student, "in the roster, but not in the class folder: left out")
        for student in people
        if student not in rows
    ]
    missing += [
        (student, f"not graded ({row['status']}): left out, to be graded again")
        for student, row in rows.items()
        if student in people and row["status"] not in gradebook.FINAL
    ]
    final = {
        student: [row[lab] for lab in labs]
        for student, row in rows.items()
        if row["status"] in gradebook.FINAL
    }
    for name in ("canvas.csv", "moodle.csv"):  # an earlier export's, which may not be redone
        (folder / name).unlink(missing_ok=True)
    written = []
    if any(_in_canvas(person) for person in people.values()):
        ids = canvas_ids or {}
        header = [f"{titles[lab]} ({ids[lab]})" if lab in ids else titles[lab] for lab in labs]
        lines = [
            [*CANVAS_STUDENT_COLUMNS, *header],
            [POINTS_POSSIBLE, "", "", "", "", *(gradebook.number(points[lab]) for lab in labs)],
        ]
        for person in people.values():
            if not _in_canvas(person):
                missing.append((person.student, "no Canvas identity in the roster: left out"))
            elif person.student in final:
                identity = [person.name, person.canvas_id, person.sis_user_id, person.sis_login_id]
                lines.append([*identity, person.section, *final[person.student]])
        written.append(_write(folder / "canvas.csv", lines))
    if any(person.email for person in people.values()):
        lines = [[MOODLE_IDENTIFIER, *(titles[lab] for lab in labs)]]
        for person in people.values():
            if not person.email:
                missing.append((person.student, "no email in the roster for Moodle: left out"))
            elif person.student in final:
                lines.append([person.email, *final[person.student]])
        written.append(_write(folder / "moodle.csv", lines))
    _write(folder / MISSING_FILE, [["student", "problem"], *missing])
    return Exported(written, missing)


def _in_canvas(person: Person) -> bool:
    """Whether Canvas can find the student: by its id, a SIS id or the name, in that order."""
    return any((person.canvas_id, person.sis_user_id, person.sis_login_id, person.name))


def _student(row: Mapping[str, str]) -> str:
    """The student id as the roster spells it: without the quote the gradebook adds to a
    value a spreadsheet would run as a formula."""
    student = row["student"]
    quoted = student.startswith("'") and student[1:].startswith(gradebook.FORMULA_STARTS)
    return student[1:] if quoted else student


def _write(path: Path, lines: Sequence[Sequence[str]]) -> Path:
    """Write a CSV file whole, in plain UTF-8 as both importers read it."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(lines)
    write_atomically(path, lambda file: file.write(text.getvalue().encode("utf-8")))
    return path
