"""Grades for the LMS: canvas.csv read back the way Canvas's importer reads it, Moodle's file,
the roster's errors, and every student missing from one side or the other reported.

The Canvas reader below follows Canvas's documented import columns (its GradebookImporter):
a header whose first cells are ``Student`` and ``ID``, optionally ``SIS User ID`` and ``SIS
Login ID``, ending the student columns with ``Section``; assignment columns ``Title (id)``;
a row whose first cell holds ``Points Possible``; students found by ``ID``, then the SIS ids,
then the name; a blank grade leaves a score as it is. It is written from that description,
not from labkit's writer.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from labkit import cli
from labkit.report import gradebook, lms, roster
from labkit.report.gradebook import Row
from labkit.spec.course import Course

COURSE = Course.find(None)
LABS = list(COURSE.labs)  # cv1_mnist_intro, cv2_fashion_mnist_intro, cv3_mnist_cnn, cv4_cifar_cnn
ASSIGNMENT_IDS = {
    "cv1_mnist_intro": "101",
    "cv2_fashion_mnist_intro": "102",
    "cv3_mnist_cnn": "103",
}


def canvas_import(path: Path) -> tuple[dict[tuple[str, int | None], str], dict[str, dict]]:
    """Points possible by assignment (title, id), and each student's grades by their key."""
    text = path.read_text(encoding="utf-8")
    head = text.splitlines()[:3]  # Canvas picks the delimiter that splits these evenly
    assert len({len(next(csv.reader([line]))) for line in head}) == 1
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1]
    columns = 3
    if re.match(r"SIS\s+User\s+ID", header[2]) and re.match(r"SIS\s+Login\s+ID", header[3]):
        columns += 2
    assert "Section" in header[columns - 1]
    assignments = []
    for name in header[columns:]:
        titled = re.fullmatch(r"(.*)\s+\((\d+)\)", name)
        assignments.append((titled[1], int(titled[2])) if titled else (name, None))
    points: dict[tuple[str, int | None], str] = {}
    students: dict[str, dict] = {}
    for row in lines[1:]:
        if "Points Possible" in row[0]:
            points = dict(zip(assignments, row[columns:], strict=True))
            continue
        key = row[1] or row[2] or row[3] or row[0]
        grades = {a: cell.strip() for a, cell in zip(assignments, row[columns:], strict=True)}
        students[key] = {"section": row[columns - 1], "grades": grades}
    return points, students


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """A batch's gradebook: a full and a partial grade, an error, a grader fault, a stranger."""
    full = dict(zip(LABS, [11.0, 13.0, 11.0, 14.0], strict=True))
    rows = [
        Row("alice", full, 49, 49, "graded", "", 40.0),
        Row(
            "bob",
            {**full, "cv3_mnist_cnn": 7.5, "cv4_cifar_cnn": 0.0},
            31.5,
            49,
            "partial",
            "not submitted: cv4_cifar_cnn",
            30.0,
        ),
        Row("carol", {}, 0, 0, "error", "the zip cannot be read", 0.0),
        Row(
            "dave",
            {**full, "cv4_cifar_cnn": 0.0},
            35,
            49,
            gradebook.UNGRADED,
            "could not grade: cv4_cifar_cnn: trains",
            50.0,
        ),
        Row("=erin", full, 49, 49, "graded", "", 41.0),
    ]
    gradebook.write(tmp_path / "gradebook.csv", rows, LABS)
    return tmp_path


ROSTER = """student,name,canvas_id,sis_user_id,sis_login_id,section,email
alice,"Smith, Alice",5001,S1,asmith,Lab A,alice@uni.example
bob,Bob Jones,,S2,bjones,Lab B,
carol,Carol Wu,5003,,,Lab A,carol@uni.example
dave,Dave Li,5004,S4,dli,Lab B,dave@uni.example
frank,Frank Ode,5006,S6,fode,Lab A,frank@uni.example
"""


def export(graded: Path, roster_text: str, *options: str) -> int:
    (graded / "roster.csv").write_text(roster_text, encoding="utf-8")
    return cli.main(["export", str(graded), "--roster", str(graded / "roster.csv"), *options])


def test_canvas_reads_back_every_grade_under_its_assignment(graded, capsys):
    ids = [f"--canvas-assignment={lab}={number}" for lab, number in ASSIGNMENT_IDS.items()]
    assert export(graded, ROSTER, *ids) == 0
    points, students = canvas_import(graded / "canvas.csv")
    titles = {lab: COURSE.labs[lab].title for lab in LABS}
    cv1, cv2 = (titles["cv1_mnist_intro"], 101), (titles["cv2_fashion_mnist_intro"], 102)
    cv3 = (titles["cv3_mnist_cnn"], 103)
    cv4 = (titles["cv4_cifar_cnn"], None)  # no id given: Canvas matches it by title
    assert points == {cv1: "11", cv2: "13", cv3: "11", cv4: "14"}
    # An error, a grader fault and a student with no submission have no row: their grades in
    # Canvas stay as they are.
    assert set(students) == {"5001", "S2"}
    assert students["5001"]["grades"] == {
        cv1: "11",
        cv2: "13",
        cv3: "11",
        cv4: "14",
    }
    assert students["5001"]["section"] == "Lab A"
    assert students["S2"]["grades"][cv3] == "7.5"
    assert students["S2"]["grades"][cv4] == "0"  # not submitted is a real 0
    assert "" not in [
        grade for student in students.values() for grade in student["grades"].values()
    ]
    header = (graded / "canvas.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
    assert '"Smith, Alice"' in (graded / "canvas.csv").read_text(encoding="utf-8")


def test_every_missing_student_is_reported_on_screen_and_in_a_file(graded, capsys):
    assert export(graded, ROSTER) == 0
    said = capsys.readouterr().out
    with (graded / lms.MISSING_FILE).open(encoding="utf-8", newline="") as file:
        listed = {(row["student"], row["problem"]) for row in csv.DictReader(file)}
    assert listed == {
        ("=erin", "graded, but not in the roster: no LMS file has this grade"),
        ("frank", "in the roster, but not in the class folder: left out"),
        ("carol", "not graded (error): left out, to be graded again"),
        ("dave", "not graded (could not grade): left out, to be graded again"),
        ("bob", "no email in the roster for Moodle: left out"),
    }
    for student, problem in listed:
        assert f"  {student}: {problem}" in said
    assert f"5 to check, listed in {graded / lms.MISSING_FILE}" in said


def test_moodle_gets_one_identifier_and_one_column_per_lab(graded):
    assert export(graded, ROSTER) == 0
    with (graded / "moodle.csv").open(encoding="utf-8", newline="") as file:
        lines = list(csv.reader(file))
    titles = [COURSE.labs[lab].title for lab in LABS]
    assert lines[0] == ["Email address", *titles]
    assert lines[1] == ["alice@uni.example", "11", "13", "11", "14"]
    assert len(lines) == 2  # bob has no email; carol, dave and frank no final grade


def test_a_roster_without_emails_writes_no_moodle_file(graded):
    (graded / "moodle.csv").write_text("an earlier export")
    assert export(graded, "student,canvas_id\nalice,5001\n") == 0
    assert not (graded / "moodle.csv").exists()
    _, students = canvas_import(graded / "canvas.csv")
    assert set(students) == {"5001"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "is empty: it needs a header row such as student,name"),
        ("id,email\nalice,a@x\n", "must name the column 'student'"),
        ("student,mail\nalice,a@x\n", "unknown: mail"),
        ("student,email\nalice,a@x\nalice,b@x\n", "line 3: alice is listed twice"),
        ("student,email\n,a@x\n", "line 2: the student id is empty"),
        ("student,email\nalice\n", "line 2: 1 cells for 2 columns"),
    ],
)
def test_a_bad_roster_is_a_usage_error_that_says_what_to_fix(graded, capsys, text, said):
    with pytest.raises(SystemExit) as stopped:
        export(graded, text)
    assert stopped.value.code == cli.EXIT_USAGE
    assert said in capsys.readouterr().err


def test_a_spreadsheet_roster_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("Student,Email\r\nalice,alice@uni.example\r\n,\r\n", encoding="utf-8-sig")
    assert roster.read(path) == {"alice": roster.Person("alice", email="alice@uni.example")}


def test_an_unknown_lab_or_id_for_canvas_is_a_usage_error(graded, capsys):
    for option, said in (
        ("--canvas-assignment=cv9=12", "unknown lab 'cv9'"),
        ("--canvas-assignment=cv1_mnist_intro=abc", "is not LAB=ID"),
    ):
        with pytest.raises(SystemExit) as stopped:
            export(graded, ROSTER, option)
        assert stopped.value.code == cli.EXIT_USAGE
        assert said in capsys.readouterr().err
