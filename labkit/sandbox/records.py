"""The harvest's records, and what in them the harvest itself did not write.

The harvest child reports each step of a lab as numbered events on a pipe, each signed with
a key the grader makes for that harvest alone and hands over in the request, never in the
environment or a file; each step that saves a value names its files with their SHA-256. In
the sandbox, the lab's parent (``labkit.sandbox.confine``), which the lab cannot reach,
takes each step's files as soon as the step reports, before the next call, and says so
when a file changes later or appears outside any call.

Student code runs in the same process as the harvest and can, with effort, read the key
from memory: this is evidence, not a wall. What it catches is the usual way to pass off
something else as a function's value: writing the grader's files or events directly.

Usage, in the grader::

    record = records.read(events, key, lab, collected=True)
    record.steps, record.forged, record.findings
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.sandbox import tamper
from labkit.spec.lab import FIGURE, Lab

OK, TODO, ERROR, SKIPPED, STARTED = "ok", "todo", "error", "skipped", "started"
FIELDS = ("seq", "step", "status", "message", "files")
SIGNATURE_CHARS = 32
COLLECTOR = "collector"  # the key of a line from the lab's parent, never from the lab
END = "harvest"  # the step that says the harvest finished
CRASHED = "crashed"  # the step that says the harvest's own code failed, and why
# What the lab's parent found, by the word its line uses.
REWRITTEN, UNEXPLAINED, CHANGED, CLAIMED = "rewritten", "unexplained", "changed", "claimed"


@dataclass(frozen=True)
class Step:
    status: str
    message: str = ""


def signature(
    key: str,
    event: dict[str, Any],
    dumps: Callable[..., str] = json.dumps,
    digest: Callable[..., bytes] = hmac.digest,
) -> str:
    """The signature of ``event``'s fields under ``key``.

    The harvest passes the functions it took before importing the submission.
    """
    text = dumps([event.get(name) for name in FIELDS], sort_keys=True)
    return digest(key.encode(), text.encode(), "sha256").hex()[:SIGNATURE_CHARS]


def when(step: str) -> str:
    """'on import', 'in build_model()', 'while reading CLASS_NAMES', 'after the last call'."""
    if step == "import":
        return "on import"
    if not step or step == END:
        return "after the last call"
    return f"while reading {step}" if step.isupper() else f"in {step}()"


def own_files(lab: Lab, step: str) -> set[str]:
    """The files the harvest saves for ``step``: its value, and a figure's images."""
    names = {function.name: function for function in lab.api}
    if step not in names:
        return set()
    function = names[step]
    if function.returns != FIGURE:
        return {function.filename}
    return {function.filename, f"{step}.npz", f"{step}.png"}


@dataclass
class Record:
    """What a harvest's events say, as far as the harvest itself wrote them."""

    steps: dict[str, Step] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (step, sha256)
    forged: str = ""  # the first thing in the events the harvest did not write; '' for none
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (file, what, step)
    crashed: str = ""  # why the harvest's own code failed, as it said; '' when it did not


def read(lines: list[str], key: str, lab: Lab, collected: bool) -> Record:
    """The record in the child's event ``lines``, read up to the first one it did not write.

    With ``collected``, lines from the lab's parent are its findings; without, the lab
    wrote them itself.
    """
    record = Record()
    order = iter(["import", *(function.name for function in lab.api)])
    running: str | None = None
    finished = sealed = False
    count = 0
    for line in lines:
        event = _parsed(line)
        if isinstance(event, dict) and COLLECTOR in event:
            finding = event[COLLECTOR]
            if collected and isinstance(finding, dict) and finding.get("what") != CLAIMED:
                record.findings.append(
                    (str(finding.get("file")), str(finding.get("what")), str(finding.get("step")))
                )
                continue
            where = when(running) if running else "between calls"
            record.forged = f"a line {where} in the name of the grader's own process"
            break
        if not _signed(event, key, count):
            where = when(running) if running else "between calls"
            record.forged = f"a line {where} that the harvest did not write"
            break
        count += 1
        step, status = event["step"], event["status"]
        files = event["files"]
        if finished:
            problem = "after the harvest had ended"
        elif status == ERROR and step == CRASHED:
            record.crashed = event["message"]
            break  # its last line: the child exits with the crash's status
        elif status == STARTED and running is None and not sealed and step == next(order, None):
            running, problem = step, ""
        elif status != STARTED and step == running and set(files) <= own_files(lab, step):
            running, problem = None, ""
        elif status == ERROR and step == "import" and running is None:
            sealed = event["message"].startswith(tamper.MESSAGE)  # the seal ends the lab
            problem = "" if sealed else "out of order"
        elif status == OK and step == END and running is None:
            finished, problem = True, ""
        else:
            problem = when(running) if running else "between calls"
        if problem:
            record.forged = f"'{step} {status}' {problem}, which the harvest never writes"
            break
        record.steps[step] = Step(status, event["message"])
        record.files.update({name: (step, digest) for name, digest in files.items()})
    return record


def check_files(folder: Path, record: Record) -> tuple[dict[str, str], set[str]]:
    """Keep in ``folder`` only the files the record's steps saved, as they saved them.

    Returns what was found, as a phrase for each file, and the files of a step that are
    gone for that reason; files that no step saved are removed and named.
    """
    found: dict[str, str] = {}
    lost: set[str] = set()
    for name, what, step in record.findings:
        if what == REWRITTEN:
            found[name] = f"{name} was rewritten {when(step)}"
        elif what == UNEXPLAINED:
            found[name] = f"{name} was written {when(step)}, not by the harvest"
        elif what == CHANGED:
            found[name] = f"{name} changed {when(step)} before the grader could take it"
            lost.add(name)
    for path in sorted(folder.iterdir()):
        saved = record.files.get(path.name)
        if saved is None:
            found.setdefault(path.name, f"{path.name} was written outside the harvest's saving")
        elif _sha256(path) != saved[1]:
            said = f"{path.name} was rewritten after the harvest saved it {when(saved[0])}"
            found.setdefault(path.name, said)
            lost.add(path.name)
        else:
            continue
        path.unlink()
    return found, lost & set(record.files)


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _signed(event: Any, key: str, count: int) -> bool:
    """Whether ``event`` is the harvest's own event number ``count``, signed with ``key``."""
    if not isinstance(event, dict) or set(event) != {*FIELDS, "mac"}:
        return False
    files = event["files"]
    shaped = (
        event["seq"] == count
        and all(isinstance(event[name], str) for name in ("step", "status", "message", "mac"))
        and isinstance(files, dict)
        and all(isinstance(value, str) for value in files.values())
    )
    return shaped and hmac.compare_digest(event["mac"], signature(key, event))


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
