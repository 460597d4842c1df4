"""The grader's training runs, each in a process with its own time and memory limits.

One worker per grading run imports TensorFlow once, while the grader does other work, and
forks a child for each lab's training run: a run that takes too long or too much memory is
ended and costs that lab its training and accuracy points, never the grading run. The worker
itself never trains, so it never needs a restart; if it dies anyway, the next run starts a
new one. Where forking a process that has loaded TensorFlow is unsafe (macOS) or impossible
(Windows), training runs in the grader's own process, without limits.

Usage::

    with Trainer() as trainer:
        result = trainer.train(compiled_path, lab)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from labkit import datasets, labs, training
from labkit.training import TrainingResult

SECONDS = 60.0  # per lab; the reference trains cv4, the slowest lab, in about 12 s on 2 cores
MEMORY_BYTES = 4 * 2**30
STARTUP_SECONDS = 300.0  # importing TensorFlow on a slow laptop, under load
FORKS = sys.platform == "linux"
MAX_REPLY_BYTES = 2**16


class Trainer:
    """The grader's end of the training worker, started by ``start`` or the first run."""

    def __init__(
        self, seconds: float | None = None, memory_bytes: int | None = None, forks: bool = FORKS
    ) -> None:
        self.seconds = SECONDS if seconds is None else seconds
        self.memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes
        self._forks = forks
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker now, so that it imports TensorFlow while the grader works."""
        with self._lock:
            if self._forks and self._process is None:
                self._process = _start_worker()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def train(self, compiled_path: Path, lab: labs.Lab) -> TrainingResult:
        """Train a fresh copy of the model at ``compiled_path``; never raises."""
        if not self._forks:
            return training.train(compiled_path, lab)
        request = {
            "compiled": str(compiled_path),
            "lab": lab.name,
            "seconds": self.seconds,
            "memory_bytes": self.memory_bytes,
        }
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = _start_worker()
            reply = _ask(self._process, request, STARTUP_SECONDS + self.seconds)
            if reply is None:  # the worker died or hung: end it; the next lab gets a new one
                _stop(self._process)
                self._process = None
                return TrainingResult(error="the grader's training process stopped unexpectedly")
        return _result(reply)

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                _stop(self._process)
                self._process = None


def _start_worker() -> subprocess.Popen[bytes]:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    return subprocess.Popen(
        [sys.executable, "-m", "labkit.trainer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment,
        start_new_session=True,  # Ctrl-C in the terminal reaches the grader, not the worker
    )


def _ask(process: subprocess.Popen[bytes], request: dict[str, Any], seconds: float) -> Any:
    """Send one request and wait up to ``seconds`` for its reply; None if none came."""
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
    except OSError:
        return None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    if not ready:
        return None
    line = process.stdout.readline(MAX_REPLY_BYTES)
    try:
        return json.loads(line)
    except ValueError:
        return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the worker and a child still training
        process.wait()


def _result(reply: Any) -> TrainingResult:
    names = {item.name for item in dataclasses.fields(TrainingResult)}
    if not isinstance(reply, dict):
        return TrainingResult(error="the grader's training process sent no result")
    return TrainingResult(**{key: value for key, value in reply.items() if key in names})


# -- the worker's side ------------------------------------------------------------------------


def serve(requests: Any, replies: int) -> None:
    """Answer each request line with one reply line, training each lab in a forked child."""
    for line in requests:
        request = json.loads(line)
        lab = labs.get(request["lab"])
        datasets.load(lab.dataset)  # read once, here, and shared by every later child
        reply = _train_in_child(Path(request["compiled"]), lab, request)
        os.write(replies, (json.dumps(reply) + "\n").encode())


def _train_in_child(compiled: Path, lab: labs.Lab, request: dict[str, Any]) -> dict[str, Any]:
    seconds = float(request["seconds"])
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        _child(compiled, lab, int(request["memory_bytes"]), seconds, writer)  # never returns
    os.close(writer)
    output, finished = _read_until(reader, time.monotonic() + seconds)
    os.close(reader)
    if not finished:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not finished:
        return {"error": f"training took longer than the grader allows ({seconds:g} s){_HINT}"}
    try:
        return json.loads(output)
    except ValueError:
        return {"error": _explain(os.waitstatus_to_exitcode(status), request)}


_HINT = (
    ": a model for this lab trains in a few seconds. Check the filters, units, padding and "
    "pooling against the lab's table"
)


def _read_until(reader: int, deadline: float) -> tuple[bytes, bool]:
    """What the child wrote before it closed its end; False if the deadline came first."""
    chunks: list[bytes] = []
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([reader], [], [], left)
        if ready:
            chunk = os.read(reader, MAX_REPLY_BYTES)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
    return b"".join(chunks), False


def _child(compiled: Path, lab: labs.Lab, memory_bytes: int, seconds: float, writer: int) -> None:
    code = 1
    try:
        _limit(memory_bytes, seconds)
        training.make_deterministic()
        result = training.train(compiled, lab, verbose=0)
        os.write(writer, json.dumps(dataclasses.asdict(result)).encode())
        code = 0
    finally:
        os._exit(code)  # TensorFlow's teardown takes a second and there is nothing to save


def _limit(memory_bytes: int, seconds: float) -> None:
    import resource

    cpu = int(seconds * training.THREADS) + 5
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _explain(code: int, request: dict[str, Any]) -> str:
    if code == -signal.SIGXCPU:
        return f"training used more CPU time than the grader allows{_HINT}"
    memory = f"{int(request['memory_bytes']) / 2**30:g} GiB"
    return (
        f"training stopped (exit status {code}), probably for using more than {memory} of "
        "memory: check the filters, units, padding and pooling against the lab's table"
    )


def main() -> None:
    # Ctrl-C belongs to the grader, which ends this worker when it is done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints must not corrupt the replies
    import keras  # noqa: F401  -- imported before the first fork, never started here
    import tensorflow  # noqa: F401

    serve(sys.stdin.buffer, replies)
    os._exit(0)


if __name__ == "__main__":
    main()
