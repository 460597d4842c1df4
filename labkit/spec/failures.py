"""How a check fails: the message for the student, and the root causes behind it.

Shared by the checks, the harvest's reader and the model screen, which import nothing of
one another for it.

Usage: ``raise CheckFailed("preprocess() returned ...", causes=[Cause(message, short)])``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class CheckFailed(AssertionError):
    """A check did not pass; the message is written for the student.

    ``causes`` are the faults behind it, each a full message and a short name for it: when a
    later check of the same lab fails for a cause already shown, the report names it as
    ``blocked: SHORT`` instead of repeating it.
    """

    def __init__(self, message: str, short: str = "", causes: Sequence[Cause] = ()) -> None:
        super().__init__(message)
        self.causes: tuple[Cause, ...] = tuple(causes) or (Cause(message, short or message),)


@dataclass(frozen=True)
class Cause:
    """One root cause of failing checks: what to tell the student, and what to call it after."""

    message: str
    short: str


def todo_text(message: str) -> str:
    """A stub's TODO message without its leading 'TODO:', which the report already says."""
    stripped = message.strip()
    return stripped[5:].strip() if stripped.upper().startswith("TODO:") else stripped


class GraderFault(RuntimeError):
    """A check could not be judged, for a reason that is not the submission's.

    The check scores nothing for now and is reported as "could not grade", never as the
    student's failure; the message says what went wrong, for whoever runs the grader.
    """
