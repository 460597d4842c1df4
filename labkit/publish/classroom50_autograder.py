"""The ``autograder.py`` of a Classroom 50 assignment: labkit grades the student's checkout.

``labkit release`` copies this file, unchanged, into ``classroom50/autograders/<lab>/`` beside
labkit itself, the lab's graders (hidden checks cut out) and ``labkit.json``. Classroom 50's
runner runs it with its own Python, in the student's checkout, once per submission. It uses
the standard library only: it installs labkit from its own folder into a virtualenv (or
uses ``$LABKIT_PYTHON``, a Python that has labkit's dependencies), then runs
``labkit.publish.classroom50`` from its own folder, never the labkit in the student's
repository, which writes ``result.json``. Its exit status is that module's: 0 when the
submission was graded, whatever its score; non-zero when it could not be, which the runner
posts as an error without touching the submission's grade.

See https://github.com/foundation50/classroom50/wiki/Advanced-Autograding for the contract.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHONS = ((3, 11), (3, 13))  # the versions TensorFlow has wheels for
USERNS = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


def fail(message: str, status: int = 1) -> None:
    """Stop with an error the Actions log shows as an annotation."""
    text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    print(f"::error title=labkit autograder::{text}", flush=True)
    sys.exit(status)


def python() -> str:
    """A Python with labkit's dependencies: ``$LABKIT_PYTHON``, else a virtualenv made now."""
    given = os.environ.get("LABKIT_PYTHON")
    if given:
        return given
    version = sys.version_info[:2]
    if not PYTHONS[0] <= version <= PYTHONS[1]:
        fail(
            f"labkit needs Python 3.11 to 3.13, for TensorFlow, and this runner has "
            f"{version[0]}.{version[1]}: set the assignment's runtime to "
            '{"python": "3.12"}'
        )
    folder = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / "labkit-venv"
    interpreter = folder / "bin" / "python"
    print("labkit autograder: installing labkit and TensorFlow", flush=True)
    for command in (
        [sys.executable, "-m", "venv", "--clear", str(folder)],
        [str(interpreter), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
    ):
        done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            fail(f"could not install labkit ({' '.join(command[2:4])}):\n{done.stderr[-3000:]}")
    return str(interpreter)


def allow_sandbox() -> None:
    """On GitHub's Ubuntu 24.04 runners, let bubblewrap have user namespaces.

    The runner is a throwaway machine whose user may sudo; elsewhere nothing changes, and
    labkit says why its sandbox cannot start.
    """
    if os.environ.get("GITHUB_ACTIONS") != "true" or not USERNS.is_file():
        return
    if USERNS.read_text().strip() == "1":
        command = ["sudo", "-n", "sysctl", "-w", f"kernel.{USERNS.name}=0"]
        subprocess.run(command, capture_output=True, check=False)


def main() -> int:
    interpreter = python()
    allow_sandbox()
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [interpreter, "-m", "labkit.publish.classroom50", str(HERE), str(Path.cwd())]
    return subprocess.run(command, cwd=HERE, env=environment, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
