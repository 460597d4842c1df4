"""The ``labkit`` command.

Usage: ``labkit grade [--submission PATH] [--lab NAME] [--results FILE]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit import labs, sandbox, submission

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args, parser)


def grade(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Grade a submission with the pytest graders; exit 0 if every check passed."""
    import pytest

    try:
        submission.locate(args.submission)
    except submission.SubmissionError as error:
        parser.error(str(error))
    graders = _graders_folder(args.graders)
    if graders is None:
        parser.error("no graders/ folder found: run this from the labkit folder or pass --graders")
    pytest_args = [
        str(graders),
        "--submission",
        str(args.submission),
        "--time-limit",
        str(args.time_limit),
        "--memory-limit",
        str(args.memory_limit),
        "--quiet",
        "--no-header",
        # The score table replaces pytest's failure reports, short summary and warnings.
        "--tb=no",
        "-rN",
        "-p",
        "no:warnings",
        "-p",
        "no:cacheprovider",
    ]
    for name in args.lab:
        pytest_args += ["--lab", name]
    if args.results:
        pytest_args += ["--results", str(args.results)]
    code = pytest.main(pytest_args)
    if code == pytest.ExitCode.OK:
        return EXIT_PASSED
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_FAILED
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return EXIT_USAGE
    return int(code)


def handouts(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Build the student and solution notebooks and their HTML pages."""
    from labkit import handouts as builder

    built = builder.build(args.out, args.lab or list(labs.LABS), args.epochs, run=not args.no_run)
    for handout in built:
        print(f"{handout.student.stem}:")
        for path in (
            handout.student,
            handout.solution,
            handout.student_html,
            handout.solution_html,
        ):
            print(f"  {path}")
    return EXIT_PASSED


def _graders_folder(given: Path | None) -> Path | None:
    candidates = (
        [given] if given else [Path.cwd() / "graders", Path(__file__).parents[1] / "graders"]
    )
    return next((path for path in candidates if path.is_dir()), None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Autograded CNN labs.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    grading = commands.add_parser("grade", help="grade a submission and print a score table")
    grading.add_argument(
        "--submission",
        type=Path,
        default=Path("exercises"),
        help="folder holding lab modules, or one lab module file (default: exercises)",
    )
    grading.add_argument(
        "--lab", action="append", default=[], choices=list(labs.LABS), help="grade only this lab"
    )
    grading.add_argument("--results", type=Path, help="write Gradescope-format results JSON here")
    grading.add_argument("--graders", type=Path, help="folder of grader modules (default: graders)")
    grading.add_argument(
        "--time-limit",
        type=float,
        default=sandbox.Limits.seconds,
        help="seconds per lab's submission process",
    )
    grading.add_argument(
        "--memory-limit",
        type=float,
        default=sandbox.Limits.memory_bytes / 2**30,
        help="GiB per lab's submission process",
    )
    grading.set_defaults(run=grade)
    building = commands.add_parser("handouts", help="build the lab notebooks and HTML pages")
    building.add_argument("--out", type=Path, default=Path("build/handouts"), help="output folder")
    building.add_argument(
        "--lab", action="append", default=[], choices=list(labs.LABS), help="only this lab"
    )
    building.add_argument(
        "--epochs", type=int, help="train this many epochs when running the solutions"
    )
    building.add_argument(
        "--no-run", action="store_true", help="do not execute the solution notebooks"
    )
    building.set_defaults(run=handouts)
    return parser


if __name__ == "__main__":
    sys.exit(main())
