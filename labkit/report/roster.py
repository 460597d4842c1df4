"""The class roster: who each student of the gradebook is in the learning-management system.

A roster is a CSV file with a header row. ``student`` is required: the id as the gradebook's
``student`` column spells it. The others are optional and name the student for an LMS:
``name``, ``canvas_id``, ``sis_user_id``, ``sis_login_id`` and ``section`` for Canvas, and
``email`` for Moodle. An empty cell means "not known". Spreadsheets may save it with a
byte-order mark; either way it is read as UTF-8.

Usage: ``roster = read(Path("roster.csv")); roster["smithj"].email``
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("student", "name", "canvas_id", "sis_user_id", "sis_login_id", "section", "email")
EXAMPLE = "student,name,canvas_id,sis_user_id,sis_login_id,section,email"


class RosterError(ValueError):
    """The roster cannot be read, with what to change in it."""


@dataclass(frozen=True)
class Person:
    """One student's identities; an empty string where the roster does not say."""

    student: str
    name: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


def read(path: Path) -> dict[str, Person]:
    """The roster at ``path``, by student id, in the file's order."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            lines = list(csv.reader(file))
    except OSError as error:
        raise RosterError(f"cannot read the roster {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise RosterError(
            f"{path} is not a UTF-8 CSV file ({error}): save it as CSV UTF-8"
        ) from None
    if not lines:
        raise RosterError(f"{path} is empty: it needs a header row such as {EXAMPLE}")
    header = [name.strip().lower() for name in lines[0]]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or "student" not in header:
        raise RosterError(
            f"{path}: the header row must name the column 'student' and may name only "
            f"{', '.join(COLUMNS)}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    people: dict[str, Person] = {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, as spreadsheets leave at the end
        if len(cells) != len(header):
            raise RosterError(
                f"{path}, line {number}: {len(cells)} cells for {len(header)} columns"
            )
        person = Person(**{name: cell.strip() for name, cell in zip(header, cells, strict=True)})
        if not person.student:
            raise RosterError(f"{path}, line {number}: the student id is empty")
        if person.student in people:
            raise RosterError(f"{path}, line {number}: {person.student} is listed twice")
        people[person.student] = person
    return people
