"""Run a submission's harvest in a child process with limits, and read back what it left.

Each lab has its own folder in the run's work folder: ``in`` (the submission's files and
the grader's inputs, read-only to the child), ``out`` and ``scratch`` (the child's to
write), and ``harvest``, where the grader copies what it accepts from ``out`` once the
child and all it started are gone. The child reports its steps over a pipe.

Usage: ``result = sandbox.run(lab, module_path, workdir, Limits())`` (``labkit.spec.limits``)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.intake import notebooks
from labkit.intake.submission import MAX_MODULE_BYTES
from labkit.sandbox import forkserver, harvest, isolation, records, screen, tamper
from labkit.sandbox.records import Step
from labkit.spec import datasets
from labkit.spec.failures import Cause, CheckFailed, GraderFault, todo_text
from labkit.spec.lab import ARRAY, FIGURE, MODEL, NAMES, Data, Function, Lab, Value
from labkit.spec.limits import Limits
from labkit.spec.text import MAX_MESSAGE as MAX_MESSAGE
from labkit.spec.text import clean_message

MAX_FILE_BYTES = 256 * 2**20
MAX_UNPACKED_BYTES = 1024 * 2**20  # all files kept of a lab, and all members of one zip
MAX_OUTPUT_FILES = 64  # a harvest writes about ten
MAX_ZIP_ENTRIES = 10_000  # a saved model has a handful
ZIP_END_SEARCH = 22 + 65535  # the end record, and the longest comment that may follow it
MAX_HELPER_MODULES = 100  # .py files beside a lab module that it may import
# What the grader reads back of each kind of value, at most, checked before it reads a byte:
# what the value can legitimately be, so that parsing it stays small too.
FIGURE_BYTES = 256 * 2**10  # a figure's description; the 5x5 sample grid's is 7 KB
JSON_BYTES = 256 * 2**10
NAME_BYTES = 1024  # each class name, in JSON
ARRAY_FACTOR = 4  # an array may hold this many times the numbers its function was given,
NUMBER_BYTES = 16  # each of up to 16 bytes (complex128)
MIN_ARRAY_BYTES = 2**20
FIGURE_IMAGES = 64  # images one figure may show; the sample grid shows 25
PIXEL_BYTES = 4 * 8  # an image's pixel as RGBA, in float64
MAX_PICTURE_PIXELS = 4096 * 4096  # a figure's PNG, for the feedback page; 720 x 720 is usual


@dataclass
class Harvest:
    """What a submission's child process left behind for one lab, read defensively."""

    lab: Lab
    module_path: Path | None
    folder: Path
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    problem: str = ""
    # Why the grader could not run the harvest, when that is not the submission's doing.
    grader_problem: str = ""
    shown: str = ""  # the module's path as the student knows it, when it is in a subfolder
    # Events the harvest did not write: the lab fails as a whole, and this says why.
    forged: str = ""
    # Files written in the grader's name, each with what was found; and those of them that
    # a step's value is lost with (the others were taken before they changed).
    rewritten: dict[str, str] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    ran: bool = False  # whether the submission's code ran in a child for this harvest
    # Whether a limit or a signal stopped the child: a verdict of this machine and these
    # limits, not of the code alone.
    limited: bool = False

    def step(self, name: str) -> Step:
        """How step ``name`` ended; a step the child never finished says why."""
        found = self.steps.get(name)
        if found is not None and found.status != harvest.STARTED:
            return found
        if found is not None:
            return Step(
                harvest.ERROR, f"the submission's process stopped while running it: {self.problem}"
            )
        if self.problem:
            return Step(harvest.ERROR, f"never ran: {self.problem}")
        return Step(harvest.SKIPPED, "never ran")

    def fault(self, name: str, dependencies: bool = True) -> Cause | None:
        """Why step ``name`` did not succeed, as the root cause to tell the student, or None.

        With ``dependencies``, a failed step that ``name`` needs is the cause.
        """
        if self.module_path is None:
            name = self.lab.name
            return Cause(
                f"not submitted: no {name}.py or {name}.ipynb was found at the top of the "
                "submission, in its exercises/ folder or in exactly one other folder",
                "not submitted",
            )
        if self.forged:
            return Cause(self.forged, tamper.FORGED)
        outcome = self.step("import")
        if outcome.status != harvest.OK:
            if self.running() == "import" and self.problem:
                return self.stopped_early()
            if "import" not in self.steps and self.problem:
                return Cause(self.problem, _first_clause(self.problem))
            if outcome.message.startswith(tamper.MESSAGE):
                return Cause(outcome.message, tamper.MESSAGE)  # import worked; what came after
            file = self.module_path.name
            return Cause(
                f"{file} could not be imported: {outcome.message}", f"{file} did not import"
            )
        needs = self.lab.needs(name) if name in self.lab.api_names else ()
        for needed in needs if dependencies else ():
            cause = self.fault(needed)
            if cause is not None:
                return cause
        if self.running() == name and self.problem:
            return self.stopped_early()  # the same cause the submission check tells
        outcome = self.step(name)
        shown = _shown(name)
        if outcome.status == harvest.OK:
            return None
        if outcome.status == harvest.TODO:
            return Cause(
                f"{shown} is still a TODO: {todo_text(outcome.message)}",
                f"{shown} is still a TODO",
            )
        if outcome.status == harvest.SKIPPED and "does not define" in outcome.message:
            return Cause(
                f"{shown} is missing: define it, it is part of this lab's API",
                f"{shown} is missing",
            )
        if name not in self.steps and self.problem:
            return self.stopped_early()
        returns = self.lab.function(name).returns if name in self.lab.api_names else ""
        if returns == MODEL and harvest.NOT_A_MODEL in outcome.message:
            return Cause(f"{shown}: {outcome.message}", f"{shown} does not return the model")
        return Cause(f"{shown}: {outcome.message}", f"{shown} failed")

    def stopped_early(self) -> Cause:
        """The child's process ending before the harvest did, as a cause."""
        running = self.running()
        if running is None:
            where = ""
        elif running == "import":
            where = ", on import"
        else:
            where = f", in {_shown(running)}"
        return Cause(
            f"The module's process stopped early{where}: {self.problem}",
            "the module's process stopped early",
        )

    def running(self) -> str | None:
        """The step the child had started and not finished, if any."""
        started = [name for name, step in self.steps.items() if step.status == harvest.STARTED]
        return started[-1] if started else None

    def require(self, name: str) -> None:
        """Raise CheckFailed, saying what to fix, unless step ``name`` succeeded.

        Raises GraderFault instead when the grader itself could not run the harvest.
        """
        if self.grader_problem:
            raise GraderFault(self.grader_problem)
        cause = self.fault(name)
        if cause is not None:
            raise CheckFailed(cause.message, causes=[cause])

    @property
    def tampering(self) -> str:
        """What the submission wrote in the grader's name, graded past; '' for nothing."""
        return tamper.forged(list(self.rewritten.values()), graded=True) if self.rewritten else ""

    def file(self, name: str) -> Path:
        path = self.folder / name
        if name in self.lost:
            raise CheckFailed(tamper.forged([self.rewritten[name]]), short=tamper.FORGED)
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            raise CheckFailed(f"the grader found no usable {name} from your submission")
        return path

    def arguments(self, name: str) -> list[Any]:
        """What the harvest passed to function ``name``, in order.

        An earlier function's result comes back as ``result`` reads it.
        """
        values = []
        for arg in self.lab.function(name).args:
            if isinstance(arg, Data):
                values.append(self.inputs[arg.key])
            elif isinstance(arg, Value):
                values.append(json.loads(json.dumps(arg.value)))
            else:
                values.append(self.result(arg.function))
        return values

    def result(self, name: str) -> Any:
        """What function ``name`` returned, read back from the harvest's copy.

        An array, a keras model, a figure as ``(description, images)``, or JSON data.
        Raises CheckFailed, saying what to fix, when the function did not succeed.
        """
        function = self.lab.function(name)
        if function.returns == MODEL:
            return screen.load(self.model_file(name))
        self.require(name)
        path = self.file(function.filename)
        cap = read_cap(function, self.lab)
        try:
            if function.returns == ARRAY:
                _within(function, _array_bytes(path), cap)
                return np.load(path, allow_pickle=False)
            _within(function, path.stat().st_size, cap)
            value = json.loads(path.read_text(encoding="utf-8"))
            if function.returns != FIGURE:
                return value
            with zipfile.ZipFile(self.file(f"{name}.npz")) as archive:
                shown = sum(member.file_size for member in archive.infolist())
            _within(function, shown, figure_images_cap(self.lab), "images")
            with np.load(self.file(f"{name}.npz"), allow_pickle=False) as images:
                return value, {key: images[key] for key in images.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            what = "figure" if function.returns == FIGURE else "value"
            raise CheckFailed(
                f"The {what} from {function.shown} could not be read back: {error}"
            ) from None

    def model_file(self, name: str) -> Path:
        """The model file function ``name`` saved, screened before anything loads it."""
        self.require(name)
        path = self.file(self.lab.function(name).filename)
        screen.screen(path, self.lab)
        return path


def read_cap(function: Function, lab: Lab) -> int:
    """The most bytes of ``function``'s saved value the grader reads: what it can need."""
    if function.returns == ARRAY:
        given = sum(arg.count for arg in function.args if isinstance(arg, Data))
        numbers = ARRAY_FACTOR * given * math.prod(lab.input_shape)
        return max(MIN_ARRAY_BYTES, numbers * NUMBER_BYTES)
    if function.returns == NAMES:
        return NAME_BYTES * max(1, len(lab.class_names))
    return FIGURE_BYTES if function.returns == FIGURE else JSON_BYTES


def figure_images_cap(lab: Lab) -> int:
    """The most bytes of images one figure may show: FIGURE_IMAGES of the lab's own size."""
    return FIGURE_IMAGES * math.prod(lab.input_shape[:2]) * PIXEL_BYTES


def _within(function: Function, size: int, cap: int, what: str = "") -> None:
    """Raise CheckFailed, unread, for a saved value larger than any the function can need."""
    if size <= cap:
        return
    kind = {ARRAY: "an array", NAMES: "class names", FIGURE: "a figure"}.get(function.returns)
    said = f"{function.shown}'s {what}" if what else function.shown
    raise CheckFailed(
        f"{said} came to {_size(size)}, more than the {_size(cap)} that {kind or 'its value'} "
        "can need in this lab, so the grader did not read it. Return just what the lab asks "
        "for: check its shape, or how much the figure draws.",
        short=f"{function.shown} is far too large",
    )


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} KB"


def _array_bytes(path: Path) -> int:
    """The bytes a .npy file's array takes once loaded, from its header alone."""
    with path.open("rb") as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
    return max(path.stat().st_size, math.prod(shape) * dtype.itemsize)


def run(
    lab: Lab,
    module_path: Path | None,
    workdir: Path,
    limits: Limits,
    server: isolation.Server | None = None,
    pictures: bool = False,
) -> Harvest:
    """Harvest ``module_path`` for ``lab`` in a child process; never raises for student faults.

    Pass the run's ``server`` (started on ``workdir``) to share one warm fork server between
    labs; without one, this call starts and ends its own. With ``pictures``, figures are also
    drawn as PNG images.
    """
    result = prepare(lab, module_path, workdir)
    folder = result.folder.parent
    if module_path is None:
        result.problem = "not submitted"
        return result
    notebook = None
    try:
        if module_path.suffix == ".ipynb":
            module_path, notebook = _module_from_notebook(module_path, folder / "in", lab)
        else:
            module_path = _copy_module(module_path, folder / "in")
    except (notebooks.NotebookUnreadable, SubmissionUnreadable) as error:
        result.problem = str(error)
        return result
    except notebooks.ConverterFailed as error:  # the grader's own process, not the notebook
        result.grader_problem = str(error)
        return result
    np.savez(folder / "in" / harvest.INPUTS, **result.inputs)
    key = secrets.token_hex(16)  # signs this harvest's events, and no other's
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(start_server(workdir, data=[lab.dataset]))
        result.ran = True
        ended = _run_child(lab, module_path, folder, limits, server, key, pictures)
    result.problem, result.grader_problem, events, result.limited = ended
    record = records.read(events, key, lab, collected=server.active)
    result.steps = {
        name: Step(step.status, clean_message(step.message)) for name, step in record.steps.items()
    }
    _keep(folder / "out", result.folder)
    result.rewritten, result.lost = records.check_files(result.folder, record)
    if record.forged:
        result.forged = tamper.forged([clean_message(record.forged)])
    if result.grader_problem:
        return result
    if not result.problem and result.steps.get("harvest") != Step(harvest.OK):
        result.problem = "the process ended early: remove any exit(), quit() or os._exit() calls"
    if notebook is not None:  # point at the student's cells, not at the module made of them
        result.steps = {
            k: Step(s.status, notebook.locate(s.message)) for k, s in result.steps.items()
        }
        result.problem = notebook.locate(result.problem)
    return result


def prepare(lab: Lab, module_path: Path | None, workdir: Path) -> Harvest:
    """The lab's folders in ``workdir``, and its harvest before anything ran: the grader's
    inputs, no steps, an empty folder for what is kept."""
    folder = workdir / lab.name
    for part in ("in", "out", "scratch", "harvest"):  # scratch: where no sandbox gives a /tmp
        (folder / part).mkdir(mode=0o700, parents=True, exist_ok=True)  # the sandbox opens some
    return Harvest(lab, module_path, folder / "harvest", inputs=_inputs(lab))


def submitted_files(module_path: Path) -> list[Path]:
    """The submission's files a harvest of ``module_path`` reads: a notebook alone, or a
    module and the .py files beside it that it may import."""
    if module_path.suffix == ".ipynb":
        return [module_path]
    return [module_path, *_helpers(module_path)]


class SubmissionUnreadable(ValueError):
    """A lab module the grader will not read, with what to do about it."""


def _copy_module(module: Path, folder: Path) -> Path:
    """Copy the lab module, and the .py files beside it that it may import, into ``folder``.

    The child sees these copies only, never the folder they came from.
    """
    info = module.lstat()  # a link could point the grader at any file it may read
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MODULE_BYTES:
        raise SubmissionUnreadable(
            f"{module.name} is not a plain file of at most {MAX_MODULE_BYTES // 2**20} MB: "
            "hand in the lab's .py file itself, not a link to it"
        )
    shutil.copyfile(module, folder / module.name)
    for path in _helpers(module):
        shutil.copyfile(path, folder / path.name)
    return folder / module.name


def _helpers(module: Path) -> list[Path]:
    """The .py files beside a lab module that it may import: plain files, within the caps."""
    helpers = sorted(path for path in module.parent.glob("*.py") if path != module)
    found = []
    for path in helpers[:MAX_HELPER_MODULES]:
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_MODULE_BYTES:
            found.append(path)
    return found


def _module_from_notebook(notebook: Path, folder: Path, lab: Lab) -> tuple[Path, notebooks.Module]:
    """Write the module a notebook defines next to nothing else; its cells are not run.

    The notebook is read as ``_copy_module`` reads a module, never through a link, and
    converted in a child process with limits of its own (``notebooks.convert``).
    """
    converted = notebooks.convert(notebook, lab)
    module = folder / converted.filename
    module.write_text(converted.text, encoding="utf-8")
    return module, converted


def _inputs(lab: Lab) -> dict[str, np.ndarray]:
    """The arrays the lab's functions take from its dataset, by their Data keys."""
    wanted = [arg for function in lab.api for arg in function.args if isinstance(arg, Data)]
    if not wanted:
        return {}
    (x_train, y_train), (x_test, y_test) = datasets.load(lab.dataset)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return {arg.key: arrays[arg.array][: arg.count].copy() for arg in wanted}


def start_server(
    workdir: Path, mode: str = "auto", data: Sequence[datasets.Dataset] = ()
) -> isolation.Server:
    """The run's fork server for harvest and training children, isolated as ``mode`` asks.

    The ``data`` datasets are resolved here and staged for its children, read-only; those
    that could not be are in its ``unavailable``.
    """
    return isolation.Server(workdir, mode, data=data)


def _run_child(
    lab: Lab,
    module_path: Path,
    folder: Path,
    limits: Limits,
    server: isolation.Server,
    key: str,
    pictures: bool = False,
) -> tuple[str, str, list[str], bool]:
    """Run the harvest child; return what went wrong with it, the grader's part in that, its
    events, and whether a limit or a signal stopped it.

    The first is the submission's doing ('' when nothing went wrong); the second, never
    told as the student's, is set when the grader failed to run the child at all.
    """
    request = {
        "lab": lab.to_json(),
        "module": str(module_path),
        "inputs": str(folder / "in"),
        "outputs": str(folder / "out"),
        # In the sandbox its private /tmp: capped and charged to its memory, not the disk.
        "scratch": "/tmp" if server.active else str(folder / "scratch"),
        "output": str(folder / harvest.OUTPUT),
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.cpu_seconds,
        "file_bytes": MAX_FILE_BYTES,
        "pictures": pictures,
        "key": key,
        "collect": True,  # in the sandbox, each step's files are taken as it reports
    }
    child = server.start(request, [folder / "in"], [folder / "out"], limits.memory_bytes)
    try:
        finished = child.wait(limits.wall_seconds)
    finally:
        child.kill()  # whatever the child left running
    if child.pid is None:
        stopped = "the grader's helper process stopped before it could run this lab"
        return "", stopped + _last_line(server.log), list(child.events), True
    if not finished:
        child.wait(forkserver.STOP_SECONDS)  # for its last events and its tree to be gone
        problem = (
            f"still running after {limits.wall_seconds:g} s without using up its CPU time: "
            "look for sleep(), input() or a download that waits forever"
        )
        return problem, "", list(child.events), True
    if child.over_cpu:
        return _over_cpu(limits, "its processes together"), "", list(child.events), True
    if child.code is None:
        return "", "the grader's helper process was stopped while this lab ran", [], True
    if child.code == harvest.CHANNEL_CLOSED:
        problem = (
            f"closed file descriptor {forkserver.EVENTS_FD}, where the grader hears from it: "
            "close only the files your code opened"
        )
        return problem, "", list(child.events), False
    if child.code == forkserver.EXIT_CRASHED:
        record = records.read(list(child.events), key, lab, collected=server.active)
        if "import" in record.steps and not record.crashed:
            # The submission's code ran, and the harvest did not say it failed: the code
            # itself exited with the status the harvest's own crash has.
            return _explain_exit(child.code, limits), "", list(child.events), False
        said = f": {clean_message(record.crashed)}" if record.crashed else ""
        crashed = said or _last_line(folder / harvest.OUTPUT)
        problem = f"the grader could not run this lab's process{crashed}"
        return "", problem, list(child.events), True
    killed = child.code < 0 and forkserver.signal_name(-child.code) == "SIGKILL"
    if killed and child.outside_oom_kill is not None and child.outside_oom_kill():
        problem = (
            "the system ran out of memory while this lab's processes stayed within their "
            f"{limits.memory_bytes / 2**30:g} GiB: grade where more memory is free, or with a "
            "lower --memory-limit"
        )
        return "", problem, list(child.events), True
    # Ended by itself (exit status 0 or not) it ended as its code alone decides.
    return _explain_exit(child.code, limits), "", list(child.events), child.code < 0


def _explain_exit(code: int, limits: Limits) -> str:
    if code == 0:
        return ""
    if code > 0:
        return f"exited with status {code}: remove any exit(), quit() or os._exit() calls"
    name = forkserver.signal_name(-code)
    if name == "SIGKILL":
        return f"killed, probably for using more than {limits.memory_bytes / 2**30:g} GiB of memory"
    if name == "SIGXCPU":
        return _over_cpu(limits)
    if name == "SIGXFSZ":
        return "wrote a file or output larger than the grader allows"
    return f"crashed with signal {name}"


def _over_cpu(limits: Limits, counted: str = "") -> str:
    counted = f", {counted}" if counted else ""
    return (
        f"used more than {limits.cpu_seconds:g} s of CPU time{counted}: look for an endless "
        "loop, processes left running, or training or downloading at import time"
    )


def _last_line(log: Path) -> str:
    """': <the log's last line>', cleaned, to explain a failure; '' without one."""
    try:
        with log.open("rb") as file:
            file.seek(max(0, log.stat().st_size - 4096))
            lines = file.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return f": {clean_message(lines[-1])}" if lines else ""


def _keep(outputs: Path, kept: Path) -> None:
    """Copy what the grader accepts from the child's ``outputs`` into the grader's ``kept``.

    Regular files only, never through a link, each within its size cap, and for a zip-based
    file (.keras, .npz) every member's size is checked before anything reads it. All the
    files kept of a lab stay within MAX_UNPACKED_BYTES.
    """
    room = MAX_UNPACKED_BYTES
    for path in sorted(outputs.iterdir())[:MAX_OUTPUT_FILES]:
        try:  # never through a link, and without waiting on a pipe left to block the grader
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            source = os.open(path, flags)
        except OSError:
            continue
        with open(source, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > min(MAX_FILE_BYTES, room):
                continue
            room -= info.st_size
            with open(kept / path.name, "wb") as copy:
                left = info.st_size  # not a byte more, should something still be writing
                while left > 0 and (chunk := file.read(min(left, 2**20))):
                    copy.write(chunk)
                    left -= len(chunk)
        if path.suffix in (".keras", ".npz") and not _unpacks_within_caps(kept / path.name):
            (kept / path.name).unlink()
        elif path.suffix == ".png" and not _picture_within_caps(kept / path.name):
            (kept / path.name).unlink()  # small as a file, it could be huge once decoded


def _picture_within_caps(path: Path) -> bool:
    """Whether a .png is a PNG whose header declares at most MAX_PICTURE_PIXELS pixels."""
    with path.open("rb") as file:
        head = file.read(24)
    if not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return False  # an image reader would take it for whatever its bytes say it is
    pixels = int.from_bytes(head[16:20], "big") * int.from_bytes(head[20:24], "big")
    return pixels <= MAX_PICTURE_PIXELS


def _unpacks_within_caps(path: Path) -> bool:
    entries = _zip_entries(path)
    if entries is None:
        return True  # not a zip: the reader's own error says so, and reads nothing unbounded
    if entries > MAX_ZIP_ENTRIES:
        return False  # checked before zipfile builds a record of every entry in memory
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = [member.file_size for member in archive.infolist()]
    except (OSError, zipfile.BadZipFile, ValueError):
        return True
    return max(sizes, default=0) <= MAX_FILE_BYTES and sum(sizes) <= MAX_UNPACKED_BYTES


def _zip_entries(path: Path) -> int | None:
    """The entry count a zip's end record declares (65535 for zip64), or None for no zip."""
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - ZIP_END_SEARCH))
        tail = file.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 12:
        return None
    return int.from_bytes(tail[end + 10 : end + 12], "little")


def _shown(step: str) -> str:
    """'build_model()' for a function's step, 'CLASS_NAMES' for a constant's."""
    return step if step.isupper() else f"{step}()"


def _first_clause(message: str) -> str:
    """'timed out after 8 s' out of 'timed out after 8 s: look for an endless loop', and
    'x.ipynb is not a readable notebook' out of 'x.ipynb is not a readable notebook (not
    JSON, at line 1, column 3). Re-download it': what a blocked check names, and what the
    class summary counts, the same for every student with the same problem."""
    return re.split(r":|\s\(|\.\s", message, maxsplit=1)[0].strip()
