"""Read a saved Keras model as the grader sees it: a flat list of layers and its compile settings.

Usage: ``model = architecture.load(path); found = architecture.layers_of(model)``
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.checks import RAW_ACCURACY, CheckFailed

# Layers that only apply an activation; they merge into the layer before them.
ACTIVATION_LAYERS = {"Activation", "ReLU", "Softmax", "LeakyReLU"}
# Layers whose activation is an argument.
ACTIVATED_LAYERS = {"Conv2D", "Dense"}


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


def load(path: Path) -> Any:
    """Load a model without running any code from the file (``safe_mode=True``)."""
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise CheckFailed(
            f"the grader could not load your model safely ({type(error).__name__}: "
            f"{_first_line(error)}). Use only built-in Keras layers; Lambda layers and "
            "custom classes are not allowed.",
            short="the grader could not load your model",
        ) from None


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
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "no details"
