"""Grading notebooks: graded cells are graded, other cells never run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import REFERENCE

from labkit import handouts, labs, notebooks, sourcecode


def student_notebook(lab: str) -> nbformat.NotebookNode:
    return handouts.student_notebook(handouts.solution_notebook(labs.get(lab)))


def filled_in(lab: str, keep_tags: bool = True) -> nbformat.NotebookNode:
    """A student notebook whose exercise cells hold the reference code."""
    notebook = student_notebook(lab)
    solutions = sourcecode.definitions((REFERENCE / f"{lab}.py").read_text())
    for cell in notebook.cells:
        name = notebooks.graded_name(cell)
        if name:
            cell.source = solutions[name]
            if not keep_tags:
                cell.metadata["tags"] = []
    return notebook


def write(folder: Path, notebook: nbformat.NotebookNode, name: str) -> None:
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / f"{name}.ipynb")


def test_filled_in_notebooks_score_full_marks(grade, tmp_path):
    folder = tmp_path / "filled"
    for lab in labs.LABS:
        # One lab loses its tags, as happens when a notebook is copied between tools.
        write(folder, filled_in(lab, keep_tags=lab != "cv3_mnist_cnn"), lab)
    graded = grade(folder)
    assert graded.results["score"] == graded.results["max_score"] == 45, [
        (t["name"], t["output"]) for t in graded.results["tests"] if t["status"] == "failed"
    ]


def test_untouched_student_notebooks_score_zero_with_todos(grade, tmp_path):
    folder = tmp_path / "untouched"
    for lab in labs.LABS:
        write(folder, student_notebook(lab), lab)
    graded = grade(folder)
    assert graded.results["score"] == 0
    assert "preprocess() is still a TODO" in graded.output("cv3_mnist_cnn", "submission")


def test_other_cells_never_run(tmp_path):
    notebook = filled_in("cv1_mnist_intro")
    notebook.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(1)\nwhile True: pass"))
    notebook.cells.append(nbformat.v4.new_code_cell("%timeit 1 + 1\n!rm -rf /"))
    path = tmp_path / "cv1_mnist_intro.ipynb"
    nbformat.write(notebook, path)
    module = notebooks.module_source(path)
    assert "os._exit" not in module and "rm -rf" not in module
    assert "def build_model" in module and "import numpy as np" in module
    compile(module, "module", "exec")


def test_malformed_notebook_costs_only_its_lab(grade, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cv1_mnist_intro.ipynb").write_text('{"cells": [')
    (folder / "cv3_mnist_cnn.py").write_text((REFERENCE / "cv3_mnist_cnn.py").read_text())
    graded = grade(folder, "--lab", "cv1_mnist_intro", "--lab", "cv3_mnist_cnn")
    assert "not a readable notebook" in graded.output("cv1_mnist_intro", "structure")
    assert graded.score("cv3_mnist_cnn") == (10, 10)


def test_renamed_notebook_is_found_by_its_metadata(tmp_path):
    from labkit import submission

    path = tmp_path / "my work.ipynb"
    nbformat.write(student_notebook("cv2_fashion_mnist_intro"), path)
    assert submission.lab_of(path) == "cv2_fashion_mnist_intro"
    (tmp_path / "other.ipynb").write_text("not json")
    with pytest.raises(submission.SubmissionError, match="cannot tell which lab"):
        submission.lab_of(tmp_path / "other.ipynb")
