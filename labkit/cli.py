"""The ``labkit`` command.

Usage: ``labkit grade [--submission PATH] [--lab NAME] [--results FILE]``, ``labkit handouts``,
``labkit labs``, ``labkit check-course [--no-grade]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from labkit.grading import cache, invocation
from labkit.grading.capture import captured_output
from labkit.grading.plugin import CacheLog, reused_lines
from labkit.intake import submission
from labkit.report import checkresults, junit, scoretable
from labkit.sandbox import isolation
from labkit.spec.course import Course, CourseError, labs_table
from labkit.spec.limits import Limits, SettingError, add_options
from labkit.spec.text import clean_message

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_UNGRADED = 3  # the grader could not judge some checks: grade again, not the student's fault
COURSE_HELP = (
    "folder holding graders/, exercises/, reference/ and templates/ (default: $LABKIT_COURSE, "
    "else the current folder, else labkit's own)"
)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = _parser()
    except SettingError as error:
        print(f"labkit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Errors belong to the command the student typed, so its usage is what they see.
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args.run(args, args.parser)


def run() -> None:
    """The ``labkit`` program: ``main``, then exit without TensorFlow's second of teardown."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # everything is written; interpreter teardown would only cost time


def grade(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Grade a submission with the pytest graders; exit 0 if every check passed."""
    import pytest

    course = _course(args, parser)
    args.submission = args.submission or course.exercises
    try:
        submission.locate(args.submission, list(course.labs))
        if args.submission.is_file():
            submission.lab_of(args.submission, list(course.labs))
    except submission.SubmissionError as error:
        parser.error(str(error))
    if isolation.refusal(args.isolation):
        print(
            f"{checkresults.COULD_NOT_GRADE}: {isolation.refusal(args.isolation)}", file=sys.stderr
        )
        return EXIT_UNGRADED
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as folder:
        # The plugin writes the file whole, once every check has run; the table is read back.
        results_file = args.results or Path(folder) / "results.json"
        results_file.unlink(missing_ok=True)
        pytest_args = [
            *_pytest_args(args, course.graders, Path(folder)),
            *("--results", str(results_file)),
        ]
        reused_log = Path(folder) / "reused.json"
        pytest_args += ["--cache-log", str(reused_log)]
        kept = Path(folder) / "artifacts"  # the training runs and figures a feedback page shows
        if args.feedback:
            pytest_args += ["--artifacts", str(kept)]
        with invocation.isolated_environment():
            if args.verbose:
                code = pytest.main(pytest_args)
            else:
                with captured_output() as captured:
                    code = pytest.main(pytest_args)
        if not results_file.is_file():
            if not args.verbose:
                _explain(captured.text, code)
            return EXIT_USAGE if code == pytest.ExitCode.USAGE_ERROR else int(code)
        results = json.loads(results_file.read_text(encoding="utf-8"))
        if isolation.notice(args.isolation):
            print(isolation.notice(args.isolation))
        titles = {name: lab.title for name, lab in course.labs.items()}
        checks = checkresults.results_from_json(results)
        print(scoretable.table(checks, titles, course.hidden_points))
        _write_reports(args, checks, titles, course.hidden_points, results["execution_time"])
        if args.feedback:
            _write_feedback(args.feedback, args.submission, results, kept, course)
        if args.results:
            print(f"results written to {args.results}")
        reused = CacheLog.read(reused_log)
        for line in reused_lines(reused.harvests, reused.training):
            print(line)
    if checkresults.ungraded(checks):
        return EXIT_UNGRADED
    if code == pytest.ExitCode.OK:
        return EXIT_PASSED
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_FAILED
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return EXIT_USAGE
    return int(code)


def _write_reports(
    args: argparse.Namespace,
    checks: list[checkresults.CheckResult],
    titles: dict[str, str],
    hidden_points: dict[str, float],
    seconds: float,
) -> None:
    """The other readers' formats: JUnit and a CI job's summary page."""
    if args.junitxml:
        args.junitxml.parent.mkdir(parents=True, exist_ok=True)
        args.junitxml.write_text(junit.junit_xml(checks, seconds), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as page:
            page.write(
                "## labkit scores\n\n" + scoretable.markdown_table(checks, titles, hidden_points)
            )


def _write_feedback(
    path: Path, graded: Path, results: dict[str, Any], kept: Path, course: Course
) -> None:
    """The feedback page batch grading sends, for this one submission: the table with its
    hints, the grader's training run of each model and the figures the code drew."""
    from labkit.report import feedback

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback.page(graded.name, results, kept, course), encoding="utf-8")


def _pytest_args(args: argparse.Namespace, graders: Path, folder: Path) -> list[str]:
    """pytest's arguments for ``args``; ``folder`` holds the run's own files.

    Only labkit's plugin and the course's graders configure the run: nothing from the
    folder it runs in, which may be a student's repository (``invocation``).
    """
    pytest_args = [
        str(graders),
        *invocation.isolated_args(graders, folder),
        "--submission",
        str(args.submission),
        *Limits.from_options(partial(getattr, args)).to_args(),
        "--isolation",
        args.isolation,
    ]
    if not args.verbose:
        pytest_args += ["--quiet", "--no-header", "--tb=no", "-p", "no:warnings"]
    for name in args.lab:
        pytest_args += ["--lab", name]
    if args.no_cache or args.cache:
        pytest_args += ["--grading-cache", cache.OFF if args.no_cache else str(args.cache)]
    return pytest_args


def _explain(output: str, code: int) -> None:
    """Show why grading stopped before any check ran: pytest's errors, not TensorFlow's logs."""
    errors = [line for line in output.splitlines() if line.startswith(("ERROR", "E   "))]
    shown = "\n".join(errors) if errors else output[-3000:]
    print(clean_message(shown, limit=3000), file=sys.stderr)  # it may quote a submission
    print(f"grading stopped before any check ran (pytest exit code {code})", file=sys.stderr)


def handouts(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Build the student and solution notebooks and their HTML pages."""
    from labkit.publish import handouts as builder

    course = _course(args, parser)
    chosen = args.lab or list(course.labs)
    try:
        built = builder.build(course, args.out, chosen, args.epochs, run=not args.no_run)
    except builder.HandoutError as error:
        print(f"labkit handouts: {error}", file=sys.stderr)
        return EXIT_FAILED
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


def grade_batch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Grade every submission in a class folder into a gradebook and feedback pages."""
    from labkit.batch import classrun
    from labkit.batch.worker import Options
    from labkit.report import gradebook

    course = _course(args, parser)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    if isolation.refusal(args.isolation):
        parser.error(isolation.refusal(args.isolation))
    if args.dask and importlib.util.find_spec("distributed") is None:
        parser.error(
            "--dask needs Dask's distributed package: pip install 'labkit[batch]' "
            "(nox -s grade_batch installs it)"
        )
    options = Options(
        course.root,
        args.isolation,
        Limits.from_options(partial(getattr, args)),
        tuple(args.lab),
        cache=cache.OFF if args.no_cache else str(args.cache or ""),
    )
    try:
        rows = classrun.run(
            args.submissions, args.out, options, args.workers, args.force, args.dask
        )
    except KeyboardInterrupt:
        print(f"interrupted: finished results are in {args.out}; run again to resume")
        return 130
    counts = {status: sum(row.status == status for row in rows) for status in gradebook.STATUSES}
    print(
        f"{len(rows)} submissions: "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
        + f". Gradebook: {args.out / 'gradebook.csv'}"
    )
    again = [row.student for row in rows if row.status not in gradebook.FINAL]
    if again:
        print(f"to grade again (run the same command): {', '.join(again)}")
    return EXIT_UNGRADED if counts[gradebook.UNGRADED] else EXIT_PASSED


def build_release(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Build the student release and the Classroom 50 autograders, or with --gradescope the
    Gradescope autograder."""
    from labkit.publish import classroom50, release

    course = _course(args, parser)
    try:
        if args.gradescope:
            print(f"Gradescope autograder: {release.gradescope(course, args.out)}")
        else:
            print(f"student release: {release.student(course, args.out)}")
            print(f"Classroom 50 autograders: {classroom50.autograders(course, args.out)}")
    except release.ReleaseError as error:
        parser.error(str(error))
    return EXIT_PASSED


def list_labs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Print the course's labs as the Markdown table the README shows."""
    print(labs_table(_course(args, parser)))
    return EXIT_PASSED


def check_course(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Check the course against itself; exit 0 when its labs, files and scores agree."""
    from labkit.publish import coursecheck

    found = []
    for finding in coursecheck.findings(_course(args, parser), grade=not args.no_grade):
        print(finding, flush=True)  # grading takes a while: show each finding as it comes
        found.append(finding)
    print(coursecheck.verdict(found, graded=not args.no_grade))
    return EXIT_FAILED if found else EXIT_PASSED


def _course(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Course:
    """The course to work on, with every --lab checked against the labs it declares."""
    try:
        course = Course.find(args.course)
        for name in args.lab:
            course.lab(name)
    except CourseError as error:
        parser.error(str(error))
    return course


def _add_limits(parser: argparse.ArgumentParser) -> None:
    """The options that bound each lab's process: time, memory and the sandbox."""
    add_options(parser.add_argument)
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="keep and reuse the harvests of the submission's code and the grader's training "
        f"runs in DIR (default: ${cache.CACHE_ENV}, else the user's cache folder; a batch keeps "
        "one in its --out folder)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every submission's code and train every model afresh, and keep nothing",
    )
    parser.add_argument(
        "--isolation",
        choices=isolation.MODES,
        default="auto",
        help="sandbox each lab's process: 'auto' where the platform allows (bubblewrap, or "
        "where it cannot run and the grader is root, an unprivileged user), 'required' to "
        "refuse to grade without either (for batch, CI and autograder runs), 'user' for the "
        "unprivileged user even where bubblewrap runs, or 'off'",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="Autograded Keras labs.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    grading = commands.add_parser("grade", help="grade a submission and print a score table")
    grading.add_argument(
        "--submission",
        type=Path,
        help="folder holding lab modules, or one lab module file (default: the course's "
        "exercises/)",
    )
    grading.add_argument("--lab", action="append", default=[], help="grade only this lab")
    grading.add_argument("--results", type=Path, help="write Gradescope-format results JSON here")
    grading.add_argument("--course", type=Path, help=COURSE_HELP)
    grading.add_argument(
        "--junitxml", type=Path, metavar="FILE", help="also write JUnit XML, a testcase per check"
    )
    grading.add_argument(
        "--feedback",
        type=Path,
        metavar="FILE",
        help="also write a feedback page (HTML, images embedded): the table with its hints, the "
        "grader's training run of each model and the figures the code drew",
    )
    _add_limits(grading)
    grading.add_argument(
        "--verbose",
        action="store_true",
        help="show pytest's and TensorFlow's own output as well as the score table",
    )
    grading.set_defaults(run=grade, parser=grading)
    building = commands.add_parser("handouts", help="build the lab notebooks and HTML pages")
    building.add_argument("--out", type=Path, default=Path("build/handouts"), help="output folder")
    building.add_argument("--lab", action="append", default=[], help="only this lab")
    building.add_argument("--course", type=Path, help=COURSE_HELP)
    building.add_argument(
        "--epochs", type=int, help="train this many epochs when running the solutions"
    )
    building.add_argument(
        "--no-run", action="store_true", help="do not execute the solution notebooks"
    )
    building.set_defaults(run=handouts, parser=building)
    batching = commands.add_parser("grade-batch", help="grade a class folder of submissions")
    batching.add_argument("submissions", type=Path, help="folder with one entry per student")
    batching.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    batching.add_argument("--workers", type=int, help="grading processes (default: one per core)")
    batching.add_argument("--force", action="store_true", help="grade again what is unchanged")
    batching.add_argument(
        "--dask", metavar="ADDRESS", help="grade on a Dask cluster: its scheduler, or 'local'"
    )
    batching.add_argument("--lab", action="append", default=[], help="grade only this lab")
    batching.add_argument("--course", type=Path, help=COURSE_HELP)
    _add_limits(batching)
    batching.set_defaults(run=grade_batch, parser=batching)
    releasing = commands.add_parser(
        "release", help="build the student release (no solutions) and Classroom 50 autograders"
    )
    releasing.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    releasing.add_argument(
        "--gradescope", action="store_true", help="build the Gradescope autograder instead"
    )
    releasing.add_argument("--course", type=Path, help=COURSE_HELP)
    releasing.set_defaults(run=build_release, parser=releasing, lab=[])
    listing = commands.add_parser("labs", help="print the course's labs as a Markdown table")
    listing.add_argument("--course", type=Path, help=COURSE_HELP)
    listing.set_defaults(run=list_labs, parser=listing, lab=[])
    checking = commands.add_parser(
        "check-course",
        help="check the course against itself: declarations, files, reference and stub scores",
    )
    checking.add_argument("--course", type=Path, help=COURSE_HELP)
    checking.add_argument(
        "--no-grade", action="store_true", help="only check the declarations and files (fast)"
    )
    checking.set_defaults(run=check_course, parser=checking, lab=[])
    return parser


if __name__ == "__main__":
    run()
