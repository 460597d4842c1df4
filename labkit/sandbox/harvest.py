"""The child side of grading: import a submission, call its API, write what comes out.

This is the only place student code runs, in a child process that ``labkit.sandbox.forkserver``
starts for ``labkit.sandbox.runner``, with time and memory limits. The grader trusts none of it:
it reads the files written here, never live objects.

Usage, in that child: ``harvest(lab, module_path, inputs, outputs, events_fd)``
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from labkit.sandbox import records, tamper
from labkit.sandbox.records import ERROR, OK, SKIPPED, STARTED, TODO, when
from labkit.spec.lab import ARRAY, FIGURE, MODEL, NAMES, Data, Function, Lab, Result, Value

# File names in a harvest's folders, shared with labkit.sandbox.
INPUTS = "inputs.npz"
OUTPUT = "output.txt"

PICTURE_DPI = 72
# The child's exit status when the submission closed the file descriptor it reports on.
CHANNEL_CLOSED = 71
NOT_A_MODEL = "not a keras.Model"  # what a model function that returned something else says


class StepSkipped(Exception):
    """A step cannot run because something it needs is missing."""


class ChannelClosed(Exception):
    """The submission closed the file descriptor the harvest reports on: nothing more gets out."""


class Tampered(Exception):
    """The submission replaced a function the harvest writes with: stop trusting this child."""


class Writers(NamedTuple):
    """The library functions the harvest writes its files with, taken before student code runs.

    The harvest calls these, not whatever the libraries' names hold later, so a submission's
    replacements stay out of what it writes; the seal tells when a submission tried.
    """

    save_model: Callable[..., Any]  # keras.Model.save, unbound: a model's own `save` goes unused
    dumps: Callable[..., str]
    save_array: Callable[..., Any]
    save_arrays: Callable[..., Any]
    as_array: Callable[..., Any]
    sign: Callable[..., bytes]  # hmac.digest, for the events' signatures
    sha256: Callable[..., Any]  # for the saved files' digests
    open: Callable[..., Any]  # to read them back
    read: Callable[..., bytes]  # os.read, for the collector's answer to each step

    @classmethod
    def capture(cls) -> Writers:
        import keras
        import numpy as np

        save = keras.Model.save
        return cls(
            save,
            json.dumps,
            np.save,
            np.savez,
            np.asarray,
            hmac.digest,
            hashlib.sha256,
            io.open,
            os.read,
        )


class Harvester:
    """Runs a submission's API functions one step at a time, logging each outcome."""

    def __init__(
        self,
        module_path: Path,
        folder: Path,
        writers: Writers,
        events: int,
        key: str = "",
        acks: int | None = None,
    ) -> None:
        self.module_path = module_path
        self.folder = folder
        self.writers = writers
        self.module: ModuleType | None = None
        self.succeeded: set[str] = set()
        self.pictures = False  # whether figures are also saved as PNG images
        # A pipe the grader reads: flushed per event, so a crash or os._exit loses nothing
        # written so far, and nothing written can be taken back.
        self._events = open(events, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        self._key = key  # signs each event: the grader's, for this harvest alone
        self._acks = acks  # where the collector says it took a step's files
        self._count = 0
        self._saving: list[Path] = []  # the files the running step saved
        self._seal = tamper.Seal()  # last, so that it sees the harvest's own set-up as it is

    def log(self, step: str, status: str, message: str = "") -> None:
        """Report a step's progress; once it ended, with the files it saved, and wait for
        the collector, where there is one, to have taken them."""
        files = {} if status == STARTED else self._digests()
        event = {"seq": self._count, "step": step, "status": status, "message": message}
        event["files"] = files
        event["mac"] = records.signature(self._key, event, self.writers.dumps, self.writers.sign)
        self._count += 1
        try:
            self._events.write(self.writers.dumps(event) + "\n")
            self._events.flush()
        except OSError as error:  # only student code closes it: the grader keeps it open
            raise ChannelClosed(str(error)) from error
        if status != STARTED and self._acks is not None:
            with contextlib.suppress(OSError):  # a collector gone, or its answer taken
                self.writers.read(self._acks, 1)

    def saving(self, path: Path) -> Path:
        """Note that the running step writes ``path``, before it does; returns it."""
        self._saving.append(path)
        return path

    def _digests(self) -> dict[str, str]:
        files = {}
        for path in self._saving:
            with contextlib.suppress(OSError), self.writers.open(path, "rb") as file:
                digest = self.writers.sha256()
                while chunk := file.read(2**20):
                    digest.update(chunk)
                files[path.name] = digest.hexdigest()
        self._saving = []
        return files

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` as the step ``name``; return its value, or None if it did not succeed.

        Raises Tampered, after logging the step as an error, when the submission replaced a
        function the harvest relies on, whether or not the step itself succeeded.
        """
        self.log(name, STARTED)
        value = None
        try:
            value = action()
        except StepSkipped as reason:
            outcome = (SKIPPED, str(reason))
        except NotImplementedError as todo:
            outcome = (TODO, str(todo) or "not implemented yet")
        except BaseException as error:
            outcome = (ERROR, self._describe(error))
        else:
            outcome = (OK, "")
        changed = self._seal.broken()
        if changed:
            message = self._seal.message(changed, when(name))
            self.log(name, ERROR, message)
            raise Tampered(message)
        self.log(name, *outcome)
        if outcome[0] != OK:
            return None
        self.succeeded.add(name)
        return value

    def function(self, name: str) -> Callable[..., Any]:
        value = getattr(self.module, name, None)
        if not callable(value):
            raise StepSkipped(f"{self.module_path.name} does not define {name}()")
        return value

    def import_module(self) -> ModuleType:
        sys.path.insert(0, str(self.module_path.parent))
        spec = importlib.util.spec_from_file_location(self.module_path.stem, self.module_path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {self.module_path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.module_path.stem] = module
        spec.loader.exec_module(module)
        self.module = module
        return module

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, SystemExit):
            return f"called sys.exit({error.code!r}); a lab module must never exit"
        text = f"{type(error).__name__}: {error}"
        own = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if Path(frame.filename).resolve() == self.module_path.resolve()
        ]
        if own:
            text += f" (line {own[-1].lineno} of {self.module_path.name})"
        return text


def harvest(
    lab: Lab,
    module_path: Path,
    inputs: Path,
    outputs: Path,
    events: int,
    pictures: bool = False,
    key: str = "",
    acks: int | None = None,
) -> None:
    """Call every function of the lab's API on what ``inputs`` holds; write into ``outputs``.

    Each step's outcome goes to the file descriptor ``events`` as a JSON line, signed with
    ``key`` (``labkit.sandbox.records``). With ``acks``, each step that ended waits there
    for the collector to take its files. With ``pictures``, each figure is also saved as a
    PNG, for feedback pages.
    """
    import numpy as np

    arrays = dict(np.load(inputs / INPUTS, allow_pickle=False))
    _serve_datasets_locally(lab)
    child = Harvester(module_path, outputs, Writers.capture(), events, key, acks)
    child.pictures = pictures
    try:
        _harvest_steps(child, lab, arrays)
    except Tampered as error:
        # Every check starts from the import, so the lab fails as a whole and says why once.
        child.log("import", ERROR, str(error))
    except ChannelClosed:
        raise
    except BaseException as error:
        # Student code runs only inside steps, which catch what it raises: this is the
        # harvest's own failure. Said in a signed line, so that the grader can tell it from
        # code that exits with the crash's status itself.
        child.log(records.CRASHED, ERROR, f"{type(error).__name__}: {error}"[:500])
        raise
    child.log("harvest", OK)


def _harvest_steps(child: Harvester, lab: Lab, arrays: dict[str, Any]) -> None:
    if child.step("import", child.import_module) is None:
        return
    results: dict[str, Any] = {}  # what each function that succeeded returned
    for function in lab.api:
        call = _Call(child, lab, function, arrays, results)
        value = child.step(function.name, call.run)
        if function.name in child.succeeded:
            results[function.name] = value


class _Call:
    """One step of the harvest: read or call a function of the API, then save what it gave."""

    def __init__(
        self,
        child: Harvester,
        lab: Lab,
        function: Function,
        arrays: dict[str, Any],
        results: dict[str, Any],
    ) -> None:
        self.child, self.lab, self.function = child, lab, function
        self.arrays, self.results = arrays, results
        # Fixed values as JSON text, taken before the call: each call gets a fresh copy.
        self.texts = [
            child.writers.dumps(arg.value) if isinstance(arg, Value) else ""
            for arg in function.args
        ]

    def run(self) -> Any:
        name = self.function.name
        if self.function.constant:
            value = getattr(self.child.module, name, None)
            if value is None:
                raise StepSkipped(f"the module does not define {name}")
            return _save(self.child, self.lab, self.function, value)
        blocked = [arg.function for arg in self.function.args if self._stands_in(arg)]
        target = self.child.function(name)
        arguments = [self._argument(index, arg) for index, arg in enumerate(self.function.args)]
        value = target(*arguments)
        if blocked:  # called on stand-ins all the same, so that a TODO shows up
            raise StepSkipped(f"{blocked[0]}() must work before {name}() can be checked")
        return _save(self.child, self.lab, self.function, value)

    def _stands_in(self, arg: Any) -> bool:
        """Whether ``arg`` is an earlier result that failed and whose absence blocks this step."""
        return (
            isinstance(arg, Result)
            and arg.function not in self.results
            and self.lab.function(arg.function).returns != NAMES
        )

    def _argument(self, index: int, arg: Any) -> Any:
        if isinstance(arg, Data):
            return self.arrays[arg.key].copy()
        if isinstance(arg, Value):
            return json.loads(self.texts[index])
        if arg.function in self.results:
            return self.results[arg.function]
        return _stand_in(self.lab.function(arg.function).returns, self.lab)


def _serve_datasets_locally(lab: Lab) -> None:
    """Let ``keras.datasets.<name>.load_data()`` in notebook code read the grader's copy.

    Notebooks load their data that way; the grader's copy needs no download, and is the
    same data labkit's own loader gives. That holds for the lab's dataset and for every
    other one the offline folder holds.
    """
    import os

    import keras

    from labkit.spec import datasets

    folder = os.environ.get(datasets.DATA_ENV, "")
    names = {path.stem for path in Path(folder).glob("*.npz")} if folder else set()
    for name in sorted(names | {lab.dataset.name}):
        module = getattr(keras.datasets, name, None)
        if module is not None:
            module.load_data = _local_first(
                lab.dataset if name == lab.dataset.name else datasets.Dataset(name),
                module.load_data,
            )


def _local_first(dataset: Any, download: Callable[..., Any]) -> Callable[..., Any]:
    def load_data(*args: Any, **kwargs: Any) -> Any:
        from labkit.spec import datasets

        found = datasets.local(dataset)
        return found if found is not None else download(*args, **kwargs)

    return load_data


def _save(child: Harvester, lab: Lab, function: Function, value: Any) -> Any:
    """Check ``value`` is what ``function`` must return, and save it; returns what was saved."""
    import numpy as np

    path = child.folder / function.filename
    if function.returns == ARRAY:
        value = child.writers.as_array(value)
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise TypeError(f"{function.name}() must return numbers, got an array of {value.dtype}")
        child.writers.save_array(child.saving(path), value, allow_pickle=False)
    elif function.returns == MODEL:
        value = _as_model(value, function.name)
        child.writers.save_model(value, child.saving(path))
    elif function.returns == FIGURE:
        _save_figure(child, function.name, value)
    else:
        if function.returns == NAMES:
            value = _class_names(function.name, value, len(lab.class_names))
        text = child.writers.dumps(value)
        with child.writers.open(child.saving(path), "w", encoding="utf-8") as file:
            file.write(text)
    return value


def _stand_in(returns: str, lab: Lab) -> Any:
    """What a function gets in place of an earlier result that failed."""
    if returns == MODEL:
        return _stand_in_model()
    if returns == NAMES:  # the rest can still be judged with these
        return [f"class {label}" for label in range(len(lab.class_names))]
    return None


def _as_model(model: Any, function: str) -> Any:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{function}() returned {type(model).__name__}, {NOT_A_MODEL}: "
            "did you forget `return model`?"
        )
    return model


def _stand_in_model() -> Any:
    import keras

    return keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])


def _class_names(name: str, value: Any, count: int) -> list[str]:
    names = [str(item) for item in value]
    if not names:
        raise NotImplementedError(f"{name} is empty: list the {count} class names in label order")
    if len(names) != count:
        raise ValueError(
            f"{name} has {len(names)} names; it needs one for each of the {count} labels"
        )
    return names


def _save_figure(child: Harvester, name: str, figure: Any) -> None:
    from labkit.sandbox import figures

    description, images = figures.describe(figure)
    text = child.writers.dumps(description)
    with child.writers.open(
        child.saving(child.folder / f"{name}.json"), "w", encoding="utf-8"
    ) as file:
        file.write(text)
    child.writers.save_arrays(child.saving(child.folder / f"{name}.npz"), **images)
    if child.pictures:
        with contextlib.suppress(Exception):  # only the feedback page misses it
            picture = child.saving(child.folder / f"{name}.png")
            figure.savefig(picture, format="png", dpi=PICTURE_DPI)
