"""Grade one lab from inside a notebook, on the functions the notebook has defined.

The functions are written out as a module and graded by ``labkit grade`` in a separate
process, exactly as ``nox -s grade`` would grade them: the grader never runs them in the
notebook's kernel.

Usage, in a notebook cell: ``check_your_work("cv3_mnist_cnn", globals())``
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from labkit import labs, report
from labkit.handouts import EXERCISES, notebook_imports


def check_your_work(lab_name: str, namespace: dict[str, Any]) -> None:
    """Print the lab's score table for the functions defined in ``namespace``."""
    lab = labs.get(lab_name)
    with tempfile.TemporaryDirectory(prefix="labkit-check-") as folder:
        module = Path(folder) / f"{lab.name}.py"
        module.write_text(module_source(lab, namespace), encoding="utf-8")
        results_file = Path(folder) / "results.json"
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "labkit.cli",
                "grade",
                "--submission",
                str(module),
                "--lab",
                lab.name,
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
    print(report.table(report.results_from_json(results)))


def module_source(lab: labs.Lab, namespace: dict[str, Any]) -> str:
    """A module with the lab's imports and every function the notebook defined itself."""
    header = notebook_imports((EXERCISES / f"{lab.name}.py").read_text(encoding="utf-8"))
    parts = [header]
    for value in namespace.values():
        if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            try:
                parts.append(inspect.getsource(value))
            except (OSError, TypeError):
                continue  # defined in a way that left no source behind
    if lab.class_names and "CLASS_NAMES" in namespace:
        parts.append(f"CLASS_NAMES = {list(namespace['CLASS_NAMES'])!r}")
    return "\n\n".join(parts) + "\n"
