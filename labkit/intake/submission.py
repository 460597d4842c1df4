"""Find a submission's lab modules: a folder holding any of them, or one module or notebook.

Usage: ``modules = submission.locate(Path("exercises"), ["my_lab"])  # {"my_lab": Path or None}``
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from labkit.intake import notebooks

SUFFIXES = (".py", ".ipynb")
# The largest lab module and notebook the grader reads: a lab notebook is well under 1 MB,
# plots included.
MAX_MODULE_BYTES = 5 * 2**20
MAX_NOTEBOOK_BYTES = notebooks.MAX_NOTEBOOK_BYTES


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
    return {name: _module_in(path, name) for name in labs}


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
