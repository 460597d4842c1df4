"""Run a submission's harvest in a child process with limits, and read back what it left.

Usage: ``result = sandbox.run(lab, module_path, workdir, Limits())``
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit import checks, datasets, harvest, notebooks
from labkit.checks import CheckFailed
from labkit.labs import Lab

# A fixed training history for plot_history(): distinct values make each line identifiable.
HISTORY = {
    "accuracy": [0.45, 0.58, 0.63, 0.67, 0.69, 0.71],
    "val_accuracy": [0.52, 0.57, 0.61, 0.62, 0.64, 0.65],
    "loss": [1.52, 1.17, 1.04, 0.94, 0.87, 0.82],
    "val_loss": [1.33, 1.21, 1.10, 1.07, 1.04, 1.02],
}
PREPROCESS_SAMPLE = 64
PLOT_SAMPLE = 30  # more than 25, so the grid must pick the first 25 itself
MAX_FILE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Limits:
    """What one lab's child process may use."""

    seconds: float = 120.0
    memory_bytes: int = 4 * 2**30


@dataclass(frozen=True)
class Step:
    status: str
    message: str = ""


@dataclass
class Harvest:
    """What a submission's child process left behind for one lab, read defensively."""

    lab: Lab
    module_path: Path | None
    folder: Path
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    problem: str = ""

    def step(self, name: str) -> Step:
        """How step ``name`` ended; a step the child never finished says why."""
        found = self.steps.get(name)
        if found is not None and found.status != harvest.STARTED:
            return found
        if found is not None:
            return Step(
                harvest.ERROR, f"the submission's process stopped while running it: {self.problem}"
            )
        if self.problem:
            return Step(harvest.ERROR, f"never ran: {self.problem}")
        return Step(harvest.SKIPPED, "never ran")

    def require(self, name: str) -> None:
        """Raise CheckFailed, saying what to fix, unless step ``name`` succeeded."""
        if self.module_path is None:
            raise CheckFailed(f"not submitted: no {self.lab.name}.py was found")
        outcome = self.step("import")
        if outcome.status != harvest.OK:
            if "import" not in self.steps and self.problem:
                raise CheckFailed(self.problem)
            raise CheckFailed(f"{self.module_path.name} could not be imported: {outcome.message}")
        outcome = self.step(name)
        shown = name if name.isupper() else f"{name}()"
        if outcome.status == harvest.TODO:
            raise CheckFailed(f"{shown} is still a TODO: {checks.todo_text(outcome.message)}")
        if outcome.status != harvest.OK:
            raise CheckFailed(f"{shown}: {outcome.message}")

    def file(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            raise CheckFailed(f"the grader found no usable {name} from your submission")
        return path


def run(lab: Lab, module_path: Path | None, workdir: Path, limits: Limits) -> Harvest:
    """Harvest ``module_path`` for ``lab`` in a child process; never raises for student faults."""
    folder = workdir / lab.name
    (folder / "scratch").mkdir(parents=True, exist_ok=True)
    result = Harvest(lab, module_path, folder, inputs=_inputs(lab))
    if module_path is None:
        result.problem = "not submitted"
        return result
    notebook = None
    if module_path.suffix == ".ipynb":
        try:
            module_path, notebook = _module_from_notebook(module_path, folder / "notebook", lab)
        except notebooks.NotebookUnreadable as error:
            result.problem = str(error)
            return result
    np.savez(folder / harvest.INPUTS, **{k: v for k, v in result.inputs.items() if k != "history"})
    (folder / harvest.HISTORY).write_text(json.dumps(HISTORY), encoding="utf-8")
    result.problem = _run_child(lab, module_path.resolve(), folder, limits)
    result.steps = _read_events(folder / harvest.EVENTS)
    if not result.problem and result.steps.get("harvest") != Step(harvest.OK):
        result.problem = "the process ended early: remove any exit(), quit() or os._exit() calls"
    if notebook is not None:  # point at the student's cells, not at the module made of them
        result.steps = {
            k: Step(s.status, notebook.locate(s.message)) for k, s in result.steps.items()
        }
        result.problem = notebook.locate(result.problem)
    return result


def _module_from_notebook(notebook: Path, folder: Path, lab: Lab) -> tuple[Path, notebooks.Module]:
    """Write the module a notebook defines next to nothing else; its cells are not run."""
    folder.mkdir(exist_ok=True)
    converted = notebooks.convert(notebook, lab)
    module = folder / converted.filename
    module.write_text(converted.text, encoding="utf-8")
    return module, converted


def _inputs(lab: Lab) -> dict[str, Any]:
    (x_train, y_train), _ = datasets.load(lab.dataset)
    return {
        "preprocess_images": x_train[:PREPROCESS_SAMPLE].copy(),
        "sample_images": x_train[:PLOT_SAMPLE].copy(),
        "sample_labels": y_train[:PLOT_SAMPLE].copy(),
        "history": HISTORY,
    }


def _run_child(lab: Lab, module_path: Path, folder: Path, limits: Limits) -> str:
    """Run the harvest child; return what went wrong with the process, or ''."""
    command = [sys.executable, "-m", "labkit.harvest", lab.name, str(module_path), str(folder)]
    with (folder / harvest.OUTPUT).open("wb") as output:
        child = subprocess.Popen(
            command,
            cwd=folder / "scratch",
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=_child_environment(),
            start_new_session=True,  # its own process group, so a timeout kills all it started
            preexec_fn=lambda: _apply_limits(limits),
        )
        try:
            code = child.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            return (
                f"timed out after {limits.seconds:g} s: look for an endless loop, or for "
                "training or downloading at import time"
            )
        finally:
            _kill_group(child)  # whatever the child left running
    return _explain_exit(code, limits)


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="-1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _apply_limits(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(limits.seconds * 2) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _explain_exit(code: int, limits: Limits) -> str:
    if code == 0:
        return ""
    if code == -signal.SIGKILL:
        return f"killed, probably for using more than {limits.memory_bytes / 2**30:g} GiB of memory"
    if code == -signal.SIGXCPU:
        return "used too much CPU time: look for an endless loop"
    if code == -signal.SIGXFSZ:
        return "wrote a file or output larger than the grader allows"
    if code < 0:
        return f"crashed with signal {signal.Signals(-code).name}"
    return f"exited with status {code}: remove any exit(), quit() or os._exit() calls"


def _read_events(path: Path) -> dict[str, Step]:
    steps: dict[str, Step] = {}
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        return steps
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
            steps[str(event["step"])] = Step(str(event["status"]), str(event["message"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line the submission scribbled over; the steps it hid read as missing
    return steps
