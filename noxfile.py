"""Sessions: ``nox -s grade`` grades a submission; ``nox -s tests`` tests labkit itself.

Every session runs in one shared environment, ``.nox/labkit``, which holds labkit with all
its extras: TensorFlow is installed once, not once per session. It is made with uv where uv
is installed (from uv's shared cache, with its progress shown), else with venv and pip, and
installed again only when ``pyproject.toml`` changes.

Usage: ``nox -s grade -- --submission PATH --lab cv3_mnist_cnn``, ``nox -s labkit -- labs``
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["grade"]

ROOT = Path(__file__).parent
ENV = ROOT / ".nox" / "labkit"
BIN = ENV / ("Scripts" if sys.platform == "win32" else "bin")
STAMP = ENV / "labkit-installed.txt"  # what the environment was installed from
# Offline copies of the datasets, when this checkout sits next to a shared/data folder.
SHARED_DATA = ROOT.parent / "shared" / "data"


def data_env() -> dict[str, str]:
    """Point LABKIT_DATA at the shared offline data unless the user chose a folder already."""
    if "LABKIT_DATA" in os.environ or not SHARED_DATA.is_dir():
        return {}
    return {"LABKIT_DATA": str(SHARED_DATA)}


def find_uv() -> str | None:
    """uv on PATH, or the one `pip install 'nox[uv]'` put beside nox; None without uv."""
    if shutil.which("uv"):
        return shutil.which("uv")
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


def wanted() -> str:
    """What the environment must be installed from: the Python and pyproject.toml's hash."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{sys.executable}\n{digest}\n"


def shared_env(session: nox.Session) -> None:
    """Make ``.nox/labkit`` hold labkit as pyproject.toml says, then run in it.

    nox gives each session an environment of its own (a 1.7 GB TensorFlow each); every
    session here uses this one instead, installed with all of labkit's extras.
    """
    if not (STAMP.is_file() and STAMP.read_text() == wanted()):
        uv = find_uv()
        session.log(
            f"installing labkit, TensorFlow and their dependencies into {ENV} with "
            f"{'uv' if uv else 'pip (install uv to make this faster)'}: a few minutes the "
            "first time, after that only when pyproject.toml changes"
        )
        if STAMP.is_file() and STAMP.read_text().split("\n")[0] != sys.executable:
            shutil.rmtree(ENV)  # made with another Python: its packages do not fit this one
        STAMP.unlink(missing_ok=True)
        python = str(BIN / "python")
        if uv:
            session.run(uv, "venv", "--allow-existing", "--python", sys.executable, str(ENV))
            session.run(uv, "pip", "install", "--python", python, "-e", ".[test,batch]")
        else:
            session.run(sys.executable, "-m", "venv", str(ENV))
            # Progress bars even where the output is no terminal (a CI log): the download is
            # large, and a silent pause of minutes looks like a hang.
            session.run(
                python, "-m", "pip", "install", "--progress-bar", "on", "-e", ".[test,batch]"
            )
        STAMP.write_text(wanted())
    session.env["VIRTUAL_ENV"] = str(ENV)
    session.env["PATH"] = os.pathsep.join((str(BIN), os.environ.get("PATH", "")))
    session.env.update(data_env())


def tool(name: str) -> str:
    """The program ``name`` in the shared environment (nox looks only on its own PATH)."""
    return str(BIN / name)


def run_here(session: nox.Session, program: str, *args: str) -> None:
    """Run ``program`` from the shared environment in the folder nox was started from, as
    if typed there: `cd my-course && nox -f ../labkit/noxfile.py -s labkit -- labs`."""
    shared_env(session)
    session.chdir(session.invoked_from)
    session.run(tool(program), *args)


# Every session shares ENV, so none has an environment of nox's own.
shared = nox.session(venv_backend="none")


@shared
def labkit(session: nox.Session) -> None:
    """Run any labkit command: `nox -s labkit -- labs`, `-- new-lab NAME`, `-- --help`."""
    run_here(session, "labkit", *(session.posargs or ["--help"]))


@shared
def grade(session: nox.Session) -> None:
    """Grade exercises/ (or --submission PATH) and print the score table."""
    run_here(session, "labkit", "grade", *session.posargs)


@shared
def tests(session: nox.Session) -> None:
    """Lint labkit, then run its own test suite on the real datasets."""
    shared_env(session)
    session.run(tool("ruff"), "check", ".")
    session.run(tool("ruff"), "format", "--check", ".")
    session.run(tool("lint-imports"))  # the stages' layers, as pyproject.toml's contract says
    # pytest exits 5 when it collects no tests; that fails the session on purpose, since
    # labkit's suite is never empty and an empty run would prove nothing.
    session.run(tool("pytest"), *session.posargs)


@shared
def grade_batch(session: nox.Session) -> None:
    """Grade a class folder of submissions: gradebook, results and feedback pages."""
    run_here(session, "labkit", "grade-batch", *session.posargs)


@shared
def release(session: nox.Session) -> None:
    """Build dist/student/, dist/student.zip and dist/classroom50/autograders/ (per lab)."""
    run_here(session, "labkit", "release", *session.posargs)


@shared
def gradescope(session: nox.Session) -> None:
    """Build dist/gradescope.zip: the autograder for Gradescope, hidden checks included."""
    run_here(session, "labkit", "release", "--gradescope", *session.posargs)


@shared
def bench(session: nox.Session) -> None:
    """Print where grading time goes, per lab and for whole runs, against a bare TF import."""
    run_here(session, "python", "-m", "labkit.measure.bench", *session.posargs)


@shared
def calibrate(session: nox.Session) -> None:
    """Train the reference and the mistake variants over seeds: thresholds and their margins."""
    run_here(session, "python", "-m", "labkit.measure.calibrate", *session.posargs)


@shared
def check_course(session: nox.Session) -> None:
    """Check the course against itself: declarations, files, then reference and stub scores."""
    run_here(session, "labkit", "check-course", *session.posargs)


@shared
def handouts(session: nox.Session) -> None:
    """Build the student and solution notebooks and HTML pages into build/handouts/."""
    run_here(session, "labkit", "handouts", *session.posargs)
