"""Classroom 50, GitHub Classroom's open-source successor: an autograder per lab.

Classroom 50 grades each submission in GitHub Actions, in the student's repository: its
runner fetches ``CLASSROOM/autograders/ASSIGNMENT/`` from the teacher's ``classroom50``
repository, runs ``autograder.py`` there with the student's checkout as the working folder,
and publishes the ``result.json`` it writes as the submission's Release, score and commit
status. The contract (Advanced Autograding, "The result.json contract",
https://github.com/foundation50/classroom50/wiki/Advanced-Autograding):

- ``result.json``: ``schema`` ("classroom50/result/v1"), ``classroom``, ``assignment``,
  ``submission``, ``commit``, ``release``, ``review`` and ``datetime`` (strings, from the
  runner's environment), ``score`` and ``max-score`` (non-negative integers, the sums of the
  tests'), and ``tests``: ``test-name`` (a non-empty string), ``passed`` (a boolean),
  ``score`` and ``max-score`` (non-negative integers); a test's other fields are kept as
  they are. The runner stamps ``owner``, ``assignment_type``, ``graded_at`` and
  ``submitted_by`` itself, and the submission instant over ``datetime``.
- Exit 0 when grading ran to the end, pass or fail; any other status is an infrastructure
  error, which the runner posts as ``error`` without publishing a Release, so the student's
  grade is left as it was. ``release-body.md``, if written, is the Release's text and the
  job's summary.

``labkit release`` writes ``dist/classroom50/autograders/<lab>/`` for each lab: this
package's ``classroom50_autograder.py`` as ``autograder.py``, labkit, the student release's
graders (hidden checks cut out: the contract has no hidden tests, the Release and its
``result.json`` are the student's to read, and the bundle is fetched from the teacher's
Pages site), the lab's dataset files, and ``labkit.json``: which lab, which file of the
checkout to grade, and the sandbox setting. ``autograder.py`` installs labkit and runs
``python -m labkit.publish.classroom50 BUNDLE CHECKOUT``, which grades and writes, in the
checkout, ``result.json``, ``release-body.md`` (the score table with what to fix) and
``labkit-feedback.html`` (the feedback page, for the assignment's ``release_assets``).

Each labkit check is one test: its name, points, and whether it passed, with its message as
``output`` and labkit's tags (lab, category, and ``could not grade`` where so) as ``tags``.
A check the grader could not grade makes the autograder exit 3 after writing ``result.json``
(its tests say which): the runner posts an error, the submission keeps its last grade, and
a regrade, once the grader is fixed, grades it.

Usage: ``classroom50.autograders(course, Path("dist"))``
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labkit.publish import release
from labkit.report import checkresults, scoretable
from labkit.spec.course import HIDDEN_POINTS, Course

SCHEMA = "classroom50/result/v1"
FOLDER = "classroom50/autograders"  # under dist/: copy its folders to CLASSROOM/autograders/
CONFIG = "labkit.json"
RESULT = "result.json"
RELEASE_BODY = "release-body.md"
FEEDBACK = "labkit-feedback.html"
MAX_BUNDLE_BYTES = 10 * 2**20  # the runner fetches at most 10 MB of an assignment's bundle
EXIT_UNGRADED = 3
# What the runner passes each autograder, and the result.json field each one fills.
IDENTITY = {
    "classroom": "CLASSROOM",
    "assignment": "ASSIGNMENT",
    "submission": "SUBMISSION_TAG",
    "commit": "COMMIT_URL",
    "release": "RELEASE_URL",
    "review": "REVIEW_URL",
}


def autograders(course: Course, out: Path) -> Path:
    """Write ``out/classroom50/autograders/<lab>/`` for every lab; returns the folder."""
    root = out / FOLDER
    shutil.rmtree(root, ignore_errors=True)
    for name in course.labs:
        _whole_points(course, name)
        folder = root / name
        release.copy_labkit(folder / "labkit", strip=True)
        release._copy_python(course.graders, folder / "graders", strip=True)
        hidden = sum(check.points for check in course.checks(name) if check.hidden)
        (folder / "graders" / HIDDEN_POINTS).write_text(
            json.dumps({name: hidden} if hidden else {}, indent=2) + "\n"
        )
        release._copy_data(course, folder)
        release.copy_project_files(folder)
        shutil.copy(Path(__file__).with_name("classroom50_autograder.py"), folder / "autograder.py")
        config = {"lab": name, "submission": f"exercises/{name}.py", "isolation": "required"}
        (folder / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        size = _bundle_size(folder)
        if size > MAX_BUNDLE_BYTES:
            raise release.ReleaseError(
                f"{name}'s Classroom 50 bundle is {size / 2**20:.1f} MB compressed, over the "
                f"runner's {MAX_BUNDLE_BYTES // 2**20} MB: declare its dataset by URL and sha256"
            )
    return root


def _whole_points(course: Course, name: str) -> None:
    """Classroom 50 scores are whole numbers; refuse a lab whose checks' points are not."""
    for check in course.checks(name):
        if not check.hidden and not float(check.points).is_integer():
            raise release.ReleaseError(
                f"{name}: check {check.name} is worth {check.points:g} points, and Classroom 50 "
                "scores only whole points: give each check a whole number of points"
            )


def _bundle_size(folder: Path) -> int:
    """The size of ``folder`` as the tar.gz that Classroom 50 packs it into."""
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as bundle:
        bundle.add(folder, arcname=folder.name)
    return packed.tell()


def result_json(
    results: Mapping[str, Any], environment: Mapping[str, str], now: datetime.datetime
) -> dict[str, Any]:
    """labkit's results file as Classroom 50's ``result.json``, one test per check."""
    tests = [
        {
            "test-name": test["name"],
            "passed": test["status"] == "passed",
            "score": _whole(test["score"]),
            "max-score": _whole(test["max_score"]),
            "output": test["output"],
            "tags": test["tags"],
        }
        for test in results["tests"]
    ]
    identity = {field: environment.get(name, "") for field, name in IDENTITY.items()}
    identity["review"] = identity["review"] or identity["commit"]
    return {
        "schema": SCHEMA,
        **identity,
        "datetime": now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "score": sum(test["score"] for test in tests),
        "max-score": sum(test["max-score"] for test in tests),
        "tests": tests,
    }


def _whole(points: float) -> int:
    if not float(points).is_integer():
        raise ValueError(f"Classroom 50 scores whole points only, not {points:g}")
    return int(points)


def grade(bundle: Path, checkout: Path) -> int:
    """Grade the checkout's lab file with the bundle's labkit; write result.json and the rest."""
    config = json.loads((bundle / CONFIG).read_text(encoding="utf-8"))
    course = Course(bundle.resolve())
    with tempfile.TemporaryDirectory(prefix="labkit-classroom50-") as scratch:
        submission = checkout / config["submission"]
        if not submission.is_file():  # nothing handed in: every check says "not submitted"
            print(f"labkit autograder: no {config['submission']} in the submission")
            submission = Path(scratch) / "empty"
            submission.mkdir()
        results_file = Path(scratch) / "results.json"
        # No -P: the working folder is the bundle, whose labkit (without hidden checks) grades.
        command = [
            *(sys.executable, "-m", "labkit.cli", "grade", "--course", str(course.root)),
            *("--submission", str(submission), "--lab", config["lab"]),
            *("--isolation", config.get("isolation", "required")),
            *("--results", str(results_file), "--feedback", str(checkout / FEEDBACK)),
        ]
        status = subprocess.run(command, cwd=bundle, check=False).returncode
        if not results_file.is_file():
            _error(f"labkit grade stopped with status {status} before grading: see its output")
            return status or 1
        results = json.loads(results_file.read_text(encoding="utf-8"))
    result = result_json(results, os.environ, datetime.datetime.now(datetime.UTC))
    checkresults.write_json(checkout / RESULT, result)
    checks = checkresults.results_from_json(results)
    titles = {name: lab.title for name, lab in course.labs.items()}
    body = scoretable.markdown_table(checks, titles, course.hidden_points)
    (checkout / RELEASE_BODY).write_text(
        f"### labkit: {result['score']}/{result['max-score']}\n\n{body}", encoding="utf-8"
    )
    missing = checkresults.ungraded(checks)
    if missing:
        _error(
            f"could not grade {len(missing)} of {len(checks)} checks, a problem with the "
            "grader, not with the submission: the submission keeps its last grade; fix the "
            "cause, then regrade it. " + "; ".join(dict.fromkeys(c.message for c in missing))
        )
        return EXIT_UNGRADED
    return 0


def _error(message: str) -> None:
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=labkit autograder::{text}", flush=True)


if __name__ == "__main__":
    sys.exit(grade(Path(sys.argv[1]), Path(sys.argv[2])))
