"""A local pool of warm worker processes in which one worker's death costs only its own task.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one of its processes dies
(``BrokenProcessPool``): every pending task fails with it, the other workers are killed
mid-task, and which task killed it is unknown. Here each worker has a pipe of its own and is
handed one task at a time, so the task each one is grading is known. A worker that dies (a
submission that exhausted the machine's memory and got it killed, a grader that called
``os._exit``) costs that task an error row naming the cause; the other workers grade on, and
a fresh process takes over the queue where one is needed.

When the pool ends, normally, on an error or on Ctrl-C, it ends every worker, and each worker
its fork server; a worker also ends when the coordinator dies (``worker.serve``).

Usage: ``for done in pool.graded(tasks, workers=2): ...``
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from labkit.batch.worker import Done, Task, serve

STOP_SECONDS = 20.0  # for the workers to end their fork servers, before they are killed


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    task: Task | None = None  # the one it is grading


def graded(tasks: Sequence[Task], workers: int) -> Iterator[Done]:
    """Grade ``tasks`` in up to ``workers`` processes; yield each one's ``Done`` as it ends."""
    # Spawned, not forked: a worker imports TensorFlow itself, once, for all its tasks.
    context = multiprocessing.get_context("spawn")
    queue = deque(tasks)
    pool: list[_Worker] = []
    try:
        while queue or any(worker.task for worker in pool):
            for worker in [w for w in pool if w.task is None]:
                if queue:
                    yield from _hand(worker, queue.popleft(), pool)
            while queue and len(pool) < workers:
                worker = _start(context)
                pool.append(worker)
                yield from _hand(worker, queue.popleft(), pool)
            busy = {worker.tasks: worker for worker in pool if worker.task is not None}
            for ready in wait(list(busy)) if busy else []:
                worker = busy[ready]
                task, worker.task = worker.task, None
                assert task is not None
                try:
                    done = worker.tasks.recv()
                except Exception:  # its end of the pipe closed: the process died
                    pool.remove(worker)
                    yield Done(task.student, None, problem=_death(worker))
                else:
                    yield done
    finally:
        _stop(pool)


def _start(context: multiprocessing.context.SpawnContext) -> _Worker:
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(theirs, os.getpid()), daemon=False)
    process.start()
    theirs.close()  # so that the pipe closes on our side when the worker dies
    return _Worker(process, ours)


def _hand(worker: _Worker, task: Task, pool: list[_Worker]) -> Iterator[Done]:
    """Give ``worker`` its next task; a worker found dead costs the task a row instead."""
    worker.task = task
    try:
        worker.tasks.send(task)
    except OSError:
        worker.task = None
        pool.remove(worker)
        yield Done(task.student, None, problem=_death(worker))


def _death(worker: _Worker) -> str:
    """What ended a worker, for the row of the task it had: not the student's points."""
    worker.process.join(timeout=STOP_SECONDS)
    worker.tasks.close()
    code = worker.process.exitcode
    if code is None:
        worker.process.kill()
        worker.process.join()
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
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.tasks.close()
