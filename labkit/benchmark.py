"""Benchmarks: the reference's accuracy over many seeds, and how long grading takes.

The accuracy figures are what each lab's threshold in ``labkit.labs`` is chosen from.

Usage: ``python -m labkit.benchmark [--seeds 10] [--lab NAME]`` (or ``nox -s benchmark``)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labkit import labs, sandbox, training
from labkit.harvest import COMPILED

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
MARGIN = 0.05  # below the worst seed, so a correct model never fails on another machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.benchmark", description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="training seeds per lab")
    parser.add_argument("--lab", action="append", choices=list(labs.LABS), default=[])
    args = parser.parse_args(argv)
    chosen = [labs.get(name) for name in args.lab] or list(labs.LABS.values())
    training.make_deterministic()
    print(f"reference accuracy over seeds 0-{args.seeds - 1}")
    print(
        f"{'lab':<26}{'harvest s':>10}{'train s':>9}{'min':>7}{'mean':>7}{'max':>7}"
        f"{'threshold':>11}{'suggested':>11}"
    )
    with tempfile.TemporaryDirectory(prefix="labkit-benchmark-") as workdir:
        for lab in chosen:
            print(_calibrate(lab, args.seeds, Path(workdir)), flush=True)
    print(f"\nfull grade of reference/: {_time_full_grade():.1f} s wall clock")
    return 0


def _calibrate(lab: labs.Lab, seeds: int, workdir: Path) -> str:
    started = time.perf_counter()
    harvest = sandbox.run(lab, REFERENCE / f"{lab.name}.py", workdir, sandbox.Limits())
    harvest_seconds = time.perf_counter() - started
    accuracies, seconds = [], []
    for seed in range(seeds):
        started = time.perf_counter()
        result = training.train(harvest.folder / COMPILED, lab, seed=seed, verbose=0)
        seconds.append(time.perf_counter() - started)
        if result.error:
            raise SystemExit(f"{lab.name}: reference failed to train: {result.error}")
        accuracies.append(result.accuracy)
    suggested = int((min(accuracies) - MARGIN) * 100) / 100
    return (
        f"{lab.name:<26}{harvest_seconds:>10.1f}{statistics.mean(seconds):>9.1f}"
        f"{min(accuracies):>7.3f}{statistics.mean(accuracies):>7.3f}{max(accuracies):>7.3f}"
        f"{lab.training.min_accuracy:>11.2f}{suggested:>11.2f}"
    )


def _time_full_grade() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "labkit.cli", "grade", "--submission", str(REFERENCE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
