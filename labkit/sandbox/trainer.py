"""The grader's training runs, each in a child process with its own CPU-time and memory limits.

A run that needs too much is ended and costs that lab its training and accuracy points,
never the grading run. Its limits are load-independent: CPU time, not wall-clock time, so a
busy machine slows a run down without failing it, and a wall-clock backstop only ends a run
that has stalled. A run that fails for a reason that is not the submitted model's (a crash,
a stall, or limits that a model of the lab's own size runs into) is a grader fault: the
checks say "could not grade", never that the student's model is wrong.

The children come from the run's fork server, the same warm process as the harvest children,
so training pays for no TensorFlow import of its own. Where there is no fork server (macOS,
Windows), training runs in the grader's own process, without limits.

Usage::

    trainer = Trainer(server, Limits())
    result = trainer.train(compiled_path, lab, folder)
"""

from __future__ import annotations

import signal
from pathlib import Path

from labkit.sandbox import forkserver, isolation, screen, training
from labkit.sandbox.training import TrainingResult
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

RESULT = "training.json"
OUTPUT = "training.txt"
MAX_RESULT_BYTES = 2**16
# A model within this multiple of the lab's computation is the lab's own size: if it runs
# out of time or memory, the limits are too tight for this machine, not the model too big.
LAB_SIZED = 1.5
LIMIT_OPTIONS = "--training-limit, --memory-limit and --wall-limit"


class Trainer:
    """Trains submitted models in children of ``server``, or in-process without one."""

    def __init__(self, server: isolation.Server | None, limits: Limits) -> None:
        self.server = server if server is not None and server.forks else None
        self.cpu_seconds = limits.training_seconds
        self.memory_bytes = limits.memory_bytes
        self.wall_seconds = limits.wall_seconds

    def train(self, compiled_path: Path, lab: Lab, folder: Path) -> TrainingResult:
        """Train a fresh copy of the model at ``compiled_path``, writing into ``folder``."""
        if self.server is None:
            return training.train(compiled_path, lab)
        folder.mkdir(parents=True, exist_ok=True)
        result = folder / RESULT
        result.unlink(missing_ok=True)
        request = {
            "task": "train",
            "lab": lab.to_json(),
            "compiled": str(compiled_path),
            "result": str(result),
            "scratch": str(folder),
            "output": str(folder / OUTPUT),
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": self.cpu_seconds,
            "file_bytes": MAX_RESULT_BYTES,
        }
        child = self.server.start(request, [compiled_path.parent], [folder], self.memory_bytes)
        try:
            finished = child.wait(self.wall_seconds)
        finally:
            child.kill()
        if child.pid is None:
            return _grader_error("the grader's helper process stopped before training started")
        if not finished:
            return _grader_error(
                f"the grader's training run was still going after {self.wall_seconds:g} s "
                "without using up its CPU time, so it stalled"
            )
        found = _read(result)
        if found is not None:
            return found
        code = -signal.SIGXCPU if child.over_cpu else child.code  # its tree, as one process
        return self._explain(code, compiled_path, lab, folder / OUTPUT)

    def _explain(
        self, code: int | None, compiled_path: Path, lab: Lab, output: Path
    ) -> TrainingResult:
        """Why a training child ended without a result, and whose fault that is."""
        name = forkserver.signal_name(-code) if code is not None and code < 0 else ""
        if name == "SIGXCPU":
            used = f"more than {self.cpu_seconds:g} s of CPU time"
        elif name == "SIGKILL":
            used = f"more than {self.memory_bytes / 2**30:g} GiB of memory"
        else:
            return _grader_error(f"the grader's training process failed (exit status {code})")
        ratio = screen.work_ratio(compiled_path, lab)
        if ratio <= LAB_SIZED:
            return _grader_error(
                f"training a model of this lab's size used {used}: the limits are too tight "
                f"for this machine. Raise {LIMIT_OPTIONS}"
            )
        return TrainingResult(
            error=f"training used {used}: your model needs about {ratio:.1f} times the "
            "computation of the lab's model. Compare each layer's filters, units, padding and "
            "pooling with the lab's table",
            limited=True,
        )


def _read(path: Path) -> TrainingResult | None:
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            return None
        return TrainingResult.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def _grader_error(message: str) -> TrainingResult:
    return TrainingResult(grader_error=message)
