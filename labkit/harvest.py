"""The child side of grading: import a submission, call its API, write what comes out.

This is the only place student code runs, in a child process that ``labkit.forkserver``
starts for ``labkit.sandbox``, with time and memory limits. The grader trusts none of it:
it reads the files written here, never live objects.

Usage, in that child: ``harvest(lab, module_path, inputs, outputs, events_fd)``
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

from labkit import tamper

if TYPE_CHECKING:
    from labkit.labs import Lab

# File names in a harvest's folders, shared with labkit.sandbox.
INPUTS = "inputs.npz"
HISTORY = "history.json"
OUTPUT = "output.txt"
PREPROCESSED = "preprocess.npy"
MODEL = "model.keras"
COMPILED = "compiled.keras"
CLASS_NAMES = "class_names.json"

OK, TODO, ERROR, SKIPPED, STARTED = "ok", "todo", "error", "skipped", "started"


class StepSkipped(Exception):
    """A step cannot run because something it needs is missing."""


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

    @classmethod
    def capture(cls) -> Writers:
        import keras
        import numpy as np

        return cls(keras.Model.save, json.dumps, np.save, np.savez, np.asarray)


class Harvester:
    """Runs a submission's API functions one step at a time, logging each outcome."""

    def __init__(self, module_path: Path, folder: Path, writers: Writers, events: int) -> None:
        self.module_path = module_path
        self.folder = folder
        self.writers = writers
        self.module: ModuleType | None = None
        # A pipe the grader reads: flushed per event, so a crash or os._exit loses nothing
        # written so far, and nothing written can be taken back.
        self._events = open(events, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        self._seal = tamper.Seal()  # last, so that it sees the harvest's own set-up as it is

    def log(self, step: str, status: str, message: str = "") -> None:
        event = {"step": step, "status": status, "message": message}
        self._events.write(self.writers.dumps(event) + "\n")
        self._events.flush()

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
            message = self._seal.message(changed, _when(name))
            self.log(name, ERROR, message)
            raise Tampered(message)
        self.log(name, *outcome)
        return value if outcome[0] == OK else None

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


def harvest(lab: Lab, module_path: Path, inputs: Path, outputs: Path, events: int) -> None:
    """Call every API function of the lab on what ``inputs`` holds; write into ``outputs``.

    Each step's outcome goes to the file descriptor ``events`` as a JSON line.
    """
    import numpy as np

    arrays = dict(np.load(inputs / INPUTS, allow_pickle=False))
    arrays["history"] = (inputs / HISTORY).read_text(encoding="utf-8")  # parsed when used
    _serve_datasets_locally()
    child = Harvester(module_path, outputs, Writers.capture(), events)
    try:
        _harvest_steps(child, lab, arrays)
    except Tampered as error:
        # Every check starts from the import, so the lab fails as a whole and says why once.
        child.log("import", ERROR, str(error))
    child.log("harvest", OK)


def _harvest_steps(child: Harvester, lab: Lab, inputs: dict[str, Any]) -> None:
    import numpy as np

    folder, write = child.folder, child.writers
    if child.step("import", child.import_module) is None:
        return

    def preprocess() -> None:
        result = write.as_array(child.function("preprocess")(inputs["preprocess_images"].copy()))
        if not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
            raise TypeError(f"preprocess() must return numbers, got an array of {result.dtype}")
        write.save_array(folder / PREPROCESSED, result, allow_pickle=False)

    def build_model() -> Any:
        model = _as_model(child.function("build_model")(), "build_model")
        write.save_model(model, folder / MODEL)
        return model

    child.step("preprocess", preprocess)
    model = child.step("build_model", build_model)

    def compile_model() -> None:
        if model is None:
            # Still call it on a stand-in model, so a TODO shows up in the submission check.
            child.function("compile_model")(_stand_in_model())
            raise StepSkipped("build_model() must work before compile_model() can be checked")
        compiled = _as_model(child.function("compile_model")(model), "compile_model")
        write.save_model(compiled, folder / COMPILED)

    child.step("compile_model", compile_model)
    if "plot_samples" in lab.functions:
        class_names = child.step("CLASS_NAMES", lambda: _save_class_names(child, folder))

        def plot_samples() -> None:
            # Without usable CLASS_NAMES, plot with stand-in names: the grid still gets judged.
            names = class_names or [f"class {label}" for label in range(10)]
            images, labels = inputs["sample_images"].copy(), inputs["sample_labels"].copy()
            figure = child.function("plot_samples")(images, labels, names)
            _save_figure(child, "plot_samples", figure)

        child.step("plot_samples", plot_samples)
    if "plot_history" in lab.functions:
        history = json.loads(inputs["history"])
        child.step(
            "plot_history",
            lambda: _save_figure(child, "plot_history", child.function("plot_history")(history)),
        )


def _when(step: str) -> str:
    if step == "import":
        return "on import"
    return f"while reading {step}" if step.isupper() else f"in {step}()"


def _serve_datasets_locally() -> None:
    """Let ``keras.datasets.<name>.load_data()`` in notebook code read the grader's copy.

    Notebooks load their data that way; the grader's copy needs no download, and is the
    same data labkit's own loader gives.
    """
    import keras

    from labkit import datasets

    for name in datasets.NAMES:
        module = getattr(keras.datasets, name)
        module.load_data = _local_first(name, module.load_data)


def _local_first(name: str, download: Callable[..., Any]) -> Callable[..., Any]:
    def load_data(*args: Any, **kwargs: Any) -> Any:
        from labkit import datasets

        found = datasets.local(name)
        return found if found is not None else download(*args, **kwargs)

    return load_data


def _as_model(model: Any, function: str) -> Any:
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{function}() returned {type(model).__name__}, not a keras.Model: "
            "did you forget `return model`?"
        )
    return model


def _stand_in_model() -> Any:
    import keras

    return keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])


def _save_class_names(child: Harvester, folder: Path) -> list[str]:
    names = getattr(child.module, "CLASS_NAMES", None)
    if names is None:
        raise StepSkipped("the module does not define CLASS_NAMES")
    names = [str(name) for name in names]
    if not names:
        raise NotImplementedError("CLASS_NAMES is empty: list the 10 class names in label order")
    if len(names) != 10:
        raise ValueError(
            f"CLASS_NAMES has {len(names)} names; it needs one for each of the 10 labels"
        )
    (folder / CLASS_NAMES).write_text(child.writers.dumps(names), encoding="utf-8")
    return names


def _save_figure(child: Harvester, name: str, figure: Any) -> None:
    from labkit import figures

    description, images = figures.describe(figure)
    (child.folder / f"{name}.json").write_text(child.writers.dumps(description), encoding="utf-8")
    child.writers.save_arrays(child.folder / f"{name}.npz", **images)
