"""The ``labkit`` command.

Usage: ``labkit grade [--submission PATH] [--lab NAME] [--results FILE]``, ``labkit handouts``,
``labkit labs``, ``labkit check-course [--no-grade]``, ``labkit new-course DIR``,
``labkit new-lab NAME``, ``labkit export GRADED --roster FILE``,
``labkit similarity SUBMISSIONS [--out DIR]``
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
from labkit.publish import scaffold
from labkit.report import checkresults, junit, roster, scoretable
from labkit.report.plots import Plots
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
            plots = Plots(_cache_folder(args))
            _write_feedback(args.feedback, args.submission, results, kept, course, plots)
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
    path: Path, graded: Path, results: dict[str, Any], kept: Path, course: Course, plots: Plots
) -> None:
    """The feedback page batch grading sends, for this one submission: the table with its
    hints, the grader's training run of each model and the figures the code drew."""
    from labkit.report import feedback

    path.parent.mkdir(parents=True, exist_ok=True)
    page = feedback.page(graded.name, results, kept, course, plots)
    path.write_text(page, encoding="utf-8")


def _cache_folder(args: argparse.Namespace) -> Path | None:
    """The grading cache's folder for this run, as the plugin finds it; None when off."""
    if args.no_cache:
        return None
    kept = cache.Cache.from_setting(
        str(args.cache) if args.cache else os.environ.get(cache.CACHE_ENV)
    )
    return kept.folder if kept else None


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
    people = _roster(args, parser, course)
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
            args.submissions, args.out, options, args.workers, args.force, args.dask, only=args.only
        )
    except classrun.UnknownStudent as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print(f"interrupted: finished results are in {args.out}; run again to resume")
        return 130
    print(f"{gradebook.counts_line(rows)}. Gradebook: {args.out / 'gradebook.csv'}")
    again = [row.student for row in rows if row.status not in gradebook.FINAL]
    if again:
        print(f"to grade again (run the same command): {', '.join(again)}")
    if people is not None:
        _export(args.out, people, course, dict(args.canvas_assignment))
    if args.similarity:
        _similarity(args.submissions, args.out, course, args.lab)
    return EXIT_UNGRADED if gradebook.status_counts(rows)[gradebook.UNGRADED] else EXIT_PASSED


def similarity(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Report the pairs of students whose code for a lab is unusually alike."""
    course = _course(args, parser)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    _similarity(args.submissions, args.out, course, args.lab)
    return EXIT_PASSED


def _similarity(submissions: Path, out: Path, course: Course, labs: list[str]) -> None:
    from labkit.report import similarity as alike

    comparison = alike.report(submissions, out, course, labs)
    for lab, count in comparison.compared.items():
        pairs = [pair for pair in comparison.pairs if pair.lab == lab]
        said = ", ".join(
            f"{' and '.join(pair.students)} ({max(pair.shares):.0%})" for pair in pairs
        )
        print(f"similar code in {lab}: {said or 'none'} ({count} submissions compared)")
    print(f"similarity report: {out / 'similarity.html'}")


def export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Write a graded folder's gradebook as Canvas and Moodle import it, by a roster."""
    course = _course(args, parser)
    if not (args.graded / "gradebook.csv").is_file():
        parser.error(f"{args.graded} holds no gradebook.csv: give the --out folder of grade-batch")
    people = _roster(args, parser, course)
    assert people is not None  # the option is required here
    _export(args.graded, people, course, dict(args.canvas_assignment))
    return EXIT_PASSED


def _roster(
    args: argparse.Namespace, parser: argparse.ArgumentParser, course: Course
) -> dict[str, roster.Person] | None:
    """The roster ``--roster`` names, read and checked before any work; None without one."""
    for lab, _ in args.canvas_assignment:
        if lab not in course.labs:
            parser.error(
                f"--canvas-assignment: unknown lab {lab!r}: choose one of {', '.join(course.labs)}"
            )
    if args.canvas_assignment and not args.roster:
        parser.error("--canvas-assignment needs --roster: the roster says who is who in Canvas")
    if not args.roster:
        return None
    try:
        return roster.read(args.roster)
    except roster.RosterError as error:
        parser.error(str(error))


def _export(
    folder: Path, people: dict[str, roster.Person], course: Course, canvas_ids: dict[str, str]
) -> None:
    """Write the LMS files and say what they hold and who is missing from them."""
    from labkit.report import lms

    titles = {name: lab.title for name, lab in course.labs.items()}
    points = {name: sum(check.points for check in course.checks(name)) for name in titles}
    exported = lms.export(folder, people, titles, points, canvas_ids)
    for path in exported.written:
        print(f"for the LMS: {path}")
    if not exported.written:
        print("for the LMS: nothing, since the roster names no student for Canvas or Moodle")
    for student, problem in exported.missing:
        print(f"  {student}: {problem}")
    if exported.missing:
        print(f"{len(exported.missing)} to check, listed in {folder / lms.MISSING_FILE}")


def _assignment(text: str) -> tuple[str, str]:
    """``LAB=ID`` of --canvas-assignment, the id a number as Canvas's assignment URLs show."""
    lab, _, number = text.partition("=")
    if not lab or not number.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not LAB=ID: the lab's name and the number at the end of its "
            "assignment's Canvas address, e.g. my_lab=12345"
        )
    return lab, number


def _add_roster(parser: argparse.ArgumentParser, purpose: str, required: bool = False) -> None:
    """The options that turn the gradebook into files for Canvas and Moodle."""
    parser.add_argument(
        "--roster",
        type=Path,
        required=required,
        metavar="FILE",
        help=f"a CSV of student ids and their LMS identities: {purpose}",
    )
    parser.add_argument(
        "--canvas-assignment",
        type=_assignment,
        action="append",
        default=[],
        metavar="LAB=ID",
        help="the Canvas assignment a lab's grades go to (repeatable); without it a lab's "
        "column is named by its title only",
    )


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


def new_course(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start a course folder with one small working lab, and say what to do next."""
    try:
        written = scaffold.new_course(args.folder, args.first_lab)
    except scaffold.ScaffoldError as error:
        parser.error(str(error))
    _list_written(written)
    print(
        f"next: in {args.folder}, {_command('check-course')} checks the course and "
        f"{_command('new-lab NAME')} adds a lab; the TODO(author) comments say what to change"
    )
    return EXIT_PASSED


def new_lab(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Add a lab's four files to the course, to change into the new lab."""
    course = _course(args, parser)
    try:
        written = scaffold.new_lab(course, args.name, args.title)
    except scaffold.ScaffoldError as error:
        parser.error(str(error))
    _list_written(written)
    print(
        "next: change them into your lab, where the TODO(author) comments say, then run "
        f"{_command('check-course')} until it finds no problem"
    )
    return EXIT_PASSED


def _command(command: str) -> str:
    """How to type a labkit command: as it is, and through labkit's noxfile where there is one
    (labkit is on PATH only where it was installed with pip)."""
    noxfile = Path(__file__).resolve().parents[1] / "noxfile.py"
    if not noxfile.is_file():
        return f"`labkit {command}`"
    return f"`labkit {command}` (or `nox -f {noxfile} -s labkit -- {command}`)"


def _list_written(written: list[Path]) -> None:
    for path in written:
        print(f"  wrote {path}")


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
    batching.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="STUDENT",
        help="grade again only this student, as the gradebook names them (repeatable); the "
        "other rows stay as they are",
    )
    batching.add_argument("--course", type=Path, help=COURSE_HELP)
    _add_roster(batching, "also write canvas.csv and moodle.csv next to the gradebook")
    batching.add_argument(
        "--similarity",
        action="store_true",
        help="also report the pairs of students whose code is unusually alike (similarity.html)",
    )
    _add_limits(batching)
    batching.set_defaults(run=grade_batch, parser=batching)
    comparing = commands.add_parser(
        "similarity", help="report the pairs of students whose code is unusually alike"
    )
    comparing.add_argument("submissions", type=Path, help="folder with one entry per student")
    comparing.add_argument(
        "--out",
        type=Path,
        default=Path(),
        help="folder for similarity.html and similarity.json (default: the current folder)",
    )
    comparing.add_argument("--lab", action="append", default=[], help="compare only this lab")
    comparing.add_argument("--course", type=Path, help=COURSE_HELP)
    comparing.set_defaults(run=similarity, parser=comparing)
    exporting = commands.add_parser(
        "export", help="write a graded folder's gradebook for Canvas and Moodle, by a roster"
    )
    exporting.add_argument("graded", type=Path, help="the --out folder of grade-batch")
    exporting.add_argument("--course", type=Path, help=COURSE_HELP)
    _add_roster(exporting, "see the README", required=True)
    exporting.set_defaults(run=export, parser=exporting, lab=[])
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
    starting = commands.add_parser(
        "new-course", help="start a course folder, with one small working lab to change"
    )
    starting.add_argument("folder", type=Path, help="the new course's folder (new, or empty)")
    starting.add_argument(
        "--lab",
        dest="first_lab",
        default=scaffold.FIRST_LAB,
        help=f"the example lab's name (default: {scaffold.FIRST_LAB})",
    )
    starting.set_defaults(run=new_course, parser=starting, lab=[])
    adding = commands.add_parser("new-lab", help="add a lab's four files to the course")
    adding.add_argument("name", help="the lab's name, which names its files: week2_cnn")
    adding.add_argument("--title", help="shown beside the name in the score table")
    adding.add_argument("--course", type=Path, help=COURSE_HELP)
    adding.set_defaults(run=new_lab, parser=adding, lab=[])
    return parser


if __name__ == "__main__":
    run()
