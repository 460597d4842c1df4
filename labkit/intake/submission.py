"""Find a submission's lab modules: a folder holding any of them, or one module or notebook.

A lab's module is ``<lab>.py`` (or ``<lab>.ipynb``) at the top of the folder. Where it is
not there, as in a repository handed in from GitHub or Bitbucket or a zipped folder, it is
looked for in the folder's subfolders: the one match, preferring ``exercises/``, is graded.
The grader's own folders (``graders/``, ``labkit/``, ``reference/``), hidden folders,
virtualenvs and ``__pycache__`` are never searched.

Usage: ``modules = submission.locate(Path("exercises"), ["my_lab"])  # {"my_lab": Path or None}``
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from labkit.intake import notebooks

SUFFIXES = (".py", ".ipynb")
# The largest lab module and notebook the grader reads: a lab notebook is well under 1 MB,
# plots included.
MAX_MODULE_BYTES = 5 * 2**20
MAX_NOTEBOOK_BYTES = notebooks.MAX_NOTEBOOK_BYTES
PREFERRED = "exercises"  # where the student release keeps the lab modules
# Never a student's lab module: the grader's own folders, and what tools leave behind.
SKIPPED = frozenset({"graders", "labkit", "reference", "__pycache__", "node_modules"})
MAX_DEPTH = 4  # folders below the top: a repository keeps its labs one or two down
MAX_FOLDERS = 500  # searched in all, so a huge upload costs little


class SubmissionError(ValueError):
    """The submission path cannot be graded as given (a usage error, not a lost point)."""


def locate(path: Path, labs: Sequence[str]) -> dict[str, Path | None]:
    """Map each of ``labs`` to its module in ``path``, or to None when it was not submitted."""
    if not path.exists():
        raise SubmissionError(
            f"{path} does not exist: pass a folder of lab modules or one .py file"
        )
    if path.is_file():
        return {name: (path if name == lab_of(path, labs) else None) for name in labs}
    nested = None
    found = {}
    for name in labs:
        found[name] = _module_in(path, name)
        if found[name] is None:
            nested = _folders(path) if nested is None else nested
            found[name] = _nested_module(nested, name, path)
    return found


def shown(module: Path, submission: Path) -> str:
    """The module's path in the submission, as the student knows it: ``exercises/lab.py``."""
    try:
        return module.relative_to(submission).as_posix()
    except ValueError:
        return module.name


def lab_of(file: Path, labs: Sequence[str]) -> str:
    """The lab of ``labs`` a single submitted file belongs to: from its name, or a notebook's
    metadata."""
    if file.suffix in SUFFIXES and file.stem in labs:
        return file.stem
    if file.suffix == ".ipynb":
        named = notebooks.lab_from_metadata(file)
        if named in labs:
            return named
    raise SubmissionError(
        f"cannot tell which lab {file.name} is for: name it after its lab, one of "
        + ", ".join(f"{name}.py" for name in labs)
        + " (or .ipynb)"
    )


def _module_in(folder: Path, name: str) -> Path | None:
    """The lab's module in ``folder``; a .py file wins over a notebook of the same name."""
    for suffix in SUFFIXES:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _nested_module(folders: list[Path], name: str, top: Path) -> Path | None:
    """The lab's module in exactly one of ``folders``, those in ``exercises/`` first."""
    found = [module for folder in folders if (module := _module_in(folder, name)) is not None]
    preferred = [m for m in found if PREFERRED in m.parent.relative_to(top).parts]
    if len(preferred) == 1:
        return preferred[0]
    return found[0] if len(found) == 1 else None


def _folders(top: Path) -> list[Path]:
    """The subfolders of ``top`` a lab module may be in, breadth first, links not followed."""
    found: list[Path] = []
    level = [top]
    for _ in range(MAX_DEPTH):
        below = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            below += [
                Path(entry.path)
                for entry in entries
                if entry.is_dir(follow_symlinks=False) and _searched(Path(entry.path))
            ]
        found += below[: MAX_FOLDERS - len(found)]
        level = below
        if not level or len(found) >= MAX_FOLDERS:
            break
    return found


def _searched(folder: Path) -> bool:
    """Whether a lab module may be in ``folder``: not hidden, a virtualenv or the grader's."""
    name = folder.name
    if name.startswith(".") or name in SKIPPED or name.endswith("-packages"):
        return False
    return not (folder / "pyvenv.cfg").exists()
