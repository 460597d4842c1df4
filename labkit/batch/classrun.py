"""Grade a whole class: every submission in a folder, into a gradebook and feedback pages.

Each submission is graded by a warm worker (``labkit.batch.worker``), either in a local pool of
processes or as one task each on a Dask cluster, exactly as ``labkit grade`` grades it. A
broken, hostile or empty submission becomes a gradebook row with its reason; the batch goes
on. Results are written as each submission finishes, so an interrupted batch keeps them,
and a rerun grades again only what changed: a submission is skipped while its content and
the grader's version match what graded it last, unless ``force`` is set.

Outputs in ``out``: ``gradebook.csv``, ``results/<student>.json`` (Gradescope's format),
``feedback/<student>.html`` and ``summary.html``; ``state/`` holds what a rerun needs. A row
that errors removes its student's earlier results and feedback, and is never kept by a rerun.

The submissions' files are staged on disk, in a folder of ``out`` removed at the end, and
never held in memory: a local worker reads them from there. A Dask worker may be on another
machine, so its task carries the files; they are read for each task as it is handed to the
cluster, a few more tasks than it has threads at a time.

Usage: ``labkit grade-batch SUBMISSIONS --out DIR [--workers N] [--force] [--dask ADDRESS]
[--only STUDENT]``
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from labkit.batch import pool
from labkit.batch.worker import Done, Options, Task, grade
from labkit.grading.cache import CACHE_ENV, OFF
from labkit.intake import classfolder
from labkit.report import checkresults, feedback, gradebook, summary
from labkit.report.gradebook import FINAL, UNGRADED, Row
from labkit.report.plots import Plots
from labkit.spec.course import Course

STATE_VERSION = "1"


class UnknownStudent(ValueError):
    """``only`` names a student the class folder does not hold, with the closest ids."""


def run(
    submissions: Path,
    out: Path,
    options: Options,
    workers: int | None = None,
    force: bool = False,
    dask: str | None = None,
    progress: bool = True,
    only: Sequence[str] = (),
) -> list[Row]:
    """Grade every submission in ``submissions`` into ``out``; returns the gradebook's rows.

    With ``only``, grade those students again and keep the other rows of the last run.

    The harvests, the grader's training runs and their plots are kept in ``out/cache``
    unless ``options.cache`` or ``$LABKIT_CACHE`` names another folder, or "off".
    """
    if not options.cache:
        options = replace(options, cache=os.environ.get(CACHE_ENV) or str(out / "cache"))
    course = Course(options.course)
    labs = list(options.labs or course.labs)
    # Kept beside the training runs they show: a regrade that reuses those draws no plot.
    plots = Plots(None if options.cache == OFF else Path(options.cache))
    for folder in ("results", "feedback", "state", "artifacts"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    version = grader_version(course, options)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        entries = classfolder.collect(submissions, labs, staging)
        if only:
            _check_known(only, entries)
            chosen = [entry for entry in entries if entry.student in only]
            rows, pending = _sorted_out(out, chosen, version, force=True)
            rows |= _last_rows(out, [entry for entry in entries if entry.student not in only])
        else:
            rows, pending = _sorted_out(out, entries, version, force)

        def write_gradebook() -> list[Row]:
            ordered = [rows[entry.student] for entry in entries if entry.student in rows]
            gradebook.write(out / "gradebook.csv", ordered, labs)
            return ordered

        # Written as each row comes: a batch stopped by any means keeps what it finished.
        write_gradebook()
        graded = _graded(list(pending.values()), options, workers, dask, progress)
        try:
            with contextlib.closing(graded):  # on the way out, whatever the way: ends workers
                for done in graded:
                    entry, digest = pending[done.student]
                    rows[done.student] = _record(out, course, labs, entry, digest, done, plots)
                    write_gradebook()
        finally:
            ordered = write_gradebook()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.write(out / "summary.html", ordered, out / "results", course, labs)
    return ordered


def _sorted_out(
    out: Path, entries: Sequence[classfolder.Entry], version: str, force: bool
) -> tuple[dict[str, Row], dict[str, tuple[classfolder.Entry, str]]]:
    """The rows known without grading (entries with a problem, and unchanged submissions an
    earlier run graded) and the entries to grade, with their content hashes, by student."""
    rows: dict[str, Row] = {}
    pending: dict[str, tuple[classfolder.Entry, str]] = {}
    for entry in entries:
        if entry.problem:
            _forget(out, entry.student)
            rows[entry.student] = Row(entry.student, {}, 0.0, 0.0, "error", entry.problem, 0.0)
            continue
        digest = content_hash(entry.files(), version)
        kept = None if force else _kept_row(out, entry.student, digest)
        if kept is not None:
            rows[entry.student] = kept
        else:
            pending[entry.student] = (entry, digest)
    return rows, pending


def _check_known(only: Sequence[str], entries: Sequence[classfolder.Entry]) -> None:
    """Refuse ids that no entry has, naming the ones they may have meant."""
    known = [entry.student for entry in entries]
    unknown = [student for student in only if student not in known]
    if unknown:
        said = []
        for student in unknown:
            close = difflib.get_close_matches(student, known, n=3)
            said.append(f"{student} (did you mean {', '.join(close)}?)" if close else student)
        raise UnknownStudent(
            f"no submission for {'; '.join(said)} in the class folder: give --only a student "
            "id as the gradebook's student column spells it"
        )


def _last_rows(out: Path, entries: Sequence[classfolder.Entry]) -> dict[str, Row]:
    """The rows the last run wrote for ``entries``, whatever their status, as they stand."""
    rows: dict[str, Row] = {}
    for entry in entries:
        if entry.problem:  # never graded: its row is the same at every run
            rows[entry.student] = Row(entry.student, {}, 0.0, 0.0, "error", entry.problem, 0.0)
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            saved = json.loads((out / "state" / f"{entry.student}.json").read_text("utf-8"))
            rows[entry.student] = Row(**saved["row"])
    return rows


def grader_version(course: Course, options: Options) -> str:
    """A hash of what decides a grade: labkit's code, the course's graders, and the options
    that change what is graded or how (the labs, the limits, the sandbox); not the cache,
    which changes no grade."""
    digest = hashlib.sha256(STATE_VERSION.encode())
    decisive = [options.isolation, asdict(options.limits), sorted(options.labs or course.labs)]
    digest.update(json.dumps(decisive, sort_keys=True).encode())
    package = Path(__file__).resolve().parents[1]
    for path in [*sorted(package.rglob("*.py")), *sorted(course.graders.glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def content_hash(files: Mapping[str, Path], version: str) -> str:
    """A hash of the submission's files, by name, and of the grader's version."""
    digest = hashlib.sha256(version.encode())
    for name in sorted(files):
        with files[name].open("rb") as file:
            content = hashlib.file_digest(file, "sha256").digest()
        digest.update(name.encode() + b"\0" + content)
    return digest.hexdigest()


def _kept_row(out: Path, student: str, digest: str) -> Row | None:
    """The row of an earlier run that graded exactly this submission, if its outputs remain."""
    state = out / "state" / f"{student}.json"
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("hash") != digest or not (out / "results" / f"{student}.json").is_file():
        return None
    row = Row(**saved["row"])
    return row if row.status in FINAL else None


def _graded(
    pending: Sequence[tuple[classfolder.Entry, str]],
    options: Options,
    workers: int | None,
    dask: str | None,
    progress: bool,
) -> Iterator[Done]:
    tasks = [Task(entry.student, options, folder=entry.folder) for entry, _ in pending]
    if not tasks:
        return
    count = workers or os.cpu_count() or 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # workers inherit it: no C++ notices
    if dask:
        source = _on_dask(tasks, [digest for _, digest in pending], dask, count)
    else:
        source = pool.graded(tasks, count)
    with _progress_bar(len(tasks), progress) as advance, contextlib.closing(source):
        for done in source:
            advance()
            yield done


def _on_dask(
    tasks: Sequence[Task], digests: Sequence[str], address: str, workers: int
) -> Iterator[Done]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address == "local":
        # One thread per worker process: each grades one submission at a time, warm.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        address = cluster.scheduler_address
    try:
        with Client(address) as client:
            # Handed over a few at a time, each with its files read just then: the cluster
            # never holds more submissions than it is about to grade, nor does this process.
            waiting = deque(zip(tasks, _task_keys(tasks, digests), strict=True))
            running: dict[str, Task] = {}
            finished = as_completed()

            def hand_over() -> None:
                window = 2 * max(workers, sum(client.nthreads().values()))
                while waiting and len(running) < window:
                    task, key = waiting.popleft()
                    running[key] = task
                    finished.add(client.submit(grade, task.carrying_files(), key=key))

            hand_over()
            for future in finished:
                task = running.pop(future.key)
                hand_over()
                yield _outcome(future, task)
    finally:
        if cluster is not None:
            cluster.close()


def _task_keys(tasks: Sequence[Task], digests: Sequence[str]) -> list[str]:
    """Dask keys for one run's tasks: the student, the content hash and a token of this run.

    A scheduler treats a key it already holds as the same task and hands back its result, and
    one scheduler may serve several runs at once: two classes with the same student name, or
    the same class graded with other options. The run's token keeps each run's tasks its own;
    the content hash says on the dashboard which submission a task grades.
    """
    run = uuid.uuid4().hex[:12]
    return [
        f"labkit-{task.student}-{digest[:12]}-{run}"
        for task, digest in zip(tasks, digests, strict=True)
    ]


def _outcome(future: Any, task: Task) -> Done:
    try:
        return future.result()
    except Exception as error:  # a worker that died grading it, not the submission's points
        return Done(
            task.student,
            None,
            problem=f"the worker failed: {type(error).__name__}: run the batch again to grade "
            "it again, or grade it alone with labkit grade",
        )


@contextlib.contextmanager
def _progress_bar(total: int, shown: bool) -> Iterator[Callable[[], None]]:
    """rich's progress bar with counts and the time left; yields what advances it by one."""
    if not shown:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    task = bar.add_task("grading", total=total)
    with bar:
        yield lambda: bar.advance(task)


def _record(
    out: Path,
    course: Course,
    labs: list[str],
    entry: classfolder.Entry,
    digest: str,
    done: Done,
    plots: Plots,
) -> Row:
    """Write one graded submission's outputs; return its gradebook row.

    What an earlier grading of the student left goes first: a row that errors has no results
    or feedback, and a new feedback page shows only this grading's plots.
    """
    _forget(out, done.student)
    artifacts = out / "artifacts" / done.student
    for name, content in done.artifacts.items():
        path = artifacts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if done.results is None:
        row = Row(done.student, {}, 0.0, 0.0, "error", done.problem, done.seconds)
    else:
        checkresults.write_json(out / "results" / f"{done.student}.json", done.results)
        row = _row(done, labs, entry.notes)
        page = feedback.page(done.student, done.results, artifacts, course, plots)
        (out / "feedback" / f"{done.student}.html").write_text(page, encoding="utf-8")
    checkresults.write_json(
        out / "state" / f"{done.student}.json", {"hash": digest, "row": asdict(row)}
    )
    return row


def _forget(out: Path, student: str) -> None:
    """Remove what an earlier grading of ``student`` left in ``out``."""
    for path in (
        out / "results" / f"{student}.json",
        out / "feedback" / f"{student}.html",
        out / "state" / f"{student}.json",
    ):
        path.unlink(missing_ok=True)
    shutil.rmtree(out / "artifacts" / student, ignore_errors=True)


def _row(done: Done, labs: list[str], notes: Sequence[str]) -> Row:
    assert done.results is not None
    tests = done.results["tests"]
    scores = {lab: sum(t["score"] for t in tests if t["tags"][0] == lab) for lab in labs}
    unsubmitted = {
        t["tags"][0]
        for t in tests
        if t["tags"][1] == "submission" and t["output"].startswith(checkresults.NOT_SUBMITTED)
    }
    missing = [lab for lab in labs if lab in unsubmitted]
    ungraded = [t["name"] for t in tests if UNGRADED in t["tags"][2:]]
    reasons = [f"{UNGRADED}: {', '.join(ungraded)}"] if ungraded else []
    reasons += [f"not submitted: {', '.join(missing)}"] if missing else []
    status = UNGRADED if ungraded else "partial" if missing else "graded"
    return Row(
        done.student,
        scores,
        float(done.results["score"]),
        float(done.results["max_score"]),
        status,
        "; ".join([*reasons, *notes]),
        done.seconds,
        gradebook.REJUDGED if done.rejudged else gradebook.AFRESH,
    )
