"""Find each student's submission in a class folder, and read it without trusting it.

A class folder holds one entry per student, in any of three layouts:

- a folder of lab modules and/or notebooks: the student id is the folder's name;
- a ``.zip`` of such a folder: the id is the zip's name without ``.zip``;
- loose files named the way learning-management systems download them, the student's id
  first and the lab's file name last (``smithj_12345_67890_my_lab.ipynb``): the id
  is the text before the first underscore.

A submission is read into memory as ``{file name: bytes}``: only lab modules, notebooks and
the ``.py`` helpers beside them, each within a size cap. A zip is read member by member and
never extracted, so a ``..`` path or a link in it can point nowhere. Where a ``.py`` and a
notebook are both given for a lab, the ``.py`` is graded, as ``labkit grade`` does; two loose
files for one lab are an error, since which one the student meant is unknown.

Usage: ``for entry in intake.collect(Path("class"), ["my_lab"]): entry.student, entry.files``
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.intake.submission import MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES, SUFFIXES

# The grader's own caps: a larger module or notebook would not be graded anyway.
MAX_FILE_BYTES = max(MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES)
MAX_FILES = 100
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Entry:
    """One student's submission: its files, or why it cannot be graded."""

    student: str
    files: dict[str, bytes] = field(default_factory=dict)
    problem: str = ""
    notes: tuple[str, ...] = ()  # what was set aside, for the gradebook's reason


def collect(folder: Path, labs: Sequence[str]) -> list[Entry]:
    """Every student's entry in ``folder``, sorted by student id."""
    entries: dict[str, Entry] = {}
    loose: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():
            entries[path.name] = Entry(path.name, problem="a link, not a folder or file")
        elif path.is_dir():
            entries[path.name] = _from_folder(path.name, path, labs)
        elif path.suffix == ".zip":
            entries[path.stem] = _from_zip(path.stem, path, labs)
        elif path.suffix in SUFFIXES and _lab_at_end(path.stem, labs):
            student = path.name.split("_", 1)[0]
            loose.setdefault(student, []).append(path)
    for student, paths in loose.items():
        if student in entries:
            entries[student] = Entry(student, problem="both loose files and a folder or zip")
        else:
            entries[student] = _from_loose(student, paths, labs)
    return [_checked_id(entries[student]) for student in sorted(entries)]


def _checked_id(entry: Entry) -> Entry:
    if SAFE_ID.fullmatch(entry.student) and ".." not in entry.student:
        return entry
    return Entry(
        entry.student,
        problem="the student id is not a safe file name (letters, digits, '.', '_' and '-' "
        "only, at most 64): rename the entry",
    )


def _from_folder(student: str, folder: Path, labs: Sequence[str]) -> Entry:
    files = {}
    for path in sorted(folder.iterdir())[:MAX_FILES]:
        info = path.lstat()
        regular = stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES
        if path.suffix in SUFFIXES and regular:
            files[path.name] = path.read_bytes()
    return _chosen(student, files, labs)


def _from_zip(student: str, path: Path, labs: Sequence[str]) -> Entry:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            unsafe = [m.filename for m in members if _unsafe_member(m)]
            if unsafe:
                return Entry(
                    student,
                    problem=f"the zip holds unsafe paths or links ({', '.join(unsafe[:3])}): "
                    "zip the folder of lab files alone",
                )
            files = {}
            for member in members[: MAX_FILES * 10]:
                name = Path(member.filename).name
                if member.is_dir() or Path(name).suffix not in SUFFIXES or name.startswith("."):
                    continue
                if member.file_size <= MAX_FILE_BYTES and name not in files:
                    files[name] = archive.read(member)
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        return Entry(student, problem=f"the zip cannot be read ({error}): zip the folder again")
    return _chosen(student, files, labs)


def _unsafe_member(member: zipfile.ZipInfo) -> bool:
    name = member.filename.replace("\\", "/")
    is_link = stat.S_ISLNK(member.external_attr >> 16)
    return is_link or name.startswith("/") or ".." in name.split("/") or ":" in name


def _from_loose(student: str, paths: list[Path], labs: Sequence[str]) -> Entry:
    by_lab: dict[str, list[Path]] = {}
    for path in paths:
        by_lab.setdefault(_lab_at_end(path.stem, labs) or "", []).append(path)
    for lab, found in by_lab.items():
        same = [path for path in found if path.suffix == ".py"] or found
        if len(same) > 1:
            names = ", ".join(path.name for path in same)
            return Entry(student, problem=f"two files for {lab} ({names}): hand in one")
    files = {}
    for lab, found in by_lab.items():
        for path in found:
            if path.stat().st_size <= MAX_FILE_BYTES:
                files[f"{lab}{path.suffix}"] = path.read_bytes()
    return _chosen(student, files, labs)


def _chosen(student: str, files: dict[str, bytes], labs: Sequence[str]) -> Entry:
    """The entry, with a notebook set aside where a module of the same lab wins."""
    if not any(Path(name).stem in labs for name in files):
        expected = ", ".join(f"{lab}.py" for lab in labs)
        return Entry(student, problem=f"no lab files: expected any of {expected} (or .ipynb)")
    notes = []
    for lab in labs:
        if f"{lab}.py" in files and f"{lab}.ipynb" in files:
            del files[f"{lab}.ipynb"]
            notes.append(f"{lab}.ipynb set aside for {lab}.py")
    return Entry(student, files, notes=tuple(notes))


def _lab_at_end(stem: str, labs: Sequence[str]) -> str | None:
    """The lab a loose file's name ends with, after an underscore, if any."""
    for lab in sorted(labs, key=len, reverse=True):
        if stem.endswith("_" + lab):
            return lab
    return None
