"""Build the lab handouts: student and solution notebooks, and HTML pages, from templates.

One Jinja template per lab (the course's ``templates/<lab>.ipynb.j2``) renders to the
solution notebook, with each exercise cell's code taken from ``reference/<lab>.py``.
nbconvert preprocessors then derive the student notebook (stubs from
``exercises/<lab>.py``, no outputs), execute the solution notebook and export both as HTML.
An executed solution notebook whose "check your work" cell is not full marks stops the build
with ``HandoutError``: a handout must not teach a solution its own grader fails.
Templates may extend ``base.ipynb.j2``, the skeleton shipped in ``labkit/publish/skeleton/``;
a course's own ``templates/base.ipynb.j2`` takes its place.

Usage: ``labkit handouts --out build/handouts --epochs 1``
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.intake import sourcecode
from labkit.intake.notebooks import GRADED_TAG
from labkit.spec.course import COURSE_ENV, Course
from labkit.spec.lab import Lab

DETERMINISM = (
    "import tensorflow as tf\n\n"
    "tf.config.experimental.enable_op_determinism()  # the same numbers on every run"
)
MARKER = re.compile(r"^# %%(?P<rest>.*)$")
# The notebook skeleton the labs' templates extend, shipped with labkit: (package, folder).
SKELETON = ("labkit.publish", "skeleton")
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


class HandoutError(RuntimeError):
    """A lab's handout cannot be built as it stands; the message names the lab and the fix."""


@dataclass(frozen=True)
class Handout:
    """Where one lab's built files went."""

    student: Path
    solution: Path
    student_html: Path
    solution_html: Path


def render(course: Course, lab: Lab, epochs: int | None = None) -> str:
    """The lab's template rendered with the reference code, in cell-marker text."""
    import jinja2

    reference = (course.reference / f"{lab.name}.py").read_text(encoding="utf-8")
    definitions = sourcecode.definitions(reference)
    environment = jinja2.Environment(
        # The course's own templates first, so that its base.ipynb.j2 overrides labkit's.
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(course.templates), jinja2.PackageLoader(*SKELETON)]
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = environment.get_template(f"{lab.name}.ipynb.j2")
    return template.render(
        lab=lab,
        imports=sourcecode.notebook_imports(reference) + "\n" + DETERMINISM,
        epochs=epochs or lab.handout_epochs,
        dataset=dataset_expression(lab),
        source=lambda name: definitions[name],
    )


def dataset_expression(lab: Lab) -> str:
    """How a notebook names the lab's dataset to ``datasets.load``: its name, or its source."""
    dataset = lab.dataset
    if not (dataset.path or dataset.url):
        return f'"{dataset.name}"'
    fields = {"path": dataset.path, "url": dataset.url, "sha256": dataset.sha256}
    given = "".join(f", {key}={value!r}" for key, value in fields.items() if value)
    return f'datasets.Dataset("{dataset.name}"{given})'


def to_notebook(text: str, lab: Lab) -> nbformat.NotebookNode:
    """Split rendered cell-marker text into a validated nbformat 4.5 notebook."""
    cells = []
    for index, (marker, source) in enumerate(_chunks(text)):
        cell_id = f"{lab.name.split('_')[0]}-{index:02d}"
        if marker == "[markdown]":
            cells.append(new_markdown_cell(source, id=cell_id))
            continue
        cell = new_code_cell(source, id=cell_id)
        if marker.startswith("graded="):
            cell.metadata["tags"] = [GRADED_TAG + marker.removeprefix("graded=")]
        elif marker == "parameters":
            cell.metadata["tags"] = ["parameters"]
        elif marker:
            raise ValueError(f"unknown cell marker '# %% {marker}' in {lab.name}'s template")
        cells.append(cell)
    notebook = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": KERNEL,
            "language_info": {"name": "python"},
            "labkit": {"lab": lab.name},
        },
    )
    nbformat.validate(notebook)
    return notebook


def _chunks(text: str) -> list[tuple[str, str]]:
    chunks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = MARKER.match(line)
        if match:
            chunks.append((match["rest"].strip(), []))
        elif chunks:
            chunks[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"text before the first cell marker: {line!r}")
    return [(marker, "\n".join(lines).strip("\n")) for marker, lines in chunks if _has_text(lines)]


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def solution_notebook(course: Course, lab: Lab, epochs: int | None = None) -> nbformat.NotebookNode:
    return to_notebook(render(course, lab, epochs), lab)


def student_notebook(course: Course, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution notebook with stubs in its exercise cells and no outputs."""
    from nbconvert.preprocessors import ClearOutputPreprocessor

    from labkit.publish.preprocessors import ReplaceSolutions

    lab = course.lab(solution.metadata["labkit"]["lab"])
    exercises = (course.exercises / f"{lab.name}.py").read_text(encoding="utf-8")
    student = nbformat.from_dict(solution)
    student, _ = ReplaceSolutions(stubs=sourcecode.definitions(exercises)).preprocess(student, {})
    student, _ = ClearOutputPreprocessor().preprocess(student, {})
    nbformat.validate(student)
    return student


def execute(
    notebook: nbformat.NotebookNode, course: Course, workdir: Path, epochs: int | None
) -> None:
    """Run every cell in a fresh kernel, in place; outputs are made reproducible."""
    from nbconvert.preprocessors import ExecutePreprocessor

    from labkit.publish.preprocessors import SetParameters, StableOutputs

    if epochs is not None:
        SetParameters(values={"EPOCHS": epochs}).preprocess(notebook, {})
    with _kernels_grade_with(course):
        ExecutePreprocessor(timeout=1800, kernel_name="python3", record_timing=False).preprocess(
            notebook, {"metadata": {"path": str(workdir)}}
        )
    StableOutputs().preprocess(notebook, {})
    nbformat.validate(notebook)


@contextlib.contextmanager
def _kernels_grade_with(course: Course) -> Iterator[None]:
    """Have the kernels started meanwhile grade "check your work" with ``course``: they run
    in the output folder, where labkit would otherwise fall back on its own course."""
    before = os.environ.get(COURSE_ENV)
    os.environ[COURSE_ENV] = str(course.root)
    try:
        yield
    finally:
        if before is None:
            del os.environ[COURSE_ENV]
        else:
            os.environ[COURSE_ENV] = before


def require_full_marks(notebook: nbformat.NotebookNode, lab: Lab) -> None:
    """Raise HandoutError unless each "check your work" in the executed solution notebook
    gave full marks."""
    from labkit.publish import selfcheck

    for cell in selfcheck.check_cells(notebook):
        score = selfcheck.shown_score(cell)
        if score is None:
            printed = "".join(output.get("text", "") for output in cell.outputs)
            raise HandoutError(
                f'{lab.name}: "check your work" in the solution notebook gave no score; it '
                f"printed: {' / '.join(printed.strip().splitlines()[-3:]) or 'nothing'}"
            )
        if score["score"] < score["max_score"]:
            raise HandoutError(
                f'{lab.name}: "check your work" in the solution notebook scored '
                f"{score['score']:g}/{score['max_score']:g}, not full marks; failed: "
                f"{'; '.join(score['failed'])}. Fix the lab's reference or grader until "
                f"`labkit grade --submission reference --lab {lab.name}` passes, then build "
                "again"
            )


def to_html(notebook: nbformat.NotebookNode) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    return body


def build(
    course: Course, out: Path, lab_names: list[str], epochs: int | None, run: bool = True
) -> list[Handout]:
    """Write every chosen lab's handouts under ``out``; returns where they went."""
    built = []
    out.mkdir(parents=True, exist_ok=True)
    for name in lab_names:
        lab = course.lab(name)
        solution = solution_notebook(course, lab)
        student = student_notebook(course, solution)
        if run:
            execute(solution, course, out, epochs)
            require_full_marks(solution, lab)
        handout = Handout(
            student=out / "student" / f"{name}.ipynb",
            solution=out / "solutions" / f"{name}.ipynb",
            student_html=out / "html" / f"{name}.student.html",
            solution_html=out / "html" / f"{name}.html",
        )
        for path in (handout.student, handout.solution, handout.solution_html):
            path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student, handout.student)
        nbformat.write(solution, handout.solution)
        handout.student_html.write_text(to_html(student), encoding="utf-8")
        handout.solution_html.write_text(to_html(solution), encoding="utf-8")
        built.append(handout)
    return built
