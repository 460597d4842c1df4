"""Turn a notebook submission back into a lab module, without running any of its cells.

The module holds each graded cell (tagged ``graded:NAME``) as it is and, from the other cells,
only the statements that the graded code needs, with whatever those need in turn: constants,
helpers, imports, even the data a shape is read from. A training cell, a plot or a print is
never needed, so it never runs at grading time. Where a notebook lost its tags, the lab's API
names are looked up instead.

Cells are named as students count them: "cell 7" is the seventh cell from the top of the
notebook, starting at 1 and counting markdown cells too.

A notebook is the student's file, so reading it is bounded: the grader reads only a regular
file (never through a link) of at most MAX_NOTEBOOK_BYTES, and converts it in a child
process of its own with CPU-time, memory and wall-clock limits, so that a notebook made to
be slow or huge to parse costs its own lab ("could not be read") and nothing else. No error
quotes the file's content.

Usage: ``module = notebooks.convert(Path("my_lab.ipynb"), lab); module.text``
"""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from labkit.intake import sourcecode
from labkit.intake.sourcecode import Module
from labkit.spec.lab import Lab

GRADED_TAG = "graded:"
# The largest notebook the grader reads: a lab notebook is well under 1 MB, plots included.
MAX_NOTEBOOK_BYTES = 5 * 2**20
# What converting one notebook may use. A lab notebook takes well under a second and
# 100 MB; parsing Python takes some hundred bytes of memory per byte of code.
CONVERSION_CPU_SECONDS = 10
CONVERSION_MEMORY_BYTES = 2**30
CONVERSION_WALL_SECONDS = 60  # a backstop: a busy machine does not use up CPU time
_EXIT_MEMORY = 75  # the conversion child ran out of memory
_MAX_REPLY_BYTES = 64 * 2**20


class NotebookUnreadable(ValueError):
    """The file is not a notebook the grader can read, with what to do about it."""


class ConverterFailed(RuntimeError):
    """The grader's conversion process could not run at all: the grader's fault."""


def read_bytes(path: Path) -> bytes:
    """The notebook file's bytes: a regular file, never read through a link, within the cap."""
    try:  # O_NOFOLLOW: a link could point the grader at any file it may read
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        if path.is_symlink():
            raise OSError("a link")
        descriptor = os.open(path, flags)
    except OSError:
        raise NotebookUnreadable(
            f"{path.name} is not a plain file the grader can open: hand in the notebook "
            "itself, not a link to it"
        ) from None
    with open(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotebookUnreadable(
                f"{path.name} is not a plain file: hand in the notebook itself, not a link to it"
            )
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookUnreadable(_too_large(path.name, info.st_size))
        data = file.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:  # it grew while being read
        raise NotebookUnreadable(_too_large(path.name, len(data)))
    return data


def _too_large(name: str, size: int) -> str:
    return (
        f"{name} is {size / 2**20:.1f} MB, more than the {MAX_NOTEBOOK_BYTES / 2**20:g} MB the "
        "grader reads: clear its outputs (in Jupyter, Edit > Clear All Outputs), save it and "
        "hand it in again"
    )


def read(path: Path):
    """The notebook at ``path``, as nbformat's version 4."""
    return reads(read_bytes(path), path.name)


def reads(data: bytes, name: str):
    """The notebook in ``data``; ``name`` is the file's, for messages.

    Its errors say where the file stops being a notebook, never what it holds: a file that
    is not a notebook may be anything.
    """
    import nbformat

    advice = "Re-download it, or save it again from Jupyter."
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookUnreadable(
            f"{name} is not a readable notebook (not UTF-8 text, at byte {error.start}). " + advice
        ) from None
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookUnreadable(
            f"{name} is not a readable notebook (not JSON, at line {error.lineno}, column "
            f"{error.colno}). " + advice
        ) from None
    except (ValueError, RecursionError):
        raise NotebookUnreadable(
            f"{name} is not a readable notebook (not JSON). {advice}"
        ) from None
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat's own errors quote the file
        raise NotebookUnreadable(
            f"{name} is not a readable notebook (not in the notebook format: "
            f"{type(error).__name__}). " + advice
        ) from None


def graded_name(cell) -> str | None:
    """The API name a cell is tagged as defining, if any."""
    for tag in cell.get("metadata", {}).get("tags", []):
        if isinstance(tag, str) and tag.startswith(GRADED_TAG):
            return tag[len(GRADED_TAG) :]
    return None


def cells(notebook) -> list[sourcecode.Cell]:
    """The notebook's code cells, each labelled with its number from the top."""
    return [
        sourcecode.Cell(f"cell {number}", cell.get("source", ""), graded_name(cell) is not None)
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.get("cell_type") == "code"
    ]


def convert(path: Path, lab: Lab) -> Module:
    """The lab module that the notebook at ``path`` defines, to be written as ``LAB.py``.

    Converted in a child process within CONVERSION_* limits. Raises NotebookUnreadable,
    saying what to do, for a notebook that cannot be read or is too costly to convert, and
    ConverterFailed when the child could not run at all.
    """
    data = read_bytes(path)
    request = {
        "api": list(lab.api_names),
        "filename": f"{lab.name}.py",
        "name": path.name,
        "cpu_seconds": CONVERSION_CPU_SECONDS,
        "memory_bytes": CONVERSION_MEMORY_BYTES,
    }
    # -P: nothing importable from the folder the grader runs in, which may be the student's.
    command = [sys.executable, "-P", "-c", _CHILD, json.dumps(request)]
    try:
        finished = subprocess.run(
            command, input=data, capture_output=True, timeout=CONVERSION_WALL_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise NotebookUnreadable(_over_limits(path.name)) from None
    if finished.returncode in _OVER_LIMITS:
        raise NotebookUnreadable(_over_limits(path.name))
    try:
        if finished.returncode != 0 or len(finished.stdout) > _MAX_REPLY_BYTES:
            raise ValueError(finished.returncode)
        reply = json.loads(finished.stdout)
        unreadable = reply.get("unreadable")
        module = None if unreadable is not None else Module.from_json(reply["module"])
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        lines = finished.stderr.decode("utf-8", "replace").strip().splitlines()
        why = f": {lines[-1][:200]}" if lines else ""
        raise ConverterFailed(
            f"the grader's notebook reader stopped with status {finished.returncode}{why}"
        ) from None
    if unreadable is not None:
        raise NotebookUnreadable(str(unreadable))
    return module


def _over_limits(name: str) -> str:
    return (
        f"{name} could not be read: turning it into a module would take more than the "
        f"{CONVERSION_CPU_SECONDS:g} s of CPU time and {CONVERSION_MEMORY_BYTES / 2**20:g} MB "
        "of memory the grader allows. Look for a cell with an extremely long line, very many "
        "statements or deeply nested code, remove it, and hand the notebook in again"
    )


_OVER_LIMITS = {_EXIT_MEMORY, -getattr(signal, "SIGXCPU", signal.SIGTERM), -signal.SIGKILL}
# The folder this labkit was imported from comes last on the child's path: an installed
# labkit is found first as usual, and one run from its source folder is found too.
_CHILD = (
    f"import sys; sys.path.append({str(Path(__file__).resolve().parents[2])!r}); "
    "from labkit.intake import notebooks; notebooks._child()"
)


def _child() -> None:
    """The conversion process: a notebook on stdin, the module as JSON on stdout."""
    import nbformat  # noqa: F401  (imported before the limits, which then bound the work)

    request = json.loads(sys.argv[1])
    _limit(request["cpu_seconds"], request["memory_bytes"])
    try:
        data = sys.stdin.buffer.read(MAX_NOTEBOOK_BYTES + 1)
        try:
            notebook = reads(data, request["name"])
            module = sourcecode.assemble(
                cells(notebook), request["api"], request["filename"], request["name"]
            )
            reply: dict[str, Any] = {"module": module.to_json()}
        except NotebookUnreadable as error:
            reply = {"unreadable": str(error)}
        except (RecursionError, ValueError, TypeError, AttributeError) as error:
            reply = {
                "unreadable": f"{request['name']} could not be turned into a module "
                f"({type(error).__name__}). Re-download it, or save it again from Jupyter."
            }
        sys.stdout.write(json.dumps(reply))
        sys.stdout.flush()
    except MemoryError:
        os._exit(_EXIT_MEMORY)


def _limit(cpu_seconds: float, memory_bytes: int) -> None:
    """Bound this process, where the platform can: CPU time, then address space."""
    try:
        import resource
    except ImportError:  # Windows: the wall-clock timeout alone
        return
    for kind, value in (
        (resource.RLIMIT_CPU, max(1, math.ceil(cpu_seconds))),
        (getattr(resource, "RLIMIT_AS", None), memory_bytes),
    ):
        if kind is None:
            continue
        try:
            hard = resource.getrlimit(kind)[1]
            limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (limit, hard))
        except (ValueError, OSError):
            continue  # macOS refuses some limits; the wall-clock timeout still holds


def lab_from_metadata(path: Path) -> str | None:
    """The lab a notebook says it belongs to, in its ``labkit`` metadata."""
    try:
        notebook = json.loads(read_bytes(path).decode("utf-8"))
        lab = notebook["metadata"]["labkit"]["lab"]
    except (NotebookUnreadable, ValueError, KeyError, TypeError, RecursionError):
        return None
    return lab if isinstance(lab, str) else None
