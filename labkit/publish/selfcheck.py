"""Grade one lab from inside a notebook, on the code the notebook has run.

The module is rebuilt from the kernel's input history, in the order the cells ran, keeping the
lab's functions and only what they need, as notebook grading does. It is graded by ``labkit
grade`` in a separate process, exactly as ``nox -s grade`` would grade it: the grader never runs
student code in the notebook's kernel. Messages point at ``In [N]``, the numbers Jupyter shows
beside the cells that ran.

The course is found as ``labkit grade`` finds it: ``$LABKIT_COURSE``, the notebook's folder
when it holds ``graders/``, else the folder labkit was installed from.

Beside the table the cell shows the score as data of its own type (``SCORE_TYPE``), which
Jupyter does not display; the handouts build reads it back with ``shown_score`` to refuse a
solution notebook that is not full marks.

Usage, in a notebook cell: ``check_your_work("my_lab", globals())``
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from labkit.intake import sourcecode
from labkit.report import checkresults, scoretable
from labkit.spec.course import Course
from labkit.spec.lab import NAMES, Lab

SHOWN_AS = "your notebook"
#: How a "check your work" cell calls this module; the handouts build looks for it.
CHECK_CALL = "check_your_work("
SCORE_TYPE = "application/vnd.labkit.score+json"


def check_your_work(lab_name: str, namespace: dict[str, Any]) -> None:
    """Show the lab's score table for the code run in the notebook that ``namespace`` is."""
    course = Course.find()
    lab = course.lab(lab_name)
    module = module_source(lab, namespace, course)
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as folder:
        path = Path(folder) / module.filename
        path.write_text(module.text, encoding="utf-8")
        results_file = Path(folder) / "results.json"
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "labkit.cli",
                "grade",
                "--submission",
                str(path),
                "--lab",
                lab.name,
                "--course",
                str(course.root),
                "--results",
                str(results_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if not results_file.is_file():
            print(finished.stdout[-3000:], finished.stderr[-3000:], sep="\n")
            return
        results = json.loads(results_file.read_text(encoding="utf-8"))
    _show(
        [
            dataclasses.replace(result, message=module.locate(result.message))
            for result in checkresults.results_from_json(results)
        ],
        {lab.name: lab.title},
        course.hidden_points,
        _score(lab, results),
    )


def _score(lab: Lab, results: dict[str, Any]) -> dict[str, Any]:
    """The score a results file gives, with the names of the checks that failed."""
    failed = [test["name"] for test in results["tests"] if test["status"] == "failed"]
    return {
        "lab": lab.name,
        "score": results["score"],
        "max_score": results["max_score"],
        "failed": failed,
    }


def check_cells(notebook: Any) -> list[Any]:
    """The code cells of a notebook that run "check your work"."""
    return [
        cell for cell in notebook.cells if cell.cell_type == "code" and CHECK_CALL in cell.source
    ]


def shown_score(cell: Any) -> dict[str, Any] | None:
    """The score an executed check cell showed (see ``_score``); None when grading stopped
    before there was one."""
    for output in cell.get("outputs", []):
        if SCORE_TYPE in output.get("data", {}):
            return output["data"][SCORE_TYPE]
    return None


def module_source(
    lab: Lab, namespace: dict[str, Any], course: Course | None = None
) -> sourcecode.Module:
    """The lab module the notebook defines: from the kernel's input history where there is one,
    else from the source of the functions in ``namespace``."""
    history = namespace.get("In")
    filename = f"{lab.name}.py"
    if isinstance(history, list) and all(isinstance(cell, str) for cell in history):
        cells = [
            sourcecode.Cell(f"In [{number}]", source)
            for number, source in enumerate(history)
            if source.strip()  # In[0] is always empty
        ]
        return sourcecode.assemble(cells, lab.api_names, filename, SHOWN_AS)
    stubs = (course or Course.find()).exercises / f"{lab.name}.py"
    return sourcecode.Module(_functions_source(lab, namespace, stubs), filename, SHOWN_AS)


def _functions_source(lab: Lab, namespace: dict[str, Any], stubs: Path) -> str:
    """The lab's imports and every function defined in ``namespace`` itself, by their source."""
    header = sourcecode.notebook_imports(stubs.read_text(encoding="utf-8"))
    parts = [header]
    for value in namespace.values():
        if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            try:
                parts.append(inspect.getsource(value))
            except (OSError, TypeError):
                continue  # defined in a way that left no source behind
    for function in lab.api:
        if function.constant and function.name in namespace:
            value = namespace[function.name]
            literal = list(value) if function.returns == NAMES else value
            parts.append(f"{function.name} = {literal!r}")
    return "\n\n".join(parts) + "\n"


def _show(
    results: list[checkresults.CheckResult],
    titles: dict[str, str],
    hidden_points: dict[str, float] | None = None,
    score: dict[str, Any] | None = None,
) -> None:
    """The score table: as HTML in a Jupyter kernel, with ``score`` as data beside it; as text
    anywhere else."""
    text = scoretable.table(results, titles, hidden_points)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(text)
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        print(text)
        return
    shown = {"text/html": scoretable.html_table(results, titles), "text/plain": text}
    if score is not None:
        shown[SCORE_TYPE] = score
    display(shown, raw=True)
