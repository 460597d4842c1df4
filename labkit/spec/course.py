"""A course folder, and the labs its graders declare.

A course is a folder with four subfolders; a lab is one file in each of them::

    graders/test_<lab>.py      declares LAB = Lab(...) and the checks
    exercises/<lab>.py         the student's stub module
    reference/<lab>.py         the solution
    templates/<lab>.ipynb.j2   the notebook handout

Labs are discovered from ``graders/``, in file-name order. The course is the folder given,
else ``$LABKIT_COURSE``, else the current folder when it holds ``graders/``, else the
folder labkit itself was installed from.

Usage: ``course = Course.find(); course.lab("my_lab").title``
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from labkit.spec.lab import Lab

COURSE_ENV = "LABKIT_COURSE"
HIDDEN_POINTS = "hidden_points.json"  # written into a student release's graders/
GRADER_PREFIX = "test_"


class CourseError(ValueError):
    """The course folder or one of its graders cannot be used; the message says why."""


@dataclass(frozen=True)
class Check:
    """One check a grader runs on its lab, with the points it is worth there."""

    name: str  # the test method's name without "test_"
    category: str
    description: str
    points: float
    hidden: bool = False


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def find(cls, given: Path | None = None) -> Course:
        """The course in ``given``, ``$LABKIT_COURSE``, the current folder or labkit's own."""
        if given is None and os.environ.get(COURSE_ENV):
            given = Path(os.environ[COURSE_ENV])
        if given is not None:
            if not (given / "graders").is_dir():
                raise CourseError(f"{given} has no graders/ folder: it is not a labkit course")
            return cls(given.resolve())
        for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
            if (candidate / "graders").is_dir():
                return cls(candidate.resolve())
        raise CourseError(
            "no course found: run this in a folder holding graders/, or pass --course DIR"
        )

    @property
    def graders(self) -> Path:
        return self.root / "graders"

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def labs(self) -> dict[str, Lab]:
        """Every lab the graders declare, by name, in file-name order."""
        return {name: lab for name, (lab, _) in _discover(self.graders).items()}

    def checks(self, name: str) -> list[Check]:
        """The checks the grader of lab ``name`` runs, as pytest would collect them."""
        lab = self.lab(name)
        _, module = _discover(self.graders)[name]
        found = []
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not cls.__name__.startswith("Test") or cls.__module__ != module.__name__:
                continue
            for attribute, function in inspect.getmembers(cls, inspect.isfunction):
                marks = [m for m in getattr(function, "pytestmark", []) if m.name == "check"]
                if attribute.startswith("test_") and marks:
                    found.append(check_of(lab, attribute, function, marks[0]))
        return found

    @property
    def hidden_points(self) -> dict[str, float]:
        """Points of hidden checks that a student release of the course left out, by lab."""
        path = self.graders / HIDDEN_POINTS
        if not path.is_file():
            return {}
        return {str(lab): float(points) for lab, points in json.loads(path.read_text()).items()}

    def lab(self, name: str) -> Lab:
        """The lab called ``name``; an unknown name raises CourseError naming the labs there are."""
        try:
            return self.labs[name]
        except KeyError:
            raise CourseError(
                f"unknown lab {name!r}: choose one of {', '.join(self.labs)}"
            ) from None


def check_of(lab: Lab, test_name: str, function: Any, mark: Any) -> Check:
    """The check a grader's test is, from its ``check`` mark and its docstring's first line."""
    check = test_name.split("[", 1)[0].removeprefix("test_")
    description = (getattr(function, "__doc__", None) or test_name).strip().splitlines()[0]
    default = float(mark.kwargs.get("points", 1))
    hidden = bool(mark.kwargs.get("hidden", False))
    return Check(check, mark.args[0], description, lab.points_for(check, default), hidden)


def labs_table(course: Course) -> str:
    """The course's labs as a Markdown table, for a README: what each one asks for."""
    lines = [
        "| lab | dataset | layers (output shape) | parameters | functions | points |",
        "|---|---|---|---|---|---|",
    ]
    for name, lab in course.labs.items():
        layers = " -> ".join(
            " ".join(filter(None, (layer.kind, layer.activation.replace("output", ""))))
            + f" {_shape(layer.output_shape)}"
            for layer in lab.layers
        )
        checks = course.checks(name)
        points = sum(check.points for check in checks if not check.hidden)
        hidden = sum(check.points for check in checks if check.hidden)
        shown = f"{points:g} + {hidden:g} hidden" if hidden else f"{points:g}"
        lines.append(
            f"| `{name}` | {lab.dataset.name} | {layers} | {lab.total_params:,} | "
            f"{', '.join(f'`{n}`' for n in lab.api_names)} | {shown} |"
        )
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, shape)) + ")"


@functools.cache
def _discover(graders: Path) -> dict[str, tuple[Lab, ModuleType]]:
    labs = {}
    for path in grader_files(graders):
        found = declaration(path)
        if found is None:
            continue
        problem = misnamed(path, found[0])
        if problem:
            raise CourseError(f"{path}: {problem}")
        labs[found[0].name] = found
    return labs


def grader_files(graders: Path) -> list[Path]:
    """The grader modules in ``graders``, in file-name order; each may declare one lab."""
    return sorted(graders.glob(f"{GRADER_PREFIX}*.py"))


def declaration(path: Path) -> tuple[Lab, ModuleType] | None:
    """The LAB a grader module declares, and the module; None for a module without one.

    The lab's name is not compared with the file's here: see ``misnamed``.
    """
    name = f"labkit_course_{abs(hash(str(path.parent)))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"cannot import the grader {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pytest look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise CourseError(
            f"the grader {path} does not import: {type(error).__name__}: {error}"
        ) from error
    lab = getattr(module, "LAB", None)
    if lab is None:
        return None
    if not isinstance(lab, Lab):
        raise CourseError(f"{path}: LAB must be a labkit.spec.lab.Lab, not {type(lab).__name__}")
    return lab, module


def misnamed(path: Path, lab: Lab) -> str | None:
    """What to rename when the grader's file and its lab have different names, else None."""
    expected = path.stem.removeprefix(GRADER_PREFIX)
    if lab.name == expected:
        return None
    return (
        f"the lab is named {lab.name!r}: name the file {GRADER_PREFIX}{lab.name}.py, "
        f"or the lab {expected!r}"
    )
