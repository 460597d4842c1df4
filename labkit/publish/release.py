"""What a course hands out: the student release, and the Gradescope autograder.

The student release (``dist/student/`` and ``dist/student.zip``) holds the stubs, the
student notebooks, labkit's runtime, the public graders, a ``noxfile.py``, a short README
and a GitHub Actions workflow that grades every push (``labkit.publish.github``). Nothing
from ``reference/``, no solution notebooks, no ``tests/``, and no hidden check: every test
marked ``check(..., hidden=True)`` is cut out of the Python files it ships, and
``graders/hidden_points.json`` keeps only how many points they are worth, for the student's
score table.

The Gradescope bundle (``dist/gradescope.zip``) holds the full graders, hidden checks
included, with ``setup.sh`` and ``run_autograder`` as Gradescope's autograder format
expects them.

Usage: ``release.student(course, Path("dist"))``, ``release.gradescope(course, Path("dist"))``
"""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from labkit.spec.course import HIDDEN_POINTS, Course

PACKAGE = Path(__file__).resolve().parents[1]  # labkit/, whose subpackages ship too
# labkit's notebook skeleton, which a release's copy of labkit needs to build notebooks. Not
# the starter of new-course: its example solution would hand students answers.
PACKAGE_DATA = "publish/skeleton/*.j2"
PROJECT_FILES = ("pyproject.toml",)
STUDENT_NOXFILE = '''"""Check your lab work: `nox -s grade` grades exercises/, lab by lab."""

import nox

nox.options.sessions = ["grade"]
nox.options.reuse_existing_virtualenvs = True
# uv, where it is installed, makes the environment from its shared cache, and faster.
nox.options.default_venv_backend = "uv|virtualenv"


@nox.session
def grade(session: nox.Session) -> None:
    """Grade exercises/ (or --submission PATH) and print the score table."""
    session.install("-e", ".")
    session.run("labkit", "grade", *session.posargs)
'''
STUDENT_README = """# Your labs

Each lab is a module in `exercises/` and a notebook in `notebooks/`. Fill in the functions
marked TODO, in the module or in the notebook, then check your work:

```
pip install nox
nox -s grade                                        # every lab in exercises/
nox -s grade -- --lab {first}                 # one lab
nox -s grade -- --submission notebooks/{first}.ipynb   # a notebook
```

The first run installs TensorFlow and takes a few minutes. The table says what passed, and
what to fix where something failed. Some checks are graded only after the deadline; the
table says how many points they are worth. Without nox, `pip install -e .` installs the
same, and `labkit grade` takes the same options.

## In Jupyter

The last cell of each notebook, "check your work", grades it, so the notebook's kernel
needs labkit. Install it once, in this folder, into an environment of its own:

```
python -m venv .venv
source .venv/bin/activate              # on Windows: .venv\\Scripts\\activate
pip install -e . jupyterlab
jupyter lab notebooks/
```

To use another Jupyter, or VS Code, make that environment a kernel (with it active), then
choose "Python (labkit)" as the notebook's kernel:

```
python -m ipykernel install --user --name labkit --display-name "Python (labkit)"
```

## On GitHub

Every push is graded by `.github/workflows/grade.yml`: the run's summary shows the table,
failed checks are annotated with what to fix, and the `labkit-feedback` artifact holds a
feedback page with the grader's training run of your models.
"""
# What the README's and nox's set-ups make in the folder, which has no place in a commit.
STUDENT_GITIGNORE = ".venv/\n.nox/\n__pycache__/\n"
SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image (Ubuntu 22.04, whose
# python3 is 3.10: too old for labkit, which needs 3.11 to 3.13). It installs a pinned
# Python with uv, labkit and its pinned dependencies, and each lab's dataset, all where any
# user may read them (LABKIT_HOME); makes the course folder root's alone; and says which
# sandbox grading will use. Any step that fails stops the build with what to do.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
LABKIT_HOME="${LABKIT_HOME:-/opt/labkit}"
PYTHON_VERSION="${LABKIT_PYTHON_VERSION:-3.12.12}"  # python-build-standalone, through uv
UV_VERSION="0.13.9"

say() { echo "setup.sh: $*" >&2; }
die() { echo "setup.sh: error: $*" >&2; exit 1; }

# Whether $1 is a Python that labkit runs on.
python_fits() {
  "$1" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' >/dev/null 2>&1
}

# uv, from PyPI: PATH's, else installed with the image's python3.
find_uv() {
  if command -v uv >/dev/null 2>&1; then
    command -v uv
    return
  fi
  if ! { python3 -m venv "$LABKIT_HOME/uv" \
    && "$LABKIT_HOME/uv/bin/pip" install --quiet "uv==$UV_VERSION"; } >&2; then
    die "could not install uv $UV_VERSION from PyPI with $(python3 --version 2>&1)"
  fi
  echo "$LABKIT_HOME/uv/bin/uv"
}

# The Python to build labkit's virtualenv with: LABKIT_SETUP_PYTHON if set, else Python
# $PYTHON_VERSION installed by uv into $LABKIT_HOME/python. Prints its path.
choose_python() {
  if [ -n "${LABKIT_SETUP_PYTHON:-}" ]; then
    python_fits "$LABKIT_SETUP_PYTHON" \
      || die "LABKIT_SETUP_PYTHON=$LABKIT_SETUP_PYTHON is not Python 3.11 to 3.13"
    echo "$LABKIT_SETUP_PYTHON"
    return
  fi
  local uv found
  uv="$(find_uv)"
  export UV_PYTHON_INSTALL_DIR="$LABKIT_HOME/python"
  "$uv" python install "$PYTHON_VERSION" >&2 \
    || die "could not install Python $PYTHON_VERSION with uv: labkit needs Python 3.11 to" \
      "3.13 and this image has $(python3 --version 2>&1 || echo no python3). The build" \
      "needs internet access (uv downloads python-build-standalone), or set" \
      "LABKIT_SETUP_PYTHON to a Python 3.11 to 3.13 on the image."
  found="$("$uv" python find --python-preference only-managed "$PYTHON_VERSION")" \
    || die "uv installed Python $PYTHON_VERSION but cannot find it in $UV_PYTHON_INSTALL_DIR"
  python_fits "$found" || die "$found is not Python 3.11 to 3.13"
  echo "$found"
}

main() {
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -q
    apt-get install -y -q ca-certificates python3 python3-venv python3-pip
  fi
  mkdir -p "$LABKIT_HOME"
  chmod 755 "$LABKIT_HOME"
  local python
  python="$(choose_python)"
  say "Python: $("$python" --version) at $python"
  "$python" -m venv "$LABKIT_HOME/venv"
  "$LABKIT_HOME/venv/bin/pip" install --quiet "$SOURCE"
  # The datasets now, while the build has internet: grading needs no network.
  (cd / && "$LABKIT_HOME/venv/bin/python" -m labkit.publish.autograder datasets \
    "$SOURCE" "$LABKIT_HOME/data") || die "could not write the labs' datasets"
  chmod -R a+rX "$LABKIT_HOME"
  # The graders, hidden checks included: root's alone, out of reach of student code.
  chown -R 0:0 "$SOURCE"
  chmod -R go-rwx "$SOURCE"
  # Which sandbox grading will use; none would refuse every submission, so stop here.
  (cd / && "$LABKIT_HOME/venv/bin/python" -m labkit.sandbox.isolation required) \
    || die "grading would refuse every submission: no sandbox can run in this image"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
"""
RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grade it, hidden checks included, in the sandbox
# (labkit.publish.autograder). Whatever happens, results.json says it: a grade, or why the
# submission could not be graded.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
LABKIT_HOME="${LABKIT_HOME:-/opt/labkit}"
PYTHON="${LABKIT_PYTHON:-$LABKIT_HOME/venv/bin/python}"
if [ -d "$LABKIT_HOME/data" ]; then
  export LABKIT_DATA="${LABKIT_DATA:-$LABKIT_HOME/data}"  # written by setup.sh: no network
fi
mkdir -p "$ROOT/results"
# Never from the course folder: labkit is imported from the virtualenv, which children read.
cd /
"$PYTHON" -m labkit.publish.autograder grade "$ROOT" > "$ROOT/results/output.txt" 2>&1
if [ ! -s "$ROOT/results/results.json" ]; then
  # Not even labkit could say why (is setup.sh's virtualenv there?): say so by hand.
  cat > "$ROOT/results/results.json" <<'JSON'
{"score": 0, "output_format": "text",
 "output": "The autograder could not grade this submission, through no fault of your code.",
 "tests": [{"name": "The autograder could not grade this submission", "score": 0,
            "max_score": 0, "status": "failed", "tags": ["could not grade"],
            "output": "labkit did not start: see the autograder's output"}],
 "extra_data": {"could not grade": ["the whole submission"]}}
JSON
fi
"""


def strip_hidden(source: str) -> str:
    """The module without its hidden checks: each test marked check(..., hidden=True)."""
    tree = ast.parse(source)
    cut: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_hidden(node):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            cut.append((first, node.end_lineno or node.lineno))
    lines = source.splitlines(keepends=True)
    for first, last in sorted(cut, reverse=True):
        del lines[first - 1 : last]
    return "".join(lines)


def _is_hidden(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "check":
            for keyword in decorator.keywords:
                if keyword.arg == "hidden" and getattr(keyword.value, "value", False) is True:
                    return True
    return False


def student(course: Course, out: Path) -> Path:
    """Write ``out/student/`` and ``out/student.zip``; returns the zip's path."""
    from labkit.publish import github, handouts

    folder = out / "student"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    labs = list(course.labs)
    _copy_python(course.exercises, folder / "exercises", strip=False)
    copy_labkit(folder / "labkit", strip=True)
    _copy_python(course.graders, folder / "graders", strip=True)
    hidden = {
        name: sum(check.points for check in course.checks(name) if check.hidden) for name in labs
    }
    (folder / "graders" / HIDDEN_POINTS).write_text(
        json.dumps({name: points for name, points in hidden.items() if points}, indent=2) + "\n"
    )
    (folder / "notebooks").mkdir()
    with tempfile.TemporaryDirectory(prefix="labkit-release-") as built:
        for handout in handouts.build(course, Path(built), labs, epochs=None, run=False):
            shutil.copy(handout.student, folder / "notebooks" / handout.student.name)
    copy_project_files(folder)
    _copy_data(course, folder)
    (folder / "noxfile.py").write_text(STUDENT_NOXFILE)
    (folder / "README.md").write_text(STUDENT_README.format(first=labs[0]))
    (folder / ".gitignore").write_text(STUDENT_GITIGNORE)
    workflow = folder / github.WORKFLOW_PATH
    workflow.parent.mkdir(parents=True)
    workflow.write_text(github.WORKFLOW)
    return _zip(folder, out / "student.zip")


def gradescope(course: Course, out: Path) -> Path:
    """Write ``out/gradescope.zip``, Gradescope's autograder format; returns its path."""
    with tempfile.TemporaryDirectory(prefix="labkit-gradescope-") as built:
        folder = Path(built)
        copy_labkit(folder / "labkit", strip=False)
        _copy_python(course.graders, folder / "graders", strip=False)
        _copy_data(course, folder)
        copy_project_files(folder)
        (folder / "README.md").write_text("labkit's autograder for Gradescope.\n")
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            (folder / name).write_text(text)
            (folder / name).chmod(0o755)
        out.mkdir(parents=True, exist_ok=True)
        return _zip(folder, out / "gradescope.zip")


class ReleaseError(ValueError):
    """The course cannot be bundled as it is; the message says what to change."""


def _copy_data(course: Course, folder: Path) -> None:
    """Copy the dataset files that labs declare by path, to the same place in the bundle."""
    for lab in course.labs.values():
        if not lab.dataset.path:
            continue
        path = Path(lab.dataset.path).resolve()
        try:
            relative = path.relative_to(course.root)
        except ValueError:
            raise ReleaseError(
                f"{lab.name}'s dataset file {path} is outside the course folder {course.root}: "
                "move it into the course, or declare the dataset by URL and sha256"
            ) from None
        if path.is_file():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, folder / relative)


def copy_labkit(target: Path, strip: bool) -> None:
    """Copy labkit into ``target``: its modules (without hidden checks if ``strip``) and the
    notebook skeleton, so that the copy builds notebooks as this one does."""
    _copy_python(PACKAGE, target, strip)
    for path in sorted(PACKAGE.glob(PACKAGE_DATA)):
        copy = target / path.relative_to(PACKAGE)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)


def copy_project_files(folder: Path) -> None:
    """Copy labkit's pyproject.toml, which installs the bundle's labkit, into ``folder``."""
    for name in PROJECT_FILES:
        path = PACKAGE.parent / name
        if not path.is_file():
            raise ReleaseError(
                f"labkit's {name} is not beside its package in {PACKAGE.parent}, as in an "
                "install from a wheel: install labkit from its source folder "
                "(pip install -e PATH/TO/labkit) to build a release"
            )
        shutil.copy(path, folder / name)


def _copy_python(source: Path, target: Path, strip: bool) -> None:
    for path in sorted(source.rglob("*.py")):
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        copy.write_text(strip_hidden(text) if strip else text, encoding="utf-8")


def _zip(folder: Path, archive: Path) -> Path:
    """Zip ``folder``'s contents, executable bits kept, with fixed dates: the same input
    gives the same zip."""
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (2026, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, path.read_bytes())
    return archive
