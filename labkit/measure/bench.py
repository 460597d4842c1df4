"""Where grading time goes: per lab, and for whole runs on the reference and the stubs.

Figures depend on the processor, so each is also given against a baseline measured in the
same run: a bare ``import tensorflow``, and for training a matmul peak.

With ``--batch N`` it grades a class of N submissions instead (copies of the reference, the
stubs and the course's mistake variants, all labs each) with ``labkit grade-batch``'s local
pool, and prints submissions per hour and CPU-seconds per submission.

Usage: ``nox -s bench -- [--repeat 3] [--lab NAME] [--batch N]``
(or ``python -m labkit.measure.bench``)
"""

from __future__ import annotations

import argparse
import os
import platform
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

from labkit.grading.quiet import quiet_tensorflow
from labkit.sandbox import forkserver, isolation, runner, screen, training
from labkit.spec.course import Course, CourseError
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

MATMUL_SIZE = 1024


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
    parser.add_argument("--batch", type=int, metavar="N", help="grade a class of N submissions")
    parser.add_argument("--workers", type=int, help="batch workers (default: one per core)")
    args = parser.parse_args(argv)
    try:
        course = Course.find(args.course)
        chosen = [course.lab(name) for name in args.lab] or list(course.labs.values())
    except CourseError as error:
        parser.error(str(error))
    print(f"machine: {_processor()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.batch:
        print(_batch(course, [lab.name for lab in chosen], args.batch, args.workers))
        return 0
    baseline = _median(args.repeat, _import_tensorflow)
    print(f"bare `import tensorflow`: {baseline:.2f} s wall (the unit for the ratios below)")
    quiet_tensorflow()
    training.make_deterministic()
    peak = _matmul_gflops()
    print(f"TensorFlow matmul peak ({MATMUL_SIZE}x{MATMUL_SIZE} float32): {peak:.0f} GFLOP/s\n")
    print(_per_lab(chosen, peak, course.reference))
    print()
    print(_isolation_overhead(chosen, args.repeat, course.reference))
    print()
    for name, folder in (("reference", course.reference), ("stubs", course.exercises)):
        names = [lab.name for lab in chosen]
        runs = [_grade_run(course, folder, names) for _ in range(args.repeat)]
        wall = statistics.median(run.wall for run in runs)
        cpu = statistics.median(run.cpu for run in runs)
        memory = max(run.peak_bytes for run in runs) / 2**30
        print(
            f"{len(chosen)} labs, {name:<9}: {wall:5.1f} s wall ({wall / baseline:.1f}x import), "
            f"{cpu:5.1f} CPU-s, peak {memory:.2f} GiB"
        )
    return 0


def _per_lab(chosen: Sequence[Lab], peak_gflops: float, reference: Path) -> str:
    lines = [
        f"{'lab':<26}{'harvest s':>10}{'judge s':>9}{'fit s':>7}{'images/s':>10}"
        f"{'GFLOP/s':>9}{'of peak':>9}"
    ]
    with (
        tempfile.TemporaryDirectory(prefix="labkit-bench-") as workdir,
        runner.start_server(Path(workdir), data=[lab.dataset for lab in chosen]) as server,
    ):
        server.ready.wait(forkserver.STARTUP_SECONDS)  # its import is not a lab's cost
        for lab in chosen:
            started = time.perf_counter()
            harvest = runner.run(lab, reference / f"{lab.name}.py", Path(workdir), Limits(), server)
            harvest_seconds = time.perf_counter() - started
            started = time.perf_counter()
            compiled = harvest.folder / lab.function("compile_model").filename
            result = training.train(compiled, lab, verbose=0)
            judge_seconds = time.perf_counter() - started
            recipe = lab.training
            rate = recipe.train_size * recipe.epochs / result.fit_seconds
            gflops = rate * training_flops(lab) / 1e9
            lines.append(
                f"{lab.name:<26}{harvest_seconds:>10.2f}{judge_seconds:>9.2f}"
                f"{result.fit_seconds:>7.2f}{rate:>10,.0f}{gflops:>9.1f}"
                f"{gflops / peak_gflops:>9.0%}"
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
                server.ready.wait(forkserver.STARTUP_SECONDS)
                runs.setdefault("server start", []).append(time.perf_counter() - started)
                for lab in chosen:
                    started = time.perf_counter()
                    module = reference / f"{lab.name}.py"
                    runner.run(lab, module, Path(workdir), Limits(), server)
                    runs.setdefault(lab.name, []).append(time.perf_counter() - started)
    return {name: statistics.median(seconds) for name, seconds in runs.items()}


def _batch(course: Course, labs: list[str], count: int, workers: int | None) -> str:
    """Grade a class of ``count`` submissions with the local pool; its throughput."""
    from labkit.batch import classrun
    from labkit.batch.worker import Options
    from labkit.measure.calibrate import load_mistakes

    mistakes_file = course.root / "tests" / "mistakes.py"
    found = load_mistakes(mistakes_file) if mistakes_file.is_file() else []
    mistakes = [mistake for mistake in found if mistake.lab in labs]
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as folder:
        classroom, out = Path(folder) / "class", Path(folder) / "out"
        kinds = ["reference", "stubs", *range(len(mistakes))]
        for number in range(count):
            student = classroom / f"student{number:04d}"
            kind = kinds[number % len(kinds)]
            source = course.exercises if kind == "stubs" else course.reference
            student.mkdir(parents=True)
            for lab in labs:
                shutil.copy(source / f"{lab}.py", student)
            if isinstance(kind, int):
                mistake = mistakes[kind]
                (student / f"{mistake.lab}.py").write_text(mistake.apply(course.reference))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        classrun.run(
            classroom, out, Options(course.root, labs=tuple(labs)), workers, progress=False
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pool = workers or os.cpu_count()
    return (
        f"batch of {count} submissions ({len(labs)} labs each; reference, stubs and "
        f"{len(mistakes)} mistake variants in turn), {pool} workers: {wall:.0f} s wall, "
        f"{count * 3600 / wall:.0f} submissions/hour, {cpu / count:.1f} CPU-s and "
        f"{wall / count:.1f} s wall per submission"
    )


def training_flops(lab: Lab) -> float:
    """Floating-point operations to train on one image: forward plus a backward of twice that."""
    return 3 * 2 * screen.lab_multiply_adds(lab)


def _matmul_gflops() -> float:
    import tensorflow as tf

    a = tf.random.uniform((MATMUL_SIZE, MATMUL_SIZE), seed=1)
    b = tf.random.uniform((MATMUL_SIZE, MATMUL_SIZE), seed=2)
    tf.matmul(a, b).numpy()
    repeats = 20
    started = time.perf_counter()
    for _ in range(repeats):
        tf.matmul(a, b).numpy()
    seconds = time.perf_counter() - started
    return 2 * MATMUL_SIZE**3 * repeats / seconds / 1e9


def _import_tensorflow() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def _grade_run(course: Course, folder: Path, lab_names: Sequence[str]) -> RunFigures:
    command = [sys.executable, "-m", "labkit.cli", "grade", "--submission", str(folder)]
    command += ["--course", str(course.root)]
    for name in lab_names:
        command += ["--lab", name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
