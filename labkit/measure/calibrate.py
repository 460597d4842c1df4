"""Measure where each lab's accuracy threshold should sit, from right and wrong models.

For each lab it trains the reference and the project's mistake variants (one-edit copies of
the reference) with the lab's grading recipe under seeds 0..N-1 and prints their accuracy
ranges, the threshold and both margins: how far the worst reference seed stays above it, and
how far below it the best mistake that must fail accuracy lands. It exits 1 when any
reference seed falls below its threshold, so a recipe change that breaks a threshold shows.

Usage: ``python -m labkit.measure.calibrate --seeds 20 [--lab NAME] [--mistakes tests/mistakes.py]``
(or ``nox -s calibrate -- --seeds 20``); ``--seeds 1 --lab NAME`` is the quick mode.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.grading.quiet import quiet_tensorflow
from labkit.sandbox import isolation, runner, training
from labkit.spec.course import Course, CourseError
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

MARGIN = 0.05  # the worst reference seed must stay this far above the threshold


@dataclass(frozen=True)
class Distribution:
    """Test accuracies of one model over the seeds; NaN where it could not be trained."""

    name: str
    accuracies: tuple[float, ...]
    must_fail: bool = False

    @property
    def low(self) -> float:
        return min(_trained(self.accuracies), default=0.0)

    @property
    def high(self) -> float:
        return max(_trained(self.accuracies), default=0.0)

    def summary(self) -> str:
        trained = _trained(self.accuracies)
        if not trained:
            return f"{'cannot be trained':>23}"
        mean = statistics.mean(trained)
        return f"{self.low:>7.3f}{mean:>8.3f}{self.high:>8.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.measure.calibrate", description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="training seeds per model")
    parser.add_argument("--lab", action="append", default=[], help="only this lab")
    parser.add_argument("--course", type=Path, help="the course folder (default: as labkit grade)")
    parser.add_argument(
        "--mistakes",
        type=Path,
        help="Python file defining MISTAKES (default: the course's tests/mistakes.py)",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    try:
        course = Course.find(args.course)
        chosen = [course.lab(name) for name in args.lab] or list(course.labs.values())
    except CourseError as error:
        parser.error(str(error))
    mistakes_file = args.mistakes or course.root / "tests" / "mistakes.py"
    mistakes = load_mistakes(mistakes_file) if mistakes_file.is_file() else []
    quiet_tensorflow()
    training.make_deterministic()
    seeds = range(args.seeds)
    below = []
    with (
        tempfile.TemporaryDirectory(prefix="labkit-calibrate-") as folder,
        runner.start_server(Path(folder), data=[lab.dataset for lab in chosen]) as server,
    ):
        for lab in chosen:
            workdir = Path(folder) / lab.name
            reference = Distribution(
                "reference", _accuracies(lab, course.reference / f"{lab.name}.py", seeds, server)
            )
            wrong = [
                Distribution(
                    mistake.name,
                    _accuracies(lab, _write(mistake, course.reference, workdir), seeds, server),
                    must_fail="accuracy" in mistake.fails,
                )
                for mistake in mistakes
                if mistake.lab == lab.name
            ]
            print(_report(lab, reference, wrong, len(seeds)), flush=True)
            if reference.low < lab.training.min_accuracy:
                below.append(lab.name)
    if below:
        print(f"\nreference below its threshold in: {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


def _accuracies(
    lab: Lab, module: Path, seeds: range, server: isolation.Server
) -> tuple[float, ...]:
    with tempfile.TemporaryDirectory(prefix="labkit-harvest-", dir=server.workdir) as workdir:
        harvest = runner.run(lab, module, Path(workdir), Limits(), server)
        compiled = harvest.folder / lab.function("compile_model").filename
        if not compiled.is_file():
            return tuple(math.nan for _ in seeds)
        return tuple(training.train(compiled, lab, seed=seed, verbose=0).accuracy for seed in seeds)


def _report(lab: Lab, reference: Distribution, wrong: Sequence[Distribution], seeds: int) -> str:
    recipe = lab.training
    threshold = recipe.min_accuracy
    lines = [
        f"{lab.name}: {recipe.train_size:,} images x {recipe.epochs} epochs, batch "
        f"{recipe.batch_size}, tested on {recipe.test_size:,}; seeds 0-{seeds - 1}",
        f"  {'model':<58}{'min':>7}{'mean':>8}{'max':>8}",
        f"  {'reference':<58}{reference.summary()}",
    ]
    for mistake in wrong:
        tag = " (must fail accuracy)" if mistake.must_fail else ""
        lines.append(f"  {(mistake.name + tag)[:58]:<58}{mistake.summary()}")
    failing = [mistake.high for mistake in wrong if mistake.must_fail]
    suggested = math.floor((reference.low - MARGIN) * 100) / 100
    lines.append(
        f"  threshold {threshold:.2f}; worst reference seed {reference.low - threshold:+.3f} "
        f"above it (needs {MARGIN:+.2f}); suggested {suggested:.2f}"
    )
    if failing:
        lines.append(
            f"  best mistake that must fail: {threshold - max(failing):+.3f} below the threshold"
        )
    return "\n".join(lines)


def _write(mistake: Any, reference: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(char if char.isalnum() else "_" for char in mistake.name)
    module = folder / slug / f"{mistake.lab}.py"
    module.parent.mkdir(exist_ok=True)
    module.write_text(mistake.apply(reference), encoding="utf-8")
    return module


def load_mistakes(path: Path) -> list[Any]:
    """The MISTAKES a Python file lists: wrong edits of the reference, lab by lab."""
    spec = importlib.util.spec_from_file_location("labkit_mistakes", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import mistakes from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return list(module.MISTAKES)


def _trained(accuracies: Sequence[float]) -> list[float]:
    return [value for value in accuracies if not math.isnan(value)]


if __name__ == "__main__":
    sys.exit(main())
