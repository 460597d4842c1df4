"""How a grading run calls pytest: with labkit's plugin and the course's graders, nothing else.

pytest reads configuration from wherever it is run: ``conftest.py`` in the graders' folder
and every folder above it, the first of ``pytest.ini``, ``pyproject.toml``, ``tox.ini`` and
``setup.cfg`` it finds there (whose ``addopts`` and ``pythonpath`` can load any plugin), and
the ``PYTEST_ADDOPTS`` and ``PYTEST_PLUGINS`` variables. Run from a student's repository,
any of those could make every check pass. A grading run reads none of them: its
configuration file is an empty one labkit writes, conftest files are read only from the
graders' folder and below (a course may keep fixtures there), the cache is off, and both
variables are unset while pytest runs.

``sitecustomize.py`` and ``.pth`` files are read by Python itself, at start-up, from its
``site-packages`` and ``PYTHONPATH`` only: never from the folder a grading run starts in.

Usage::

    with isolated_environment():
        pytest.main([*isolated_args(graders, scratch_folder), ...])
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Environment variables through which pytest takes options or plugins from outside.
PYTEST_VARIABLES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")
INI_NAME = "labkit-pytest.ini"


def isolated_args(graders: Path, folder: Path) -> list[str]:
    """pytest's options for a run that loads configuration from ``graders`` alone.

    Writes the empty configuration file into ``folder``, which must outlive the run.
    """
    ini = folder / INI_NAME
    ini.write_text("[pytest]\n", encoding="utf-8")
    graders = graders.resolve()
    return [
        *("-c", str(ini)),  # this file, never one found around the graders or the cwd
        *("--rootdir", str(graders.parent)),
        *("--confcutdir", str(graders)),  # no conftest.py from the folders above
        *("-p", "no:cacheprovider"),  # nothing read from, or written to, .pytest_cache
        # Its end of the run collects garbage twice, a third of a re-judged submission's
        # time in a warm batch worker, for warnings that grading never shows.
        *("-p", "no:unraisableexception"),
    ]


@contextmanager
def isolated_environment() -> Iterator[None]:
    """PYTEST_ADDOPTS and PYTEST_PLUGINS unset while pytest runs in this process."""
    saved = {name: os.environ.pop(name) for name in PYTEST_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
