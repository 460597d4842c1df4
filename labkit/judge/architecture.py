"""Read a built Keras model as the grader sees it: a flat list of layers and its compile settings.

A model is built only once the sandbox's screen has admitted it (``labkit.sandbox.screen``).

Usage: ``found = architecture.read(model); settings = architecture.compile_settings(path)``
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.sandbox.screen import ACTIVATED_LAYERS, ACTIVATION_LAYERS, read_config
from labkit.spec.failures import CheckFailed

RAW_ACCURACY = "keras.metrics.accuracy"  # the Accuracy class, unlike the string


@dataclass(frozen=True)
class FoundLayer:
    """One layer of a submitted model, with any activation layer after it folded in."""

    kind: str
    activation: str
    output_shape: tuple[int | None, ...] | None
    params: int


@dataclass(frozen=True)
class CompileSettings:
    """What ``model.compile(...)`` was given, as names the checks can compare."""

    optimizer: str
    loss: str
    from_logits: bool
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Architecture:
    """What the architecture checks read of a built model: a plain value, kept as JSON."""

    layers: tuple[FoundLayer, ...]
    input_shape: tuple[int | None, ...] | None
    params: int | None  # None when the model has no weights yet (no input shape)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Read what ``to_json`` wrote; ValueError, KeyError or TypeError for anything else."""
        data = json.loads(text)
        layers = tuple(
            FoundLayer(
                str(layer["kind"]),
                str(layer["activation"]),
                _shape(layer["output_shape"]),
                int(layer["params"]),
            )
            for layer in data["layers"]
        )
        params = data["params"]
        return cls(layers, _shape(data["input_shape"]), None if params is None else int(params))


def read(model: Any) -> Architecture:
    """The model's layers, input shape and parameter count, as the checks read them."""
    return Architecture(tuple(layers_of(model)), input_shape(model), count_params(model))


def _shape(value: Any) -> tuple[int | None, ...] | None:
    if value is None:
        return None
    return tuple(None if size is None else int(size) for size in value)


def layers_of(model: Any) -> list[FoundLayer]:
    """The model's layers in order, without the input layer, activation layers folded in."""
    found: list[FoundLayer] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        activation = _activation(layer, kind)
        previous = found[-1] if found else None
        if (
            kind in ACTIVATION_LAYERS
            and previous is not None
            and previous.kind in ACTIVATED_LAYERS
            and previous.activation == "linear"
        ):
            found[-1] = FoundLayer(previous.kind, activation, _output_shape(layer), previous.params)
            continue
        found.append(FoundLayer(kind, activation, _output_shape(layer), _params(layer)))
    return found


def input_shape(model: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(model.inputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def count_params(model: Any) -> int | None:
    """The model's parameter count, or None when it has no weights yet (no input shape)."""
    try:
        return int(model.count_params())
    except ValueError:
        return None


def compile_settings(path: Path) -> CompileSettings | None:
    """Read the compile arguments stored in a ``.keras`` file, or None if it was never compiled."""
    try:
        config = read_config(path)
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile) as error:
        raise CheckFailed(f"the compiled model could not be read: {error}") from None
    compiled = config.get("compile_config") if isinstance(config, dict) else None
    if not isinstance(compiled, dict) or not compiled.get("loss"):
        return None  # Keras stores {} for a model that was never compiled
    loss, from_logits = _loss(compiled.get("loss"))
    return CompileSettings(
        optimizer=_name(compiled.get("optimizer")),
        loss=loss,
        from_logits=from_logits,
        metrics=tuple(_metric_names(compiled.get("metrics"))),
    )


def _activation(layer: Any, kind: str) -> str:
    if kind == "ReLU":
        config = layer.get_config()
        plain = not config.get("max_value") and not config.get("negative_slope")
        return "relu" if plain and not config.get("threshold") else "clipped_relu"
    if kind == "Softmax":
        return "softmax"
    if kind == "LeakyReLU":
        return "leaky_relu"
    function = getattr(layer, "activation", None)
    return getattr(function, "__name__", "") if function is not None else ""


def _output_shape(layer: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None


def _params(layer: Any) -> int:
    try:
        return int(layer.count_params())
    except ValueError:
        return 0


def _name(entry: Any) -> str:
    """Canonical name of a serialized optimizer, loss or metric: 'sparsecategoricalcrossentropy'."""
    if isinstance(entry, dict):
        config = entry.get("config")
        name = config if entry.get("class_name") == "function" else entry.get("class_name")
    else:
        name = entry
    return str(name or "").replace("_", "").lower()


def _loss(entry: Any) -> tuple[str, bool]:
    config = entry.get("config") if isinstance(entry, dict) else None
    from_logits = bool(config.get("from_logits", False)) if isinstance(config, dict) else False
    return _name(entry), from_logits


def _metric_names(entry: Any) -> list[str]:
    if entry is None:
        return []
    if isinstance(entry, dict) and "class_name" not in entry:
        entry = list(entry.values())
    if not isinstance(entry, list):
        entry = [entry]
    names: list[str] = []
    for item in entry:
        if isinstance(item, list):
            names.extend(_metric_names(item))
        elif isinstance(item, dict) and item.get("class_name") == "Accuracy":
            names.append(RAW_ACCURACY)
        else:
            names.append(_name(item))
    return names
