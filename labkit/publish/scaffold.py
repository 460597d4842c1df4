"""Start a course or a lab from labkit's starter: the four files of a lab, ready to change.

``new_course(DIR)`` writes a course folder (``graders/``, ``exercises/``, ``reference/``,
``templates/`` and a README) holding one small working lab, so that the course grades,
builds its handouts, checks itself and releases at once. ``new_lab(course, NAME)`` adds a lab
of the same kind to a course. The files come from ``labkit/publish/starter/``; the author's
TODOs in them say what to change, while the stub's TODOs are what students read.

Usage: ``labkit new-course my-course``, then ``labkit new-lab week2_cnn --course my-course``
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import jinja2

from labkit.spec.course import GRADER_PREFIX, Course

STARTER = ("labkit.publish", "starter")
LAB_FILES = {  # the starter's file -> where it goes, for a lab called LAB
    "lab/graders/test_LAB.py.j2": "graders/" + GRADER_PREFIX + "{lab}.py",
    "lab/exercises/LAB.py.j2": "exercises/{lab}.py",
    "lab/reference/LAB.py.j2": "reference/{lab}.py",
    "lab/templates/LAB.ipynb.j2.j2": "templates/{lab}.ipynb.j2",
}
COURSE_FILES = {"course/README.md.j2": "README.md"}
FIRST_LAB = "digits"
LAB_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ScaffoldError(ValueError):
    """The course or lab cannot be written as asked; the message says what to change."""


def new_course(folder: Path, lab: str = FIRST_LAB) -> list[Path]:
    """Write a course into ``folder`` (new, or empty) with one working lab; returns its files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(
            f"{folder} already exists and is not empty: choose a new folder for the course"
        )
    check_name(lab)
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    written = _write(folder, COURSE_FILES, course=folder.name, lab=lab)
    return written + new_lab(Course(folder), lab)


def new_lab(course: Course, lab: str, title: str | None = None) -> list[Path]:
    """Write the four files of a new lab ``lab`` into ``course``; returns them."""
    check_name(lab)
    targets = {source: target.format(lab=lab) for source, target in LAB_FILES.items()}
    taken = [target for target in targets.values() if (course.root / target).exists()]
    if taken:
        raise ScaffoldError(
            f"the course already has {', '.join(taken)}: choose another name for the new lab"
        )
    return _write(
        course.root,
        targets,
        lab=lab,
        title=title or lab.replace("_", " ").capitalize(),
        classname="".join(part.capitalize() for part in lab.split("_")),
    )


def check_name(lab: str) -> None:
    """Raise ScaffoldError unless ``lab`` can name a lab's module and its grader."""
    if not LAB_NAME.fullmatch(lab) or keyword.iskeyword(lab):
        raise ScaffoldError(
            f"{lab!r} cannot name a lab: use lower-case letters, digits and _, starting with a "
            "letter (it becomes the module exercises/<lab>.py), for example week1_digits"
        )


def _write(root: Path, files: dict[str, str], **values: str) -> list[Path]:
    """Render each starter file with ``values`` into ``root``; returns the files written."""
    # The starter's own placeholders are [[ name ]], so that the Jinja of the notebook
    # templates it writes passes through untouched.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(*STARTER),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    written = []
    for source, target in files.items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(environment.get_template(source).render(**values), encoding="utf-8")
        written.append(path)
    return written
