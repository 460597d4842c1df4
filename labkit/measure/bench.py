"""Where grading time goes: per lab, and for whole runs on the reference and the stubs.

Figures depend on the processor, so each is also given against a baseline measured in the
same run: a bare ``import tensorflow``, and for training a matmul peak.

Then the figures of a grader that reuses its own work, each with the caches' hit rates
beside it (every grading run appends its cache lookups to ``$LABKIT_CACHE_LOG``):

- ``second``: a student's second grade of the heaviest lab after a change to a figure
  function only (``plot_samples``), with the first grade's caches;
- ``class``: a realistic class (``--class-size``, two in three correct: the reference and
  ``tests/submissions/equivalent`` in turn, the rest one mistake of ``tests/mistakes.py``
  each) graded cold by ``grade-batch``'s local pool, then the same class regraded after a
  threshold change in a copy of the course.

Usage: ``nox -s bench -- [--part labs|sandbox|runs|second|class] [--repeat 3] [--lab NAME]
[--class-size 24] [--workers N]`` (or ``python -m labkit.measure.bench``); a quick run:
``--part class --class-size 6 --lab LAB``.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.grading.plugin import CACHE_LOG_ENV, HIT
from labkit.grading.quiet import quiet_tensorflow
from labkit.sandbox import forkserver, isolation, runner, screen, training
from labkit.spec.course import Course, CourseError
from labkit.spec.lab import FIGURE, Lab
from labkit.spec.limits import Limits

MATMUL_SIZE = 1024
PARTS = ("labs", "sandbox", "runs", "second", "class")
CORRECT_SHARE = 2 / 3  # of a realistic class: the rest make one mistake each


@dataclass(frozen=True)
class RunFigures:
    """One whole ``labkit grade`` run: wall and CPU seconds, and the process tree's peak memory."""

    wall: float
    cpu: float
    peak_bytes: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.measure.bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; medians shown")
    parser.add_argument("--lab", action="append", default=[], help="only this lab")
    parser.add_argument("--course", type=Path, help="the course folder (default: as labkit grade)")
    parser.add_argument(
        "--part", action="append", choices=PARTS, default=[], help="only this part (default: all)"
    )
    parser.add_argument("--class-size", type=int, default=24, help="students in the class figure")
    parser.add_argument("--workers", type=int, help="batch workers (default: one per core)")
    args = parser.parse_args(argv)
    try:
        course = Course.find(args.course)
        chosen = [course.lab(name) for name in args.lab] or list(course.labs.values())
    except CourseError as error:
        parser.error(str(error))
    parts = args.part or list(PARTS)
    print(f"machine: {_processor()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    baseline = _median(args.repeat, _import_tensorflow)
    print(f"bare `import tensorflow`: {baseline:.2f} s wall (the unit for the ratios below)\n")
    if "labs" in parts:
        quiet_tensorflow()
        training.make_deterministic()
        peak = _matmul_peak()
        print(
            f"TensorFlow matmul peak ({MATMUL_SIZE}x{MATMUL_SIZE} float32): {peak.wall:.0f} "
            f"GFLOP/s, {peak.cpu:.0f} GFLOP per CPU-second; training's share of each:"
        )
        print(_per_lab(chosen, peak, course.reference), end="\n\n")
    if "sandbox" in parts:
        print(_isolation_overhead(chosen, args.repeat, course.reference), end="\n\n")
    if "runs" in parts:
        print(_whole_runs(course, chosen, args.repeat, baseline), end="\n\n")
    if "second" in parts:
        print(_second_grade(course, chosen, args.repeat, baseline), end="\n\n")
    if "class" in parts:
        labs = [lab.name for lab in chosen]
        print(_class_figures(course, labs, args.class_size, args.workers, baseline))
    return 0


def _whole_runs(course: Course, chosen: Sequence[Lab], repeat: int, baseline: float) -> str:
    """``labkit grade`` on the reference and on the stubs, with the training cache off."""
    lines = []
    for name, folder in (("reference", course.reference), ("stubs", course.exercises)):
        names = [lab.name for lab in chosen]
        runs = [_grade_run(course, folder, names) for _ in range(repeat)]
        wall = statistics.median(run.wall for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        memory = max(run.peak_bytes for run in runs) / 2**30
        lines.append(
            f"{len(chosen)} labs, {name:<9}: {wall:5.1f} s wall ({wall / baseline:.1f}x import), "
            f"{cpu:5.1f} CPU-s, peak {memory:.2f} GiB"
        )
    return "\n".join(lines)


def _per_lab(chosen: Sequence[Lab], peak: Peak, reference: Path) -> str:
    """Each lab's harvest and grader's training; the fit's rate against the matmul peak, in
    wall time and in CPU time (which a busy machine does not change), and how much longer
    the first epoch takes than the next (tracing the training step, and first runs)."""
    lines = [
        f"{'lab':<24}{'harvest s':>10}{'judge s':>8}{'fit s':>7}{'CPU-s':>7}{'warm-up':>8}"
        f"{'images/s':>9}{'of peak':>8}{'per CPU-s':>10}"
    ]
    with (
        tempfile.TemporaryDirectory(prefix="labkit-bench-") as workdir,
        runner.start_server(Path(workdir), data=[lab.dataset for lab in chosen]) as server,
    ):
        server.warm().ready.wait(forkserver.STARTUP_SECONDS)  # its import is not a lab's cost
        for lab in chosen:
            started = time.perf_counter()
            harvest = runner.run(lab, reference / f"{lab.name}.py", Path(workdir), Limits(), server)
            harvest_seconds = time.perf_counter() - started
            started = time.perf_counter()
            compiled = harvest.folder / lab.function("compile_model").filename
            result = training.train(compiled, lab, verbose=0)
            judge_seconds = time.perf_counter() - started
            recipe = lab.training
            flops = recipe.train_size * recipe.epochs * training_flops(lab) / 1e9
            epochs = result.epoch_seconds
            first_extra = epochs[0] - statistics.median(epochs[1:]) if len(epochs) > 1 else 0.0
            lines.append(
                f"{lab.name:<24}{harvest_seconds:>10.2f}{judge_seconds:>8.2f}"
                f"{result.fit_seconds:>7.2f}{result.fit_cpu_seconds:>7.2f}{first_extra:>8.2f}"
                f"{recipe.train_size * recipe.epochs / result.fit_seconds:>9,.0f}"
                f"{flops / result.fit_seconds / peak.wall:>8.0%}"
                f"{flops / result.fit_cpu_seconds / peak.cpu:>10.0%}"
            )
    return "\n".join(lines)


def _isolation_overhead(chosen: Sequence[Lab], repeat: int, reference: Path) -> str:
    """What the sandbox costs: the server's start, and each lab's harvest, with it and without."""
    reason = isolation.unavailable_reason()
    if reason:
        return f"{isolation.UNAVAILABLE} ({reason}): no sandbox overhead to measure"
    lines = [f"{'sandbox overhead':<26}{'off s':>8}{'sandbox s':>11}{'extra s':>9}"]
    figures = {
        mode: _harvest_seconds(chosen, mode, repeat, reference) for mode in ("off", "required")
    }
    for name in ["server start", *(lab.name for lab in chosen)]:
        off, on = figures["off"][name], figures["required"][name]
        lines.append(f"{name:<26}{off:>8.2f}{on:>11.2f}{on - off:>+9.2f}")
    return "\n".join(lines)


def _harvest_seconds(
    chosen: Sequence[Lab], mode: str, repeat: int, reference: Path
) -> dict[str, float]:
    """Median seconds to start a server in ``mode``, and to harvest each lab's reference in it."""
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="labkit-bench-") as workdir:
            started = time.perf_counter()
            data = [lab.dataset for lab in chosen]
            with runner.start_server(Path(workdir), mode, data) as server:
                server.warm().ready.wait(forkserver.STARTUP_SECONDS)
                runs.setdefault("server start", []).append(time.perf_counter() - started)
                for lab in chosen:
                    started = time.perf_counter()
                    module = reference / f"{lab.name}.py"
                    runner.run(lab, module, Path(workdir), Limits(), server)
                    runs.setdefault(lab.name, []).append(time.perf_counter() - started)
    return {name: statistics.median(seconds) for name, seconds in runs.items()}


def _second_grade(course: Course, chosen: Sequence[Lab], repeat: int, baseline: float) -> str:
    """A student's grade of the heaviest lab after a change to one figure function only."""
    lab = max(chosen, key=screen.lab_multiply_adds)
    figures = [function.name for function in lab.api if function.returns == FIGURE]
    if not figures:
        return f"second grade: {lab.name} has no figure function to change"
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as folder:
        student, kept, log = Path(folder) / "student", Path(folder) / "cache", Path(folder) / "log"
        student.mkdir()
        module = student / f"{lab.name}.py"
        source = (course.reference / module.name).read_text(encoding="utf-8")
        module.write_text(source, encoding="utf-8")
        first = _grade_run(course, student, [lab.name], kept, log)
        runs = []
        for edit in range(1, repeat + 1):  # a new change each time, as a student makes them
            module.write_text(changed(source, figures[0], edit), encoding="utf-8")
            log.unlink(missing_ok=True)
            runs.append(_grade_run(course, student, [lab.name], kept, log))
        hits = hit_rates(_text(log))
    wall = statistics.median(run.wall for run in runs)
    cpu = statistics.median(run.cpu for run in runs)
    return (
        f"second grade of {lab.name} after a change to {figures[0]} only: {wall:.1f} s wall "
        f"({wall / baseline:.1f}x import), {cpu:.1f} CPU-s; its first grade "
        f"{first.wall:.1f} s ({first.wall / baseline:.1f}x)\n  {hits} (the last run)"
    )


def changed(source: str, function: str, edit: int) -> str:
    """``source`` with one harmless statement added to ``function``'s body."""
    tree = ast.parse(source)
    found = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function),
        None,
    )
    if found is None:
        raise ValueError(f"the reference defines no {function}() to change")
    body = found.body
    has_docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    after = body[1] if has_docstring and len(body) > 1 else body[0]
    lines = source.splitlines(keepends=True)
    line = " " * after.col_offset + f"edited = {edit}  # a student's change\n"
    lines.insert(after.lineno - 1, line)
    return "".join(lines)


def _class_figures(
    course: Course, labs: list[str], size: int, workers: int | None, baseline: float
) -> str:
    """A realistic class graded cold, then regraded after a threshold change."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as folder:
        classroom, out, log = Path(folder) / "class", Path(folder) / "out", Path(folder) / "log"
        correct = build_class(course, labs, size, classroom)
        cold = _batch_run(classroom, out, course.root, labs, workers, log)
        copy = Path(folder) / "course"
        threshold = copy_with_new_threshold(course, labs[0], copy)
        regrade = _batch_run(classroom, out, copy, labs, workers, log)
    pool = workers or os.cpu_count()
    return "\n".join(
        [
            f"class of {size} ({correct} correct, the rest one mistake each; {len(labs)} labs "
            f"each), {pool} workers, cold: {cold.wall:.0f} s wall ({cold.wall / baseline:.0f}x "
            f"import), {size * 3600 / cold.wall:.0f} submissions/hour, "
            f"{cold.cpu / size:.1f} CPU-s per submission",
            f"  {cold.hits}",
            f"the same class after {threshold}: {regrade.wall:.0f} s wall, "
            f"{cold.wall / regrade.wall:.1f}x faster than cold, "
            f"{size * 3600 / regrade.wall:.0f} submissions/hour, "
            f"{regrade.cpu / size:.1f} CPU-s per submission",
            f"  {regrade.hits}",
        ]
    )


def build_class(course: Course, labs: list[str], size: int, classroom: Path) -> int:
    """Write ``size`` students' folders into ``classroom``; returns how many are correct.

    Two in three hand in the reference or ``tests/submissions/equivalent`` (in turn); each
    of the rest makes one mistake of ``tests/mistakes.py`` (in turn) in an otherwise correct
    submission, picked evenly from the list. A course without those files gets the
    reference throughout. Every file ends with its student's name, as no two students' files
    are the same bytes: a cold grade runs every student's code, as it would in a real class.
    """
    from labkit.measure.calibrate import load_mistakes

    tests = course.root / "tests"
    found = load_mistakes(tests / "mistakes.py") if (tests / "mistakes.py").is_file() else []
    mistakes = [mistake for mistake in found if mistake.lab in labs]
    equivalent = tests / "submissions" / "equivalent"
    sources = [course.reference, *([equivalent] if equivalent.is_dir() else [])]
    correct = size if not mistakes else round(size * CORRECT_SHARE)
    wrong = size - correct
    for number in range(size):
        student = classroom / f"student{number:04d}"
        student.mkdir(parents=True)
        # Spread the mistakes through the class, as they come in a real one.
        is_wrong = wrong and number * wrong // size != (number + 1) * wrong // size
        source = sources[number % len(sources)] if not is_wrong else course.reference
        for lab in labs:
            shutil.copy(source / f"{lab}.py", student)
        if is_wrong:
            mistake = mistakes[(number * wrong // size) * len(mistakes) // wrong]
            (student / f"{mistake.lab}.py").write_text(mistake.apply(course.reference))
        for module in student.iterdir():
            with module.open("a", encoding="utf-8") as file:
                file.write(f"\n# {student.name}\n")
    return correct


def copy_with_new_threshold(course: Course, lab: str, copy: Path) -> str:
    """Copy the course's graders to ``copy`` with ``lab``'s accuracy threshold a point lower;
    what changed, in words."""
    shutil.copytree(course.graders, copy / "graders")
    grader = copy / "graders" / f"test_{lab}.py"
    text = grader.read_text(encoding="utf-8")
    found = re.search(r"min_accuracy=([0-9.]+)", text)
    if found is None:
        raise ValueError(f"{grader.name} sets no min_accuracy=... to change")
    lower = f"{float(found.group(1)) - 0.01:.2f}"
    grader.write_text(text[: found.start(1)] + lower + text[found.end(1) :], encoding="utf-8")
    return f"{lab}'s threshold went from {found.group(1)} to {lower}"


@dataclass(frozen=True)
class BatchFigures:
    """One ``grade-batch`` run: wall and CPU seconds, and the caches' hit rates in words."""

    wall: float
    cpu: float
    hits: str


def _batch_run(
    classroom: Path, out: Path, course: Path, labs: list[str], workers: int | None, log: Path
) -> BatchFigures:
    from labkit.batch import classrun
    from labkit.batch.worker import Options

    options = Options(course, labs=tuple(labs), cache=str(out / "cache"))
    log.unlink(missing_ok=True)
    saved = os.environ.get(CACHE_LOG_ENV)
    os.environ[CACHE_LOG_ENV] = str(log)  # the workers inherit it
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        classrun.run(classroom, out, options, workers, progress=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.environ.pop(CACHE_LOG_ENV)
        if saved is not None:
            os.environ[CACHE_LOG_ENV] = saved
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return BatchFigures(wall, cpu, hit_rates(_text(log)))


def hit_rates(log: str) -> str:
    """Each cache's hits against its lookups, from the lines of a cache log."""
    lookups: dict[str, list[bool]] = {}
    for line in log.splitlines():
        kind, outcome, *_ = [*line.split(), "", ""]
        lookups.setdefault(kind, []).append(outcome == HIT)
    if not lookups:
        return "no cache lookups"
    return ", ".join(
        f"{kind} cache {sum(found)} hits of {len(found)} ({sum(found) / len(found):.0%})"
        for kind, found in sorted(lookups.items())
    )


def training_flops(lab: Lab) -> float:
    """Floating-point operations to train on one image: forward plus a backward of twice that."""
    return 3 * 2 * screen.lab_multiply_adds(lab)


@dataclass(frozen=True)
class Peak:
    """TensorFlow's float32 matmul rate in GFLOP: per second of wall time, and per CPU-second
    of all its threads together."""

    wall: float
    cpu: float


def _matmul_peak() -> Peak:
    import tensorflow as tf

    a = tf.random.uniform((MATMUL_SIZE, MATMUL_SIZE), seed=1)
    b = tf.random.uniform((MATMUL_SIZE, MATMUL_SIZE), seed=2)
    tf.matmul(a, b).numpy()
    repeats = 20
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        tf.matmul(a, b).numpy()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    gflop = 2 * MATMUL_SIZE**3 * repeats / 1e9
    return Peak(gflop / seconds, gflop / cpu_seconds)


def _import_tensorflow() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def _grade_run(
    course: Course,
    folder: Path,
    lab_names: Sequence[str],
    kept: Path | None = None,
    log: Path | None = None,
) -> RunFigures:
    """One ``labkit grade`` run, with its training cache in ``kept`` (off without), appending
    its cache lookups to ``log``."""
    command = [sys.executable, "-m", "labkit.cli", "grade", "--submission", str(folder)]
    command += ["--course", str(course.root)]
    command += ["--cache", str(kept)] if kept else ["--no-cache"]
    for name in lab_names:
        command += ["--lab", name]
    environment = {**os.environ, **({CACHE_LOG_ENV: str(log)} if log else {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
    )
    peak = _PeakMemory(process.pid)
    process.wait()
    wall = time.perf_counter() - started
    peak.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return RunFigures(wall, cpu, peak.bytes)


class _PeakMemory:
    """The largest total memory of a process and all its descendants, sampled as it runs.

    Proportional set size counts pages that forked children share only once in all; where
    /proc is missing, the largest single process stands in.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        if not Path("/proc").is_dir():
            self.bytes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    def _sample(self) -> None:
        # Reading smaps_rollup locks each process's memory map: sample gently, not constantly.
        while not self._done.wait(0.5):
            self.bytes = max(self.bytes, sum(map(_pss_bytes, _tree(self.root))))


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _median(repeat: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeat))


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
