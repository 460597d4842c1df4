"""How a lab is declared: its data, its API, the architecture it expects, how it is trained.

A grader module (``graders/test_<lab>.py``) declares its lab as ``LAB = Lab(...)``, as
readable as the table in a lab handout. Everything else (the harvest, the checks, the
handouts, the report) reads the lab from that declaration.

Usage::

    LAB = Lab(
        name="my_lab",
        title="A first dense network",
        dataset="digits",
        input_shape=(28, 28),
        layers=(Layer("Flatten", (784,), 0), Layer("Dense", (10,), 7_850, OUTPUT)),
        training=Training(train_size=5000, test_size=2000, epochs=3, min_accuracy=0.83),
        api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL),
    )
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit.spec.datasets import Dataset

#: The activation a lab's last layer may have: logits (none) or softmax.
OUTPUT = "output"

# What a lab function returns, and so how the harvest saves it and a check reads it back.
ARRAY = "array"  # a NumPy array of numbers, saved as .npy
MODEL = "model"  # a keras.Model, saved as .keras
FIGURE = "figure"  # a matplotlib Figure, saved as a plain-data description and its images
JSON = "json"  # JSON-able data (numbers, strings, lists, dicts), saved as .json
NAMES = "class names"  # one name per class, in label order, saved as .json
RETURNS = (ARRAY, MODEL, FIGURE, JSON, NAMES)
SUFFIXES = {ARRAY: ".npy", MODEL: ".keras", FIGURE: ".json", JSON: ".json", NAMES: ".json"}
DATA_ARRAYS = ("x_train", "y_train", "x_test", "y_test")

#: The checks labkit provides; a lab's own checks may use other categories.
CATEGORIES = (
    "submission",
    "preprocess",
    "structure",
    "shapes",
    "params",
    "compile",
    "training",
    "accuracy",
    "plot",
)


@dataclass(frozen=True)
class Layer:
    """One expected layer, as a row of a lab's architecture table."""

    kind: str
    output_shape: tuple[int, ...]
    params: int
    activation: str = ""


@dataclass(frozen=True)
class Training:
    """How the grader trains a submission's model for the accuracy check."""

    train_size: int
    test_size: int
    epochs: int
    min_accuracy: float
    batch_size: int = 32
    seed: int = 0


@dataclass(frozen=True)
class Data:
    """An argument: the first ``count`` rows of one of the dataset's four arrays."""

    array: str
    count: int

    def __post_init__(self) -> None:
        if self.array not in DATA_ARRAYS:
            raise ValueError(f"Data({self.array!r}): choose one of {', '.join(DATA_ARRAYS)}")

    @property
    def key(self) -> str:
        """Its name among the harvest's input arrays."""
        return f"{self.array}_{self.count}"


@dataclass(frozen=True)
class Value:
    """An argument: a fixed JSON-able value, handed to each call as a fresh copy."""

    value: Any


@dataclass(frozen=True)
class Result:
    """An argument: what an earlier function of the lab returned."""

    function: str


Argument = Data | Value | Result


@dataclass(frozen=True)
class Function:
    """A name a lab module defines: how the harvest calls it and what it must return.

    A ``constant`` (such as CLASS_NAMES) is read from the module, not called.
    """

    name: str
    args: tuple[Argument, ...] = ()
    returns: str = ARRAY
    constant: bool = False

    def __post_init__(self) -> None:
        if self.returns not in RETURNS:
            raise ValueError(f"{self.name} returns {self.returns!r}: choose one of {RETURNS}")

    @property
    def filename(self) -> str:
        """The file its harvested value is saved as."""
        return self.name + SUFFIXES[self.returns]

    @property
    def shown(self) -> str:
        """'build_model()' for a function, 'CLASS_NAMES' for a constant."""
        return self.name if self.constant else f"{self.name}()"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": [_argument_to_json(arg) for arg in self.args],
            "returns": self.returns,
            "constant": self.constant,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Function:
        args = tuple(_argument_from_json(arg) for arg in data["args"])
        return cls(data["name"], args, data["returns"], data["constant"])


@dataclass(frozen=True)
class Lab:
    """Everything the harvest, the checks and the report need to know about one lab."""

    name: str
    title: str
    dataset: Dataset | str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    training: Training
    api: tuple[Function, ...]
    class_names: tuple[str, ...] = ()
    #: Points for a check other than its default, by check name: {"accuracy": 2}.
    points: dict[str, float] = field(default_factory=dict)
    #: Epochs the solution notebook trains for.
    handout_epochs: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.dataset, str):
            object.__setattr__(self, "dataset", Dataset(self.dataset))
        names = [function.name for function in self.api]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: each function of the API may be declared once")
        for index, function in enumerate(self.api):
            for arg in function.args:
                if isinstance(arg, Result) and arg.function not in names[:index]:
                    raise ValueError(
                        f"{self.name}: {function.name} takes Result({arg.function!r}), which "
                        "must be declared before it in the API"
                    )
            if function.returns == NAMES and not self.class_names:
                raise ValueError(f"{self.name}: {function.name} needs the lab's class_names")

    def to_json(self) -> dict[str, Any]:
        """The lab as JSON-able data, for a child process that cannot import the graders."""
        data = dataclasses.asdict(self)
        data["api"] = [function.to_json() for function in self.api]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lab:
        """The lab that ``to_json`` wrote."""
        return cls(
            name=data["name"],
            title=data["title"],
            dataset=Dataset(**data["dataset"]),
            input_shape=tuple(data["input_shape"]),
            layers=tuple(
                Layer(row["kind"], tuple(row["output_shape"]), row["params"], row["activation"])
                for row in data["layers"]
            ),
            training=Training(**data["training"]),
            api=tuple(Function.from_json(function) for function in data["api"]),
            class_names=tuple(data["class_names"]),
            points=dict(data["points"]),
            handout_epochs=data["handout_epochs"],
        )

    def function(self, name: str) -> Function:
        """The declared function or constant called ``name``."""
        for function in self.api:
            if function.name == name:
                return function
        raise KeyError(f"{self.name} declares no function {name!r}")

    @property
    def functions(self) -> tuple[str, ...]:
        """The names of the functions a lab module defines, in harvest order."""
        return tuple(function.name for function in self.api if not function.constant)

    @property
    def api_names(self) -> tuple[str, ...]:
        """Every name a lab module must define: its functions, then its constants."""
        constants = tuple(function.name for function in self.api if function.constant)
        return (*self.functions, *constants)

    def needs(self, name: str) -> tuple[str, ...]:
        """The functions whose results ``name`` cannot be checked without.

        Class names are not among them: a stand-in list lets the rest still be judged.
        """
        return tuple(
            arg.function
            for arg in self.function(name).args
            if isinstance(arg, Result) and self.function(arg.function).returns != NAMES
        )

    def points_for(self, check: str, default: float) -> float:
        """The points check ``check`` is worth in this lab: its own value, else ``default``."""
        return float(self.points.get(check, default))

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def expected_preprocess(self, images: np.ndarray) -> np.ndarray:
        """What ``preprocess`` must return: pixels scaled to [0, 1], in the model's input shape."""
        return (images.astype(np.float32) / 255.0).reshape((-1, *self.input_shape))


def _argument_to_json(arg: Argument) -> dict[str, Any]:
    if isinstance(arg, Data):
        return {"data": [arg.array, arg.count]}
    if isinstance(arg, Value):
        return {"value": arg.value}
    return {"result": arg.function}


def _argument_from_json(data: dict[str, Any]) -> Argument:
    if "data" in data:
        return Data(*data["data"])
    if "value" in data:
        return Value(data["value"])
    return Result(data["result"])
