"""What each lab's processes may use, and the command-line options that set it.

Time is counted in CPU seconds, which a busy machine does not use up: a correct solution
graded beside other work gets the same grade as on an idle machine. The wall-clock limit is
only a backstop against a process that waits forever; it sits far above what any lab needs
on a loaded machine.

Each limit is an option (``--time-limit``) and a setting, the environment variable
``LABKIT_TIME_LIMIT`` and so on, which gives the option's default: for a CI job, a course's
noxfile or an autograder image.

Usage::

    limits = Limits.from_options(args)   # argparse's namespace, or pytest's config.getoption
    pytest_args += limits.to_args()
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GIB = 2**30


@dataclass(frozen=True)
class Limits:
    """What one lab's child processes may use."""

    cpu_seconds: float = 120.0  # each lab's submission process
    memory_bytes: int = 4 * GIB  # each process, submission's or training
    training_seconds: float = 600.0  # CPU seconds of the grader's training of one model
    wall_seconds: float = 900.0  # any one process, submission's or training

    @classmethod
    def from_options(cls, option: Callable[[str], Any]) -> Limits:
        """Read the limits from parsed options; ``option(dest)`` returns one option's value."""
        return cls(**{spec.field: spec.value(option(spec.dest)) for spec in OPTIONS})

    def to_args(self) -> list[str]:
        """The command-line options that give these limits."""
        args = []
        for spec in OPTIONS:
            args += [spec.flag, f"{getattr(self, spec.field) / spec.unit:g}"]
        return args


class SettingError(ValueError):
    """A limit's environment variable that is not a number; the message says what to set."""


@dataclass(frozen=True)
class Option:
    """One limit's command-line option: its flag, the field it sets, and in what unit."""

    flag: str
    field: str
    help: str
    unit: float = 1.0
    metavar: str = "SECONDS"

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def value(self, given: float) -> float:
        """The field's value for ``given``, in the option's unit; bytes are whole numbers."""
        return given if self.unit == 1 else round(given * self.unit)

    @property
    def setting(self) -> str:
        """The environment variable that gives the option's default."""
        return "LABKIT_" + self.dest.upper()

    @property
    def default(self) -> float:
        """The setting's value where it is set, else the limit's own default."""
        given = os.environ.get(self.setting, "").strip()
        if given:
            try:
                return float(given)
            except ValueError:
                raise SettingError(
                    f"{self.setting}={given!r} is not a number: set it to {self.metavar}, "
                    "for example 120"
                ) from None
        default = {item.name: item.default for item in dataclasses.fields(Limits)}[self.field]
        return default / self.unit


OPTIONS = (
    Option(
        "--time-limit",
        "cpu_seconds",
        "CPU seconds for each lab's submission process (default: %(default)g; "
        "setting: LABKIT_TIME_LIMIT)",
    ),
    Option(
        "--training-limit",
        "training_seconds",
        "CPU seconds for the grader's training of each lab's model (default: %(default)g; "
        "setting: LABKIT_TRAINING_LIMIT)",
    ),
    Option(
        "--wall-limit",
        "wall_seconds",
        "wall-clock seconds for any one process, a backstop against one that waits forever "
        "(default: %(default)g; setting: LABKIT_WALL_LIMIT)",
    ),
    Option(
        "--memory-limit",
        "memory_bytes",
        "GiB for each lab's processes (default: %(default)g; setting: LABKIT_MEMORY_LIMIT)",
        unit=GIB,
        metavar="GIB",
    ),
)


def add_options(add: Callable[..., Any]) -> None:
    """Declare the limit options with ``add``: argparse's add_argument or pytest's addoption."""
    for spec in OPTIONS:
        add(spec.flag, type=float, default=spec.default, metavar=spec.metavar, help=spec.help)
