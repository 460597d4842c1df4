"""A local pool of warm worker processes in which one worker's death costs only its own task.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one of its processes dies
(``BrokenProcessPool``): every pending task fails with it, the other workers are killed
mid-task, and which task killed it is unknown. Here each worker has a pipe of its own and is
handed one task at a time, so the task each one is grading is known. A worker that dies (a
submission that exhausted the machine's memory and got it killed, a grader that called
``os._exit``) costs that task an error row naming the cause; the other workers grade on, and
a fresh process takes over the queue where one is needed.

When the pool ends, normally, on an error or on Ctrl-C, it ends every worker, and each worker
its fork server; a worker also ends when the coordinator dies (``worker.serve``). A worker
keeps its temporary files in a folder the pool removes once the worker has ended, however it
ended. A worker that is still busy with one submission past the longest its grading may take
(every lab's processes at the wall-clock limit) is killed, and that submission's row says the
grader did not finish: never the student's points.

Usage: ``for done in pool.graded(tasks, workers=2): ...``
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from labkit.batch.worker import Done, Options, Task, serve
from labkit.spec.course import Course

STOP_SECONDS = 20.0  # for the workers to end their fork servers, before they are killed
# Beyond its labs' processes: importing, converting notebooks, judging and writing pages.
OVERHEAD_SECONDS = 600.0


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    folder: Path  # its temporary files
    task: Task | None = None  # the one it is grading
    deadline: float = 0.0  # when, on the monotonic clock, its task should long be done


def task_seconds(options: Options) -> float:
    """The longest grading one submission may take: each lab's submission and training
    processes at the wall-clock limit, one after the other, and the work around them."""
    labs = len(options.labs) or len(Course(options.course).labs)
    return labs * 2 * options.limits.wall_seconds + OVERHEAD_SECONDS


def graded(tasks: Sequence[Task], workers: int) -> Iterator[Done]:
    """Grade ``tasks`` in up to ``workers`` processes; yield each one's ``Done`` as it ends."""
    # Spawned, not forked: a worker imports TensorFlow itself, once, for all its tasks.
    context = multiprocessing.get_context("spawn")
    queue = deque(tasks)
    pool: list[_Worker] = []
    scratch = Path(tempfile.mkdtemp(prefix="labkit-pool-"))
    try:
        while queue or any(worker.task for worker in pool):
            for worker in [w for w in pool if w.task is None]:
                if queue:
                    yield from _hand(worker, queue.popleft(), pool)
            while queue and len(pool) < workers:
                worker = _start(context, scratch)
                pool.append(worker)
                yield from _hand(worker, queue.popleft(), pool)
            yield from _collect(pool)
    finally:
        _stop(pool)
        shutil.rmtree(scratch, ignore_errors=True)


def _collect(pool: list[_Worker]) -> Iterator[Done]:
    """Wait for busy workers to answer, up to the first one's deadline; yield what ended."""
    busy = {worker.tasks: worker for worker in pool if worker.task is not None}
    if not busy:
        return
    timeout = max(0.0, min(worker.deadline for worker in busy.values()) - time.monotonic())
    for ready in wait(list(busy), timeout):
        worker = busy.pop(ready)
        task, worker.task = worker.task, None
        assert task is not None
        try:
            done = worker.tasks.recv()
        except Exception:  # its end of the pipe closed: the process died
            pool.remove(worker)
            yield Done(task.student, None, problem=_death(worker))
        else:
            yield done
    for worker in busy.values():
        if worker.task is not None and time.monotonic() >= worker.deadline:
            yield _overdue(worker, pool)


def _start(context: multiprocessing.context.SpawnContext, scratch: Path) -> _Worker:
    ours, theirs = context.Pipe()
    folder = Path(tempfile.mkdtemp(prefix="worker-", dir=scratch))
    process = context.Process(target=serve, args=(theirs, os.getpid(), str(folder)), daemon=False)
    process.start()
    theirs.close()  # so that the pipe closes on our side when the worker dies
    return _Worker(process, ours, folder)


def _hand(worker: _Worker, task: Task, pool: list[_Worker]) -> Iterator[Done]:
    """Give ``worker`` its next task; a worker found dead costs the task a row instead."""
    worker.task = task
    worker.deadline = time.monotonic() + task_seconds(task.options)
    try:
        worker.tasks.send(task)
    except OSError:
        worker.task = None
        pool.remove(worker)
        yield Done(task.student, None, problem=_death(worker))


def _overdue(worker: _Worker, pool: list[_Worker]) -> Done:
    """End a worker that is long past its task's deadline; the task's row says why."""
    task, worker.task = worker.task, None
    assert task is not None
    pool.remove(worker)
    _end(worker)
    return Done(
        task.student,
        None,
        problem=(
            f"the grader did not finish grading this submission in "
            f"{task_seconds(task.options):g} s, longer than all its labs' limits allow; "
            "its worker was stopped. Run the batch again, or grade it alone with labkit grade"
        ),
    )


def _end(worker: _Worker) -> None:
    """Kill a worker and remove its files; its fork server ends as its pipe closes."""
    worker.process.kill()
    worker.process.join()
    worker.tasks.close()
    shutil.rmtree(worker.folder, ignore_errors=True)


def _death(worker: _Worker) -> str:
    """What ended a worker, for the row of the task it had: not the student's points."""
    worker.process.join(timeout=STOP_SECONDS)
    code = worker.process.exitcode
    _end(worker)
    if code is None:
        how = "stopped answering"
    elif code < 0:
        name = _signal_name(-code)
        memory = " (as when the machine runs out of memory)" if -code == 9 else ""
        how = f"was killed by {name}{memory}"
    else:
        how = f"exited with status {code}"
    return (
        f"the worker process grading this submission {how}; the others were not affected. "
        "Run the batch again to grade it again, or grade it alone with labkit grade"
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _stop(pool: list[_Worker]) -> None:
    """End every worker: an idle one is asked to, a busy one (Ctrl-C, an error) is told with
    SIGTERM; each then ends its fork server. One that does not end in time is killed."""
    for worker in pool:
        if worker.task is None:
            with contextlib.suppress(OSError):
                worker.tasks.send(None)
        else:
            worker.process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for worker in pool:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        _end(worker)
