"""The child side of grading: import a submission, call its API, write what comes out.

This is the only place student code runs, in a child process that ``labkit.sandbox``
starts with time and memory limits. The grader trusts none of it: it reads the files
written here, never live objects.

Usage: ``python -m labkit.harvest LAB MODULE_PATH FOLDER``
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

# File names inside a harvest folder, shared with labkit.sandbox.
INPUTS = "inputs.npz"
HISTORY = "history.json"
EVENTS = "events.jsonl"
OUTPUT = "output.txt"
PREPROCESSED = "preprocess.npy"
MODEL = "model.keras"
COMPILED = "compiled.keras"
CLASS_NAMES = "class_names.json"

OK, TODO, ERROR, SKIPPED, STARTED = "ok", "todo", "error", "skipped", "started"


class StepSkipped(Exception):
    """A step cannot run because something it needs is missing."""


class Harvester:
    """Runs a submission's API functions one step at a time, logging each outcome."""

    def __init__(self, module_path: Path, folder: Path) -> None:
        self.module_path = module_path
        self.folder = folder
        self.module: ModuleType | None = None
        # Appended and flushed per event, so a crash or os._exit loses nothing written so far.
        self._events = (folder / EVENTS).open("a", encoding="utf-8")

    def log(self, step: str, status: str, message: str = "") -> None:
        self._events.write(json.dumps({"step": step, "status": status, "message": message}) + "\n")
        self._events.flush()

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        """Run ``action`` as the step ``name``; return its value, or None if it did not succeed."""
        self.log(name, STARTED)
        try:
            value = action()
        except StepSkipped as reason:
            self.log(name, SKIPPED, str(reason))
        except NotImplementedError as todo:
            self.log(name, TODO, str(todo) or "not implemented yet")
        except BaseException as error:
            self.log(name, ERROR, self._describe(error))
        else:
            self.log(name, OK)
            return value
        return None

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


def harvest(lab_name: str, module_path: Path, folder: Path) -> None:
    """Call every API function of the lab and write what comes out into ``folder``."""
    import numpy as np

    from labkit import labs

    lab = labs.get(lab_name)
    inputs = dict(np.load(folder / INPUTS, allow_pickle=False))
    child = Harvester(module_path, folder)
    _serve_datasets_locally()
    if child.step("import", child.import_module) is None:
        return

    def preprocess() -> None:
        result = np.asarray(child.function("preprocess")(inputs["preprocess_images"].copy()))
        if not (np.issubdtype(result.dtype, np.number) or result.dtype == bool):
            raise TypeError(f"preprocess() must return numbers, got an array of {result.dtype}")
        np.save(folder / PREPROCESSED, result, allow_pickle=False)

    def build_model() -> Any:
        model = _as_model(child.function("build_model")(), "build_model")
        model.save(folder / MODEL)
        return model

    child.step("preprocess", preprocess)
    model = child.step("build_model", build_model)

    def compile_model() -> None:
        if model is None:
            # Still call it on a stand-in model, so a TODO shows up in the submission check.
            child.function("compile_model")(_stand_in_model())
            raise StepSkipped("build_model() must work before compile_model() can be checked")
        compiled = _as_model(child.function("compile_model")(model), "compile_model")
        compiled.save(folder / COMPILED)

    child.step("compile_model", compile_model)
    if "plot_samples" in lab.functions:
        class_names = child.step("CLASS_NAMES", lambda: _save_class_names(child.module, folder))

        def plot_samples() -> None:
            # Without usable CLASS_NAMES, plot with stand-in names: the grid still gets judged.
            names = class_names or [f"class {label}" for label in range(10)]
            images, labels = inputs["sample_images"].copy(), inputs["sample_labels"].copy()
            figure = child.function("plot_samples")(images, labels, names)
            _save_figure(folder, "plot_samples", figure)

        child.step("plot_samples", plot_samples)
    if "plot_history" in lab.functions:
        history = json.loads((folder / HISTORY).read_text(encoding="utf-8"))
        child.step(
            "plot_history",
            lambda: _save_figure(folder, "plot_history", child.function("plot_history")(history)),
        )
    child.log("harvest", OK)


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


def _save_class_names(module: ModuleType | None, folder: Path) -> list[str]:
    names = getattr(module, "CLASS_NAMES", None)
    if names is None:
        raise StepSkipped("the module does not define CLASS_NAMES")
    names = [str(name) for name in names]
    if not names:
        raise NotImplementedError("CLASS_NAMES is empty: list the 10 class names in label order")
    if len(names) != 10:
        raise ValueError(
            f"CLASS_NAMES has {len(names)} names; it needs one for each of the 10 labels"
        )
    (folder / CLASS_NAMES).write_text(json.dumps(names), encoding="utf-8")
    return names


def _save_figure(folder: Path, name: str, figure: Any) -> None:
    import numpy as np

    from labkit import figures

    description, images = figures.describe(figure)
    (folder / f"{name}.json").write_text(json.dumps(description), encoding="utf-8")
    np.savez(folder / f"{name}.npz", **images)


if __name__ == "__main__":
    harvest(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
