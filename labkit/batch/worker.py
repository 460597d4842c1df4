"""Grade submission after submission in one warm process: a batch worker, local or on Dask.

A worker grades each submission exactly as ``labkit grade`` does (the same pytest graders,
sandbox and checks), lending its fork server to each run. It starts the server, and imports
TensorFlow, only once a submission needs them: a worker that re-judges kept harvests,
training runs and architectures (``labkit.grading``) needs neither.

A task names the folder its submission's files are staged in, on this machine, or carries
the files themselves to a worker on another one (Dask); it returns what grading wrote, as
plain data.

A process of the local pool (``labkit.batch.pool``) runs ``serve``: it grades the tasks its
pipe brings until the pipe closes, and ends, with its fork server, when the process that
started it does.

Usage::

    task = Task("smithj", Options(course=Path("course")), folder=Path("staged/smithj"))
    done = grade(task)  # in a worker: done.results, done.artifacts
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.sandbox import runner
from labkit.spec.limits import Limits

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_WORKER: Worker | None = None  # this process's warm worker, made on its first task
_ENDING = threading.Event()  # set once this pool process was told to end, mid-task or not
_OWN_PROCESS = False  # a pool process (``serve``), which runs nothing but submissions
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Options:
    """How every submission of a batch is graded."""

    course: Path
    isolation: str = "auto"
    limits: Limits = field(default_factory=Limits)
    labs: tuple[str, ...] = ()
    cache: str = ""  # the grading cache's folder, or "off"; classrun sets its own default


@dataclass(frozen=True)
class Task:
    """One submission to grade: its files staged in ``folder`` on this machine, or, for a
    worker that may be on another, carried along in ``files``."""

    student: str
    options: Options
    folder: Path | None = None
    files: dict[str, bytes] = field(default_factory=dict)

    def carrying_files(self) -> Task:
        """This task with its staged files read into it, so that it can travel."""
        if self.folder is None:
            return self
        files = {path.name: path.read_bytes() for path in sorted(self.folder.iterdir())}
        return Task(self.student, self.options, files=files)


@dataclass(frozen=True)
class Done:
    """What grading one submission gave: the results file's data, or why there is none."""

    student: str
    results: dict[str, Any] | None
    artifacts: dict[str, bytes] = field(default_factory=dict)  # "<lab>/<file>": content
    seconds: float = 0.0
    problem: str = ""
    rejudged: bool = False  # every lab judged a kept harvest: no code of the submission ran


def grade(task: Task) -> Done:
    """Grade one submission in this process's warm worker, making the worker if needed."""
    global _WORKER
    if _WORKER is None or _WORKER.options != task.options:
        if _WORKER is not None:
            _WORKER.close()
        _WORKER = Worker(task.options)
        # A pool's worker process ends without atexit; its finalizers still run, and ending
        # the fork server there lets its CPU time count for the process that started it.
        multiprocessing.util.Finalize(_WORKER, _WORKER.close, exitpriority=10)
    return _WORKER.grade(task)


class Worker:
    """One process's fork server and TensorFlow, started when first needed and kept warm
    across submissions."""

    def __init__(self, options: Options) -> None:
        from labkit.spec.course import Course

        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # for when TensorFlow is imported, if ever
        self.options = options
        self.course = Course(options.course)
        self.folder = Path(tempfile.mkdtemp(prefix="labkit-worker-"))
        # Passed through, never listed, by children that run as unprivileged users; what
        # each submission leaves is in a folder of its own, root's alone.
        self.folder.chmod(0o711)
        data = [lab.dataset for lab in self.course.labs.values()]
        self.server = runner.start_server(self.folder / "server", options.isolation, data)
        if not self.server.forks:
            # Without a fork server, training runs in this process: its settings come first.
            from labkit.grading.quiet import quiet_tensorflow
            from labkit.sandbox import training

            quiet_tensorflow()
            training.make_deterministic()

    def grade(self, task: Task) -> Done:
        from labkit.grading.plugin import CacheLog

        started = time.monotonic()
        run = Path(tempfile.mkdtemp(prefix="submission-", dir=self.folder))
        try:
            submission = run / "submission"
            submission.mkdir()
            if task.folder is not None:
                for path in task.folder.iterdir():
                    shutil.copyfile(path, submission / path.name, follow_symlinks=False)
            for name, content in task.files.items():
                (submission / Path(name).name).write_bytes(content)
            results, kept = run / "results.json", run / "artifacts"
            problem = self._pytest(submission, results, kept, run / "reused.json")
            found = json.loads(results.read_text(encoding="utf-8")) if results.is_file() else None
            return Done(
                task.student,
                found,
                _read_artifacts(kept),
                round(time.monotonic() - started, 1),
                "" if found is not None else problem,
                CacheLog.read(run / "reused.json").rejudged,
            )
        finally:
            shutil.rmtree(run, ignore_errors=True)

    def _pytest(self, submission: Path, results: Path, kept: Path, log: Path) -> str:
        import pytest

        from labkit.grading import invocation
        from labkit.grading.capture import captured_output
        from labkit.grading.plugin import SharedServer

        options = self.options
        args = [
            str(self.course.graders),
            *invocation.isolated_args(self.course.graders, results.parent),
            *("--submission", str(submission), "--results", str(results)),
            *("--artifacts", str(kept), "--isolation", options.isolation),
            *options.limits.to_args(),
            *(("--grading-cache", options.cache) if options.cache else ()),
            *("--cache-log", str(log)),
            *("--quiet", "--no-header", "--tb=no", "-p", "no:warnings"),
        ]
        for name in options.labs:
            args += ["--lab", name]
        with invocation.isolated_environment(), captured_output() as captured:
            code = pytest.main(args, plugins=[SharedServer(self.server)])
        keras = sys.modules.get("keras")  # imported only once a model had to be built
        if keras is not None:
            keras.backend.clear_session()  # models the checks built, from this submission
        if _OWN_PROCESS:
            # What is left is the worker's own (modules, their caches) and lives as long as
            # it does: frozen, the collector no longer walks it for each submission, which
            # was a fifth of a re-judge. Not in a Dask worker, whose own objects could
            # become garbage the collector then never frees.
            gc.freeze()
        errors = [line for line in captured.text.splitlines() if line.startswith("ERROR")]
        return (errors[-1] if errors else f"grading stopped (pytest exit code {code})")[:500]

    def close(self) -> None:
        if self.folder.exists():
            self.server.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def serve(tasks: Connection, parent: int, scratch: str = "") -> None:
    """A pool process: grade each task ``tasks`` brings and send back its ``Done``.

    Its temporary files go into ``scratch``, where given: the coordinator removes that
    folder after the process ends, also when it was killed and could not clean up.

    It ends when the pipe closes or brings ``None``, and on SIGTERM, also mid-task: then it
    ends its fork server and sends nothing. On Linux the process that started it sends that
    SIGTERM by dying, so that a coordinator that was killed leaves no worker and no fork
    server behind. Ctrl-C in the terminal is for the coordinator, which then ends its
    workers; a worker is in a process group of its own.
    """
    global _OWN_PROCESS
    _OWN_PROCESS = True
    signal.signal(signal.SIGTERM, _on_sigterm)
    if scratch:
        tempfile.tempdir = scratch
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)
    _end_with(parent)
    try:
        while not _ENDING.is_set():
            try:
                task = tasks.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            try:
                done = grade(task)
            except Exception as error:  # the grader's own failure, not the submission's
                done = Done(task.student, None, problem=f"the worker failed: {error!r}"[:500])
                _close_worker()
            if _ENDING.is_set():
                break
            try:
                tasks.send(done)
            except OSError:  # the coordinator is gone
                break
    finally:
        if _ENDING.is_set():
            threading.Event().wait()  # the thread that ends this process is on its way
        _close_worker()


def _end_with(parent: int) -> None:
    """Have the kernel send this process SIGTERM when ``parent`` ends (Linux)."""
    if sys.platform != "linux":
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the request was made
        _on_sigterm(signal.SIGTERM, None)


def _on_sigterm(number: int, frame: object) -> None:
    """End the worker's fork server, then this process, from a thread of its own: the
    grading the signal interrupted may hold the server's lock."""
    if _ENDING.is_set():
        return
    _ENDING.set()

    def end() -> None:
        with contextlib.suppress(Exception):
            _close_worker()
        os._exit(128 + number)

    threading.Thread(target=end, daemon=True).start()


def _close_worker() -> None:
    global _WORKER
    worker, _WORKER = _WORKER, None
    if worker is not None:
        worker.close()


def _read_artifacts(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
