"""The grader's training runs, each in a child process with its own time and memory limits.

A run that takes too long or too much memory is ended and costs that lab its training and
accuracy points, never the grading run. The children come from the run's fork server, the
same warm process as the harvest children, so training pays for no TensorFlow import of its
own. Where there is no fork server (macOS, Windows), training runs in the grader's own
process, without limits.

Usage::

    trainer = Trainer(server)
    result = trainer.train(compiled_path, lab, folder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit import forkserver, isolation, training
from labkit.lab import Lab
from labkit.training import TrainingResult

SECONDS = 60.0  # per lab; a lab should train its reference in seconds (see `nox -s bench`)
MEMORY_BYTES = 4 * 2**30
RESULT = "training.json"
OUTPUT = "training.txt"
MAX_RESULT_BYTES = 2**16
HINT = (
    ": a model for this lab trains in a few seconds. Check the filters, units, padding and "
    "pooling against the lab's table"
)


class Trainer:
    """Trains submitted models in children of ``server``, or in-process without one."""

    def __init__(
        self,
        server: isolation.Server | None,
        seconds: float | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        self.server = server if server is not None and server.forks else None
        self.seconds = SECONDS if seconds is None else seconds
        self.memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes

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
            "cpu_seconds": int(self.seconds * training.THREADS) + 5,
            "file_bytes": MAX_RESULT_BYTES,
        }
        child = self.server.start(request, [compiled_path.parent], [folder], self.memory_bytes)
        try:
            finished = child.wait(self.seconds)
        finally:
            child.kill()
        if not finished:
            return TrainingResult(
                error=f"training took longer than the grader allows ({self.seconds:g} s){HINT}"
            )
        return _read(result, child.code, self.memory_bytes)


def train_in_child(request: dict[str, Any]) -> None:
    """The child's side: train and write the result; called in a fresh fork of the server."""
    training.make_deterministic()
    result = training.train(Path(request["compiled"]), Lab.from_json(request["lab"]), verbose=0)
    Path(request["result"]).write_text(result.to_json(), encoding="utf-8")


def _read(path: Path, code: int | None, memory_bytes: int) -> TrainingResult:
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            raise ValueError("too large")
        return TrainingResult.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        pass
    if code is not None and code < 0 and forkserver.signal_name(-code) == "SIGXCPU":
        return TrainingResult(error=f"training used more CPU time than the grader allows{HINT}")
    return TrainingResult(
        error=f"training stopped (exit status {code}), probably for using more than "
        f"{memory_bytes / 2**30:g} GiB of memory: check the filters, units, padding and "
        "pooling against the lab's table"
    )
