"""Grading notebooks: graded cells are graded, other cells never run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import COURSE, REFERENCE

from labkit.intake import notebooks, sourcecode
from labkit.publish import handouts, selfcheck
from labkit.report import checkresults, scoretable


def student_notebook(lab: str) -> nbformat.NotebookNode:
    return handouts.student_notebook(COURSE, handouts.solution_notebook(COURSE, COURSE.lab(lab)))


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


def position(notebook: nbformat.NotebookNode, text: str) -> int:
    """The index of the first cell whose source holds ``text``."""
    return next(i for i, cell in enumerate(notebook.cells) if text in cell.source)


def graded_cell(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if notebooks.graded_name(cell) == name)


def insert_after(notebook: nbformat.NotebookNode, text: str, *sources: str) -> None:
    """New code cells right after the first cell whose source holds ``text``."""
    at = position(notebook, text) + 1
    notebook.cells[at:at] = [nbformat.v4.new_code_cell(source) for source in sources]


def cv3_using_other_cells(marker: Path) -> nbformat.NotebookNode:
    """A correct cv3 notebook whose graded cells lean on constants, a helper and the data, and
    whose training cell would leave ``marker`` behind and kill the process if it ran."""
    notebook = filled_in("cv3_mnist_cnn")
    insert_after(
        notebook,
        "datasets.load(",
        "CLASS_NAMES = [str(digit) for digit in range(10)]\n"
        "INPUT_SHAPE = (*train_images.shape[1:], 1)",
        "def conv_block(filters):\n"
        '    return [layers.Conv2D(filters, (3, 3), activation="relu"), '
        "layers.MaxPooling2D((2, 2))]",
    )
    graded_cell(
        notebook, "preprocess"
    ).source = "def preprocess(images):\n    return (images / 255.0).reshape((-1, *INPUT_SHAPE))"
    graded_cell(notebook, "build_model").source = (
        "from __future__ import annotations\n\n"
        "def build_model() -> keras.Model:\n"
        "    return keras.Sequential(\n"
        "        [\n"
        "            keras.Input(shape=train_images.shape[1:] + (1,)),\n"
        "            *conv_block(32),\n"
        "            *conv_block(64),\n"
        "            layers.Flatten(),\n"
        '            layers.Dense(64, activation="relu"),\n'
        "            layers.Dense(len(CLASS_NAMES)),\n"
        "        ]\n"
        "    )"
    )
    training = notebook.cells[position(notebook, "model.fit(")]
    training.source = (
        f"import os, pathlib\npathlib.Path({str(marker)!r}).write_text('trained')\nos._exit(3)\n"
        + training.source
    )
    return notebook


def cv1_with_unresolved_names() -> nbformat.NotebookNode:
    """A cv1 notebook whose preprocess uses a name no cell sets, and whose build_model uses one
    set only inside another function."""
    notebook = filled_in("cv1_mnist_intro")
    graded_cell(
        notebook, "preprocess"
    ).source = "def preprocess(images):\n    return images / SCALE"
    insert_after(notebook, "datasets.load(", "def settings():\n    WIDTH = 128\n    return WIDTH")
    build = graded_cell(notebook, "build_model")
    build.source = build.source.replace("128", "WIDTH")
    return notebook


def test_filled_in_notebooks_score_full_marks(grade, tmp_path):
    folder = tmp_path / "filled"
    for lab in COURSE.labs:
        # One lab loses its tags, as happens when a notebook is copied between tools.
        write(folder, filled_in(lab, keep_tags=lab != "cv3_mnist_cnn"), lab)
    graded = grade(folder)
    assert graded.results["score"] == graded.results["max_score"] == 49, [
        (t["name"], t["output"]) for t in graded.results["tests"] if t["status"] == "failed"
    ]


def test_untouched_student_notebooks_score_zero_with_todos(grade, tmp_path):
    folder = tmp_path / "untouched"
    for lab in COURSE.labs:
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
    module = notebooks.convert(path, COURSE.lab("cv1_mnist_intro")).text
    assert "os._exit" not in module and "rm -rf" not in module
    assert "def build_model" in module and "import numpy as np" in module
    assert "model.fit" not in module and "model.summary" not in module
    compile(module, "module", "exec")


def test_malformed_notebook_costs_only_its_lab(grade, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "cv1_mnist_intro.ipynb").write_text('{"cells": [')
    (folder / "cv3_mnist_cnn.py").write_text((REFERENCE / "cv3_mnist_cnn.py").read_text())
    graded = grade(folder, "--lab", "cv1_mnist_intro", "--lab", "cv3_mnist_cnn")
    assert "not a readable notebook" in graded.output("cv1_mnist_intro", "structure")
    assert graded.score("cv3_mnist_cnn") == (11, 11)


def test_renamed_notebook_is_found_by_its_metadata(tmp_path):
    from labkit.intake import submission

    path = tmp_path / "my work.ipynb"
    nbformat.write(student_notebook("cv2_fashion_mnist_intro"), path)
    assert submission.lab_of(path, list(COURSE.labs)) == "cv2_fashion_mnist_intro"
    (tmp_path / "other.ipynb").write_text("not json")
    with pytest.raises(submission.SubmissionError, match="cannot tell which lab"):
        submission.lab_of(tmp_path / "other.ipynb", list(COURSE.labs))


def test_graded_code_gets_what_other_cells_define_and_messages_name_cells(grade, tmp_path):
    marker = tmp_path / "training-ran"
    cv3, cv1 = cv3_using_other_cells(marker), cv1_with_unresolved_names()
    folder = tmp_path / "leaning"
    write(folder, cv3, "cv3_mnist_cnn")
    write(folder, cv1, "cv1_mnist_intro")
    module = notebooks.convert(folder / "cv3_mnist_cnn.ipynb", COURSE.lab("cv3_mnist_cnn")).text
    assert "def conv_block" in module and 'datasets.load("mnist")' in module
    assert "os._exit" not in module and "model.fit" not in module and "print(" not in module

    graded = grade(folder, "--lab", "cv3_mnist_cnn", "--lab", "cv1_mnist_intro")
    assert graded.score("cv3_mnist_cnn") == (11, 11), graded.checks("cv3_mnist_cnn")
    assert not marker.exists()

    messages = "\n".join(check["output"] for check in graded.checks("cv1_mnist_intro"))
    assert "cv1_mnist_intro.py" not in messages
    preprocess_cell = position(cv1, "return images / SCALE") + 1
    assert (
        f"NameError: name 'SCALE' is not defined (line 2 of cell {preprocess_cell}, "
        'which starts "def preprocess(images):"). No cell defines `SCALE`'
    ) in messages
    settings_cell = position(cv1, "def settings") + 1
    assert f"`WIDTH` is set only inside settings() in cell {settings_cell}" in messages


def test_broken_graded_cell_names_its_cell(grade, tmp_path):
    notebook = filled_in("cv1_mnist_intro")
    cell = graded_cell(notebook, "build_model")
    cell.source = cell.source.replace("layers.Flatten(),", "layers.Flatten(,")
    write(tmp_path / "broken", notebook, "cv1_mnist_intro")
    graded = grade(tmp_path / "broken", "--lab", "cv1_mnist_intro")
    message = "\n".join(check["output"] for check in graded.checks("cv1_mnist_intro"))
    number = notebook.cells.index(cell) + 1
    assert f'of cell {number}, which starts "def build_model() -> keras.Model:")' in message
    assert "cv1_mnist_intro.ipynb could not be imported" in message
    assert "cv1_mnist_intro.py" not in message


def test_check_your_work_rebuilds_the_module_from_the_input_history():
    notebook = cv3_using_other_cells(Path("/nonexistent/marker"))
    ran = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    history = [
        "",
        *ran,
        "def compile_model(model):\n    return 'run last, so this is the one'",
        'check_your_work("cv3_mnist_cnn", globals())',
    ]
    module = selfcheck.module_source(COURSE.lab("cv3_mnist_cnn"), {"In": history})
    assert "os._exit" not in module.text and "check_your_work" not in module.text
    assert module.text.startswith("from __future__ import annotations\n")
    namespace: dict = {}
    exec(compile(module.text, module.filename, "exec"), namespace)
    assert namespace["build_model"]().output_shape == (None, 10)
    assert namespace["compile_model"](None) == "run last, so this is the one"

    line = module.text.splitlines().index("            layers.Dense(len(CLASS_NAMES)),") + 1
    build_number = history.index(graded_cell(notebook, "build_model").source)
    located = module.locate(
        f"ValueError: bad units (line {line} of cv3_mnist_cnn.py); cv3_mnist_cnn.py failed"
    )
    assert located == (
        f"ValueError: bad units (line 11 of In [{build_number}], which starts "
        '"from __future__ import annotations"); your notebook failed'
    )


def test_html_table_escapes_student_text(capsys):
    results = [
        checkresults.CheckResult(
            "cv1_mnist_intro", "structure", "layers", 2, False, "<b>x</b> & y"
        ),
        checkresults.CheckResult("cv1_mnist_intro", "params", "parameter count", 1, True),
    ]
    html = scoretable.html_table(results)
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in html and "<b>x" not in html
    assert "1/3" in html and "FAIL" in html and "PASS" in html
    selfcheck._show(results, {})  # no Jupyter kernel here: the text table
    assert capsys.readouterr().out.strip() == scoretable.table(results).strip()
