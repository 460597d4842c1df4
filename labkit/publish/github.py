"""GitHub Actions for a student's repository: the workflow the release ships, and its annotations.

``.github/workflows/grade.yml`` grades every push and pull request on any GitHub
repository, with no Classroom service behind it: it installs labkit as the release's README
says (``pip install -e .``, which is what ``nox -s grade`` runs), grades ``exercises/``,
adds the score table to the job's summary page, turns each failed check into an annotation
read from the JUnit file, and uploads the results, the JUnit file, the score table and a
feedback page as the ``labkit-feedback`` artifact.

The job ends as ``labkit grade`` does: green when every check passed; red when checks failed
(exit status 1, annotated "Checks failed": the student has work left, as any failing CI
build says); red with exit status 3 and the annotation "Could not grade" when the grader
failed on some checks (not the student's code: run the job again). The annotations and the
upload run in every case.

Annotations are GitHub's workflow commands (``::error title=...::message``), printed by
``python -m labkit.publish.github annotate FILE``; they need no third-party action. Every
text from a check, which may quote student code, is escaped so that it cannot start a
command of its own.

Usage: ``release`` writes ``WORKFLOW``; ``for line in annotations(junit_text): print(line)``
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree

from labkit.report.checkresults import BLOCKED, COULD_NOT_GRADE

WORKFLOW_PATH = ".github/workflows/grade.yml"
RESULTS_FOLDER = "labkit-results"  # what the job writes and uploads
ARTIFACT = "labkit-feedback"
WORKFLOW = f"""# Grades exercises/ on every push and pull request, as `nox -s grade` does locally.
# Red X: some checks failed (what to fix is in the annotations, the job summary and the
# {ARTIFACT} artifact). Red X with "Could not grade": the grader failed on some checks,
# not your code; re-run the job, and if it stays, tell your instructor.
name: Grade
"on":
  push:
  pull_request:
  workflow_dispatch:
permissions:
  contents: read
concurrency:
  group: grade-${{{{ github.ref }}}}
  cancel-in-progress: true
jobs:
  grade:
    name: Grade the labs
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
          cache: pip
          cache-dependency-path: pyproject.toml
      - name: Install labkit
        # What `nox -s grade` installs, without nox: nox would turn labkit's exit status
        # into its own 1, and the last step tells a failed check from a grader fault by it.
        run: python -m pip install -e .
      - name: Let the grading sandbox start
        # Ubuntu 24.04 keeps bubblewrap from user namespaces; the runner is a throwaway
        # machine. Where this cannot be changed, labkit grades without its sandbox.
        run: sudo -n sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true
      - name: Grade
        id: grade
        run: |
          mkdir -p {RESULTS_FOLDER}
          set +e
          labkit grade --results {RESULTS_FOLDER}/results.json \\
            --junitxml {RESULTS_FOLDER}/junit.xml --feedback {RESULTS_FOLDER}/feedback.html \\
            2>&1 | tee {RESULTS_FOLDER}/scores.txt
          echo "status=${{PIPESTATUS[0]}}" >> "$GITHUB_OUTPUT"
      - name: Annotate failed checks
        if: always()
        run: python -m labkit.publish.github annotate {RESULTS_FOLDER}/junit.xml exercises
      - name: Upload the feedback
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: {ARTIFACT}
          path: {RESULTS_FOLDER}/
          if-no-files-found: warn
      - name: Verdict
        if: always()
        env:
          STATUS: ${{{{ steps.grade.outputs.status }}}}
        run: |
          case "$STATUS" in
            0) echo "Every check passed." ;;
            1) echo "::error title=Checks failed::Some checks failed: the annotations," \
                 "the job summary and the {ARTIFACT} artifact say what to fix."
               exit 1 ;;
            3) echo "::error title=Could not grade::The grader could not grade some checks:" \
                 "a problem with the grader, not with your code. Re-run this job;" \
                 "if it stays, tell your instructor."
               exit 3 ;;
            *) echo "::error title=Grading did not finish::labkit grade ended with" \
                 "status '$STATUS' before grading: the Grade step's log says why."
               exit 2 ;;
          esac
"""


def annotations(junit: str, submission: Path | None = None) -> list[str]:
    """A workflow command per check that did not pass, from labkit's JUnit XML.

    A failed check is an ``error`` titled with its lab, description and points, its hint
    the message; one the grader could not grade is a ``warning`` that says so. Checks that
    failed only because of another come last, since GitHub shows the first few of a step.
    A testcase's ``file`` and ``line`` attributes, where the JUnit file has them, place the
    annotation in the code; else the lab's module in the ``submission`` folder, if it is there.
    """
    found = []
    for case in ElementTree.fromstring(junit).iter("testcase"):
        faults = [child for child in case if child.tag in ("failure", "error")]
        if not faults:
            continue
        fault = faults[0]
        message = fault.get("message") or (fault.text or "").strip()
        details = _details(case)
        lab = case.get("classname", "").split(".")[0]  # classname: <lab>.<category>
        title = f"{lab}: {case.get('name', '')}"
        if "points" in details and "max_points" in details:
            title += f" ({details['points']}/{details['max_points']})"
        if fault.tag == "error":
            level, title = "warning", f"{COULD_NOT_GRADE} (not your code): {title}"
        else:
            level = "error"
        module = submission / f"{lab}.py" if submission else None
        if not case.get("file") and module is not None and module.is_file():
            case.set("file", module.as_posix())
        where = [f"{key}={_property(case.get(key, ''))}" for key in ("file", "line")]
        where = [pair for pair in where if not pair.endswith("=")] + [f"title={_property(title)}"]
        command = f"::{level} {','.join(where)}::{_data(message)}"
        found.append((message.startswith(BLOCKED), command))
    return [command for _, command in sorted(found, key=lambda pair: pair[0])]


def _details(case: ElementTree.Element) -> dict[str, str]:
    """The ``key: value`` lines that open a testcase's system-out: points and category."""
    out = case.find("system-out")
    details = {}
    for line in (out.text or "").splitlines() if out is not None else []:
        if not line.strip():
            break  # a passed check's message follows the blank line
        key, _, value = line.partition(": ")
        details[key.strip()] = value.strip()
    return details


def _data(text: str) -> str:
    """A workflow command's message, escaped: a newline in it cannot start another command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] != "annotate":
        print(
            "usage: python -m labkit.publish.github annotate JUNIT_FILE [SUBMISSION_FOLDER]",
            file=sys.stderr,
        )
        return 2
    path = Path(argv[1])
    if not path.is_file():
        print(f"::warning::no {path}: grading stopped before any check ran (see the Grade step)")
        return 0
    submission = Path(argv[2]) if len(argv) == 3 else None
    for line in annotations(path.read_text(encoding="utf-8"), submission):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
