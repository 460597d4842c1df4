"""The handouts: generated notebooks are valid, stub-only for students, runnable, stable."""

from __future__ import annotations

import ast
import filecmp
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import COURSE, REFERENCE

from labkit.intake.notebooks import graded_name
from labkit.publish import handouts

LABS = list(COURSE.labs)
# A C++ log line ("E0000 00:00:1795659040.99 3110 node_def_util.cc:682] ...") or absl's
# notice that it logs before it is set up.
TENSORFLOW_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog", re.MULTILINE)
# The stripes template stands alone, without the course skeleton's last cell; these tests
# give their copy of it one.
CHECK_YOUR_WORK = """
# %%
from labkit.publish.selfcheck import check_your_work

check_your_work("{{ lab.name }}", globals())
"""
MAX_POINTS = {  # the instructor's copy: hidden checks included
    "cv1_mnist_intro": 11,
    "cv2_fashion_mnist_intro": 13,
    "cv3_mnist_cnn": 11,
    "cv4_cifar_cnn": 14,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handouts")
    with pytest.MonkeyPatch.context() as patch:
        # Grading sets this for its own children; a student's kernel has to do without.
        patch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        handouts.build(COURSE, out, LABS, epochs=1)
    return out


def notebooks(built: Path, kind: str) -> dict[str, nbformat.NotebookNode]:
    return {name: nbformat.read(built / kind / f"{name}.ipynb", 4) for name in LABS}


def reference_bodies(lab: str) -> list[str]:
    """Each reference function's body without its docstring, as source lines."""
    text = (REFERENCE / f"{lab}.py").read_text()
    lines = text.splitlines()
    bodies = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            statements = node.body[1:] if ast.get_docstring(node) else node.body
            start, end = statements[0].lineno, statements[-1].end_lineno
            bodies.append("\n".join(lines[start - 1 : end]).strip())
    return bodies


def test_every_notebook_is_valid_nbformat_4_5(built):
    for kind in ("student", "solutions"):
        for notebook in notebooks(built, kind).values():
            nbformat.validate(notebook)
            assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
            assert all(cell.id for cell in notebook.cells)


def test_student_notebooks_hold_stubs_and_no_outputs(built):
    for name, notebook in notebooks(built, "student").items():
        code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        for body in reference_bodies(name):
            assert body not in code, f"{name}: solution code leaked: {body[:60]}"
        graded = {graded_name(cell): cell.source for cell in notebook.cells if graded_name(cell)}
        assert set(graded) == set(COURSE.lab(name).functions) | (
            {"CLASS_NAMES"} if COURSE.lab(name).class_names else set()
        )
        assert all("NotImplementedError" in graded[f] for f in COURSE.lab(name).functions)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_solution_notebooks_ran_with_summary_plots_and_full_marks(built):
    for name, notebook in notebooks(built, "solutions").items():
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert all(cell.execution_count for cell in code_cells), name
        outputs = [output for cell in code_cells for output in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        text = json.dumps(outputs)
        assert "Total params" in text and "Dense" in text, f"{name}: no model summary"
        assert "image/png" in text
        maximum = MAX_POINTS[name]
        assert f"{maximum}/{maximum}" in text, f"{name}: check your work did not pass"
        assert "EPOCHS = 1" in code_cells[1].source


def test_solution_notebooks_show_no_tensorflow_logs(built):
    # StableOutputs drops only timings: these are the outputs a student's Jupyter shows.
    for name, notebook in notebooks(built, "solutions").items():
        streams = [o for cell in notebook.cells for o in cell.get("outputs", [])]
        stderr = [o.text for o in streams if o.get("name") == "stderr"]
        assert stderr == [], f"{name} printed to stderr: {stderr}"
        text = "".join(o.text for o in streams if o.output_type == "stream")
        assert not TENSORFLOW_LOG.search(text), f"{name}: {TENSORFLOW_LOG.search(text)[0]}"


def test_html_pages_are_written(built):
    for name in LABS:
        page = (built / "html" / f"{name}.html").read_text()
        assert "<html" in page and "check_your_work" in page
        assert (built / "html" / f"{name}.student.html").is_file()


def test_rebuilding_gives_identical_files(built, tmp_path):
    handouts.build(COURSE, tmp_path, LABS, epochs=1)
    comparison = filecmp.dircmp(built, tmp_path)
    different = []

    def collect(node: filecmp.dircmp, prefix: str = "") -> None:
        _, mismatch, errors = filecmp.cmpfiles(
            node.left, node.right, node.common_files, shallow=False
        )
        different.extend(prefix + name for name in mismatch + errors)
        different.extend(prefix + name for name in node.left_only + node.right_only)
        for sub, child in node.subdirs.items():
            collect(child, f"{prefix}{sub}/")

    collect(comparison)
    assert different == []


def test_cv4_walks_through_the_seed_and_its_softmax_mismatch():
    text = handouts.render(COURSE, COURSE.lab("cv4_cifar_cnn"))
    for fact in ("60,000 colour images", "(30, 30, 32)", "122,570", "from_logits=True", "70%"):
        assert fact in text
    assert "softmax twice" in " ".join(text.split())


@pytest.mark.parametrize("lab", LABS)
def test_handout_text_holds_whatever_the_data_source(lab):
    text = handouts.render(COURSE, COURSE.lab(lab)).casefold()
    for word in ("offline", "jpeg", "to train on"):
        assert word not in text, f"{lab}: {word!r}"


def test_a_solution_short_of_full_marks_stops_the_build(stripes_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)
    template = course / "templates" / "stripes.ipynb.j2"
    template.write_text(template.read_text() + CHECK_YOUR_WORK)
    reference = course / "reference" / "stripes.py"
    right = reference.read_text()
    wrong = right.replace("return images[:, :, ::-1]", "return images[:, ::-1, :]")
    assert wrong != right
    reference.write_text(wrong)
    out = tmp_path / "out"
    finished = subprocess.run(
        [
            *(sys.executable, "-m", "labkit.cli", "handouts", "--course", str(course)),
            *("--lab", "stripes", "--epochs", "1", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert (
        'labkit handouts: stripes: "check your work" in the solution notebook scored 12/13, '
        "not full marks; failed: stripes: augment() mirrors each image left to right."
    ) in finished.stderr
    assert not (out / "solutions" / "stripes.ipynb").exists()
