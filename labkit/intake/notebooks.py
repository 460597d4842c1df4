"""Turn a notebook submission back into a lab module, without running any of its cells.

The module holds each graded cell (tagged ``graded:NAME``) as it is and, from the other cells,
only the statements that the graded code needs, with whatever those need in turn: constants,
helpers, imports, even the data a shape is read from. A training cell, a plot or a print is
never needed, so it never runs at grading time. Where a notebook lost its tags, the lab's API
names are looked up instead.

Cells are named as students count them: "cell 7" is the seventh cell from the top of the
notebook, starting at 1 and counting markdown cells too.

Usage: ``module = notebooks.convert(Path("my_lab.ipynb"), lab); module.text``
"""

from __future__ import annotations

from pathlib import Path

from labkit.intake import sourcecode
from labkit.intake.sourcecode import Module
from labkit.spec.lab import Lab

GRADED_TAG = "graded:"


class NotebookUnreadable(ValueError):
    """The file is not a notebook nbformat can read."""


def read(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:
        raise NotebookUnreadable(
            f"{path.name} is not a readable notebook ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no details'}). Re-download "
            "it, or save it again from Jupyter."
        ) from None


def graded_name(cell) -> str | None:
    """The API name a cell is tagged as defining, if any."""
    for tag in cell.get("metadata", {}).get("tags", []):
        if isinstance(tag, str) and tag.startswith(GRADED_TAG):
            return tag[len(GRADED_TAG) :]
    return None


def cells(notebook) -> list[sourcecode.Cell]:
    """The notebook's code cells, each labelled with its number from the top."""
    return [
        sourcecode.Cell(f"cell {number}", cell.get("source", ""), graded_name(cell) is not None)
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.get("cell_type") == "code"
    ]


def convert(path: Path, lab: Lab) -> Module:
    """The lab module that the notebook at ``path`` defines, to be written as ``LAB.py``."""
    return sourcecode.assemble(cells(read(path)), lab.api_names, f"{lab.name}.py", path.name)


def lab_from_metadata(path: Path) -> str | None:
    """The lab a notebook says it belongs to, in its ``labkit`` metadata."""
    try:
        return read(path).metadata.get("labkit", {}).get("lab")
    except NotebookUnreadable:
        return None
