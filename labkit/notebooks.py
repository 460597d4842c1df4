"""Turn a notebook submission back into a lab module, without running any of its cells.

The module holds every import in the notebook, each graded cell (tagged ``graded:NAME``)
as it is, and, from the other cells, only top-level definitions: so a notebook whose
tags were lost still grades, and its training cells never run at grading time.

Usage: ``text = notebooks.module_source(Path("cv3_mnist_cnn.ipynb"))``
"""

from __future__ import annotations

from pathlib import Path

from labkit import sourcecode

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


def module_source(path: Path) -> str:
    """The lab module that the notebook at ``path`` defines."""
    notebook = read(path)
    imports: list[str] = []
    body: list[str] = []
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        code = sourcecode.without_magics(cell.get("source", ""))
        try:
            imports += sourcecode.imports(code)
            if graded_name(cell):
                body.append(code)
                continue
            body += sourcecode.functions(code)
            class_names = sourcecode.definitions(code).get("CLASS_NAMES")
        except SyntaxError:
            if graded_name(cell):
                body.append(code)  # a broken exercise cell should fail loudly, not vanish
            continue
        if class_names:
            body.append(class_names)
    return "\n".join([*dict.fromkeys(imports), "", *("\n" + part for part in body)]) + "\n"


def lab_from_metadata(path: Path) -> str | None:
    """The lab a notebook says it belongs to, in its ``labkit`` metadata."""
    try:
        return read(path).metadata.get("labkit", {}).get("lab")
    except NotebookUnreadable:
        return None
