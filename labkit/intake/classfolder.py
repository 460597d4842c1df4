"""Find each student's submission in a class folder, and read it without trusting it.

A class folder holds one entry per student, in any of three layouts:

- a folder of lab modules and/or notebooks, or a repository holding them: the student id is
  the folder's name; a lab not at its top is found as ``labkit grade`` finds it
  (``labkit.intake.submission``), ``exercises/`` first, never in the grader's folders;
- a ``.zip`` of such a folder: the id is the zip's name without ``.zip``;
- loose files named the way learning-management systems download them, the student's id
  first and the lab's file name last (``smithj_12345_67890_my_lab.ipynb``): the id
  is the text before the first underscore.

A submission is copied into a staging folder, one folder per student, never into memory:
only lab modules, notebooks and the ``.py`` helpers beside them, each within a size cap, and
at most ``MAX_SUBMISSION_BYTES`` of them in all. A zip is read member by member and never
extracted, so a ``..`` path or a link in it can point nowhere; its directory is checked
first (how many members, how large the lab files unpack), so that a zip bomb is refused
before any member is read. Where a ``.py`` and a notebook are both given for a lab, the
``.py`` is graded, as ``labkit grade`` does; two loose files for one lab are an error, since
which one the student meant is unknown.

Usage::

    for entry in classfolder.collect(Path("class"), ["my_lab"], staging):
        entry.student, entry.problem, entry.files()  # {name: staged path}
"""

from __future__ import annotations

import re
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from labkit.intake import submission
from labkit.intake.submission import MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES, SUFFIXES

# The grader's own caps: a larger module or notebook would not be graded anyway.
MAX_FILE_BYTES = max(MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES)
MAX_FILES = 100
# What one submission's lab files may come to in all: a module and a notebook per lab of a
# course, with their plots, are well under it.
MAX_SUBMISSION_BYTES = 64 * 2**20
# A zip's members, files and folders of any kind: a lab folder, even with its checkpoints
# and caches, holds far fewer.
MAX_ZIP_MEMBERS = 1000
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ZIP_HELP = "zip only the folder of lab files (.py, .ipynb), without data, outputs or caches"
_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")  # a zip's last record: where its directory is


@dataclass(frozen=True)
class Entry:
    """One student's submission: its staged files, or why it cannot be graded."""

    student: str
    folder: Path | None = None  # the staged copy of its files, which only the grader writes
    problem: str = ""
    notes: tuple[str, ...] = ()  # what was set aside, for the gradebook's reason

    def files(self) -> dict[str, Path]:
        """The staged files by name, sorted; none for an entry with a problem."""
        if self.folder is None:
            return {}
        return {path.name: path for path in sorted(self.folder.iterdir())}


@dataclass(frozen=True)
class _Source:
    """A file that may be staged: its size as declared, and how to open it."""

    size: int
    open: Callable[[], IO[bytes]]


def collect(folder: Path, labs: Sequence[str], staging: Path) -> list[Entry]:
    """Every student's entry in ``folder``, sorted by student id, staged into ``staging``."""
    found: dict[str, list[Path]] = {}  # by student id: its folder, zip, link or loose files
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink() or path.is_dir():
            found.setdefault(path.name, []).append(path)
        elif path.suffix == ".zip":
            found.setdefault(path.stem, []).append(path)
        elif path.suffix in SUFFIXES and _lab_at_end(path.stem, labs):
            found.setdefault(path.name.split("_", 1)[0], []).append(path)
    return [_entry(student, found[student], labs, staging) for student in sorted(found)]


def _entry(student: str, paths: list[Path], labs: Sequence[str], staging: Path) -> Entry:
    """One student's entry, its files staged in ``staging/<student>``, never read before its
    id is known to be a safe file name."""
    if not (SAFE_ID.fullmatch(student) and ".." not in student):
        return Entry(
            student,
            problem="the student id is not a safe file name (letters, digits, '.', '_' and '-' "
            "only, at most 64): rename the entry",
        )
    whole = [path for path in paths if path.is_symlink() or path.is_dir() or path.suffix == ".zip"]
    if whole and len(paths) > 1:
        if len(whole) < len(paths):
            return Entry(student, problem="both loose files and a folder or zip")
        names = ", ".join(path.name for path in paths)
        return Entry(student, problem=f"two entries ({names}): keep one")
    target = staging / student
    if whole and whole[0].is_symlink():
        return Entry(student, problem="a link, not a folder or file")
    try:
        if not whole:
            return _from_loose(student, paths, labs, target)
        if whole[0].is_dir():
            return _from_folder(student, whole[0], labs, target)
    except OSError as error:  # unreadable, or gone since the folder was listed
        shutil.rmtree(target, ignore_errors=True)
        return Entry(student, problem=f"its files cannot be read ({error})")
    return _from_zip(student, whole[0], labs, target)


def _from_folder(student: str, folder: Path, labs: Sequence[str], target: Path) -> Entry:
    """The folder's lab files; a lab not at its top is taken, with the files beside it, from
    the one subfolder ``labkit grade`` would find it in, as in a repository."""
    files = _eligible(folder)
    notes = []
    for lab, module in submission.locate(folder, labs).items():
        if module is None or module.parent == folder:
            continue
        for name, source in _eligible(module.parent).items():
            files.setdefault(name, source)
        notes.append(f"{lab} from {module.parent.relative_to(folder).as_posix()}/")
    return _staged(student, files, labs, target, "the folder's", notes)


def _eligible(folder: Path) -> dict[str, _Source]:
    """The regular .py and .ipynb files at the top of ``folder``, within the size cap."""
    files = {}
    for path in sorted(folder.iterdir())[:MAX_FILES]:
        info = path.lstat()
        regular = stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES
        if path.suffix in SUFFIXES and regular:
            files[path.name] = _Source(info.st_size, partial(path.open, "rb"))
    return files


def _from_zip(student: str, path: Path, labs: Sequence[str], target: Path) -> Entry:
    try:
        too_many = _too_many_members(path)
        if too_many:
            return Entry(student, problem=f"{too_many}: {ZIP_HELP}")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                return Entry(student, problem=f"{_members_said(len(members))}: {ZIP_HELP}")
            unsafe = [m.filename for m in members if _unsafe_member(m)]
            if unsafe:
                return Entry(
                    student,
                    problem=f"the zip holds unsafe paths or links ({', '.join(unsafe[:3])}): "
                    "zip the folder of lab files alone",
                )
            files = {}
            for member in _by_preference(members):
                name = Path(member.filename).name
                if member.is_dir() or Path(name).suffix not in SUFFIXES or name.startswith("."):
                    continue
                if member.file_size <= MAX_FILE_BYTES and name not in files:
                    files[name] = _Source(member.file_size, _opener(archive, member))
            # Sizes come from the zip's directory, and no member unpacks past its own.
            return _staged(student, files, labs, target, "the zip's")
    except Exception as error:  # a zip is the student's bytes: any way it fails to read
        shutil.rmtree(target, ignore_errors=True)
        return Entry(student, problem=f"the zip cannot be read ({error}): zip the folder again")


def _by_preference(members: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The members a lab file may be taken from, in the order ``labkit grade`` prefers a
    folder: the zip's top first, then ``exercises/``, then the shallowest; never the grader's
    folders, hidden ones or virtualenvs'."""
    folders = {m: PurePosixPath(m.filename.replace("\\", "/")).parent.parts for m in members}
    kept = [m for m in members if not any(map(_skipped, folders[m]))]
    top = min((len(folders[m]) for m in kept), default=0)
    return sorted(
        kept,
        key=lambda m: (
            len(folders[m]) != top,
            submission.PREFERRED not in folders[m],
            len(folders[m]),
            m.filename,
        ),
    )


def _skipped(folder: str) -> bool:
    return folder.startswith(".") or folder in submission.SKIPPED or folder.endswith("-packages")


def _opener(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(member)


def _too_many_members(path: Path) -> str:
    """Why the zip's directory is too large to read, from its end record; '' when it is not.

    Reading a zip's directory makes an object per member, so the count comes first, from the
    fixed-size record at the zip's end. A count or size too large for it (ZIP64's markers) is
    over the cap too. A zip whose record cannot be found is left to ``zipfile`` to refuse.
    """
    with path.open("rb") as file:
        size = file.seek(0, 2)
        tail_size = min(size, _END_OF_DIRECTORY.size + 0xFFFF)  # the record and its comment
        file.seek(size - tail_size)
        tail = file.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END_OF_DIRECTORY.size:
        return ""
    record = _END_OF_DIRECTORY.unpack_from(tail, at)
    members, directory_bytes = record[4], record[5]
    if members > MAX_ZIP_MEMBERS or directory_bytes > MAX_ZIP_MEMBERS * 2**10:
        return _members_said(members)
    return ""


def _members_said(members: int) -> str:
    return f"the zip holds {members:,} members, more than the {MAX_ZIP_MEMBERS:,} allowed"


def _unsafe_member(member: zipfile.ZipInfo) -> bool:
    name = member.filename.replace("\\", "/")
    is_link = stat.S_ISLNK(member.external_attr >> 16)
    return is_link or name.startswith("/") or ".." in name.split("/") or ":" in name


def _from_loose(student: str, paths: list[Path], labs: Sequence[str], target: Path) -> Entry:
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
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_FILE_BYTES:
                files[f"{lab}{path.suffix}"] = _Source(info.st_size, partial(path.open, "rb"))
    return _staged(student, files, labs, target, "its")


def _staged(
    student: str,
    files: dict[str, _Source],
    labs: Sequence[str],
    target: Path,
    what: str,
    notes: Sequence[str] = (),
) -> Entry:
    """The entry with its files copied into ``target``: files too large in all are refused
    unread, and a notebook is set aside where a module of the same lab wins."""
    notes = list(notes)
    for lab in labs:
        if f"{lab}.py" in files and f"{lab}.ipynb" in files:
            del files[f"{lab}.ipynb"]
            notes.append(f"{lab}.ipynb set aside for {lab}.py")
    total = sum(source.size for source in files.values())
    if total > MAX_SUBMISSION_BYTES:
        return Entry(
            student,
            problem=f"{what} .py and .ipynb files come to {_megabytes(total)}, more than the "
            f"{_megabytes(MAX_SUBMISSION_BYTES)} allowed: hand in only the lab modules and "
            "notebooks, with their outputs cleared",
        )
    if not any(Path(name).stem in labs for name in files):
        expected = ", ".join(f"{lab}.py" for lab in labs)
        return Entry(student, problem=f"no lab files: expected any of {expected} (or .ipynb)")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name, source in files.items():
        with source.open() as reader, (target / name).open("wb") as writer:
            copied = _copy(reader, writer, source.size)
        if copied > source.size:  # it grew since its size was read: not what was checked
            (target / name).unlink()
    return Entry(student, target, notes=tuple(notes))


def _copy(reader: IO[bytes], writer: IO[bytes], size: int) -> int:
    """Copy at most ``size`` bytes and one more, in chunks; return how many were read."""
    copied = 0
    while copied <= size:
        chunk = reader.read(min(2**20, size + 1 - copied))
        if not chunk:
            break
        writer.write(chunk)
        copied += len(chunk)
    return copied


def _megabytes(count: int) -> str:
    return f"{count / 2**20:,.0f} MB"


def _lab_at_end(stem: str, labs: Sequence[str]) -> str | None:
    """The lab a loose file's name ends with, after an underscore, if any."""
    for lab in sorted(labs, key=len, reverse=True):
        if stem.endswith("_" + lab):
            return lab
    return None
