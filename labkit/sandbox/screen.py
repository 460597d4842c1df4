"""Screen a saved Keras model before anything builds it, then build it without running code.

``screen`` reads only the file's JSON description and refuses a model far larger than the
lab's before Keras builds (or the grader trains) anything from it; ``work_ratio`` says how
much computation an admitted model needs against the lab's own.

Usage: ``screen.screen(path, lab); model = screen.load(path)``
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.spec.failures import CheckFailed
from labkit.spec.lab import Lab

# Layers that only apply an activation; they merge into the layer before them.
ACTIVATION_LAYERS = {"Activation", "ReLU", "Softmax", "LeakyReLU"}
# Layers whose activation is an argument.
ACTIVATED_LAYERS = {"Conv2D", "Dense"}

CONFIG = "config.json"
MAX_CONFIG_BYTES = 2**20  # a lab model's config.json is about 7 KB
# How far from the lab's table a model may be before the grader refuses to build it: far
# enough for any single slip (in small CNNs, a forgotten pooling layer gives 4 to 5 times the
# parameters or the computation), near enough that loading and training stay cheap.
LAYER_FACTOR, EXTRA_LAYERS = 4, 4
WIDTH_FACTOR = 4
PARAMS_FACTOR = 8
COMPUTE_FACTOR = 8
# Bytes a saved parameter may take: float64 weights with two optimizer slots each.
BYTES_PER_PARAM = 24
TOO_LARGE = "the model is far larger than this lab's"
UNREADABLE = "the grader could not read your model"
# Layers that keep their input's shape and have no weights.
SHAPE_KEEPING = {
    "Activation",
    "Dropout",
    "ELU",
    "GaussianDropout",
    "GaussianNoise",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "RandomBrightness",
    "RandomContrast",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Softmax",
    "SpatialDropout2D",
}
# Layers with weights per channel: BatchNormalization keeps four, LayerNormalization two.
PER_CHANNEL = {"BatchNormalization": 4, "LayerNormalization": 2}
POOLING = {"MaxPooling2D", "AveragePooling2D"}
GLOBAL_POOLING = {"GlobalAveragePooling2D", "GlobalMaxPooling2D"}
MODELS = {"Sequential", "Functional", "Model"}
# Layers that combine several inputs of one shape, or concatenate them.
MERGING = {"Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract"}
# Every layer the screen can size. Any other is refused: a layer it does not know could
# need any amount of computation.
KNOWN = {
    *SHAPE_KEEPING,
    *PER_CHANNEL,
    *POOLING,
    *GLOBAL_POOLING,
    *MERGING,
    "Conv2D",
    "Dense",
    "Flatten",
    "Reshape",
    "UpSampling2D",
    "ZeroPadding2D",
}
Shape = tuple[int | None, ...]


def load(path: Path, weights: bool = True) -> Any:
    """Load a model without running any code from the file (``safe_mode=True``).

    Without ``weights``, only its architecture is built, with fresh weights: all that is
    read of a model nothing has trained yet, in two thirds of the time.
    """
    import keras

    try:
        if weights:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        config = read_config(path)
        config["compile_config"] = None  # as load_model(compile=False) has it
        return keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:
        raise CheckFailed(
            f"the grader could not load your model safely ({type(error).__name__}: "
            f"{_first_line(error)}). Use only built-in Keras layers; Lambda layers and "
            "custom classes are not allowed.",
            short="the grader could not load your model",
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "no details"


class ModelRefused(CheckFailed):
    """A saved model the grader will not build: unreadable, or far off the lab's table."""


def read_config(path: Path, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """The parsed ``config.json`` of a ``.keras`` file; ValueError if it declares more bytes."""
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(CONFIG).file_size
        if size > max_bytes:
            raise ValueError(f"{CONFIG} holds {size:,} bytes, more than {max_bytes:,}")
        return json.loads(archive.read(CONFIG))


def screen(path: Path, lab: Lab, max_config_bytes: int = MAX_CONFIG_BYTES) -> None:
    """Raise ModelRefused unless the model at ``path`` is near enough to ``lab`` to build.

    Reads only the zip's directory and ``config.json``, each checked for size before it is
    read, and estimates layers, widths, parameters and computation from the layer configs.
    """
    file_limit = BYTES_PER_PARAM * PARAMS_FACTOR * lab.total_params + 2**20
    size = path.stat().st_size
    if size > file_limit:
        _refuse_size(f"file is {_megabytes(size)}", _megabytes(file_limit))
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                limit = max_config_bytes if member.filename == CONFIG else file_limit
                if member.file_size > limit:
                    _refuse_size(
                        f"{member.filename} is {_megabytes(member.file_size)}", _megabytes(limit)
                    )
            config = json.loads(archive.read(CONFIG))
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile) as error:
        raise ModelRefused(
            f"The grader could not read your saved model ({type(error).__name__}: "
            f"{_first_line(error)}). Return a model built from Keras layers.",
            short=UNREADABLE,
        ) from None
    tally = _Tally(lab)
    try:
        _walk_model(config, None, tally)
    except _Mismatch as mismatch:
        raise ModelRefused(
            f"{mismatch}, so the grader did not build or train it. Save the model as Keras "
            "builds it; return it from build_model() without editing its saved file.",
            short=UNREADABLE,
        ) from None
    except _Unsized as unsized:
        raise ModelRefused(
            f"The grader could not work out the size of {unsized}, so it did not build or "
            "train the model. Use the layers in the lab's table.",
            short=TOO_LARGE,
        ) from None
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
        raise ModelRefused(
            "The grader could not read your saved model's layers. Return a model built from "
            "Keras layers.",
            short=UNREADABLE,
        ) from None
    tally.finish()


class _Unsized(Exception):
    """A layer whose weights depend on a shape the config does not give."""


class _Mismatch(Exception):
    """A shape saved in the file that is not the one the layers compute."""

    def __init__(self, where: str, declared: Shape, computed: Shape) -> None:
        super().__init__(
            f"The saved model declares {where} as {_shown(declared)}, but the layers before "
            f"it make it {_shown(computed)}"
        )


def _shown(shape: Shape) -> str:
    return "(" + ", ".join(str(dim) for dim in shape) + ")"


@dataclass
class _Tally:
    """What a walk through a model's config has counted so far, refusing once it is too much."""

    lab: Lab
    kinds: list[str] = field(default_factory=list)
    params: int = 0
    multiply_adds: int = 0

    @property
    def max_layers(self) -> int:
        return LAYER_FACTOR * len(self.lab.layers) + EXTRA_LAYERS

    @property
    def max_width(self) -> int:
        return WIDTH_FACTOR * max(
            layer.output_shape[-1] for layer in self.lab.layers if layer.kind in ACTIVATED_LAYERS
        )

    def lab_input(self) -> Shape:
        return (None, *self.lab.input_shape)

    def layer(self, kind: str) -> None:
        self.kinds.append(kind)
        if len(self.kinds) > self.max_layers:  # stop walking here: the rest costs time too
            self.refuse(
                f"The model has more than {self.max_layers} layers, far more than the "
                f"{len(self.lab.layers)} in this lab's table"
            )

    def width(self, kind: str, what: str, size: int) -> None:
        if size > self.max_width:
            self.refuse(
                f"Layer {len(self.kinds)} ({kind}) has {size:,} {what}, far more than this "
                f"lab uses (at most {self.max_width // WIDTH_FACTOR})"
            )

    def finish(self) -> None:
        expected = self.lab.total_params
        if self.params > PARAMS_FACTOR * expected:
            self.refuse(
                f"The model would have about {self.params:,} parameters, "
                f"{self.params / expected:.0f} times the {expected:,} this lab expects"
            )
        lab_work = lab_multiply_adds(self.lab)
        if self.multiply_adds > COMPUTE_FACTOR * lab_work:
            self.refuse(
                f"The model would take about {self.multiply_adds / lab_work:.0f} times the "
                "computation of this lab's model to train"
            )

    def refuse(self, found: str) -> None:
        expected = " -> ".join(layer.kind for layer in self.lab.layers)
        shown = _folded(self.kinds)
        mine = " -> ".join(shown[:20]) + (" -> ..." if len(shown) > 20 else "")
        raise ModelRefused(
            f"{found}, so the grader did not build or train it. Check each layer's filters, "
            f"units, padding and pooling against the lab's table: expected {expected}, found "
            f"{mine}.",
            short=TOO_LARGE,
        )


def work_ratio(path: Path, lab: Lab) -> float:
    """The computation of the saved model at ``path``, as a multiple of the lab's own model's.

    Infinite when its config cannot be walked; call it on a model the screen admitted.
    """
    tally = _Tally(lab)
    try:
        _walk_model(read_config(path), None, tally)
    except Exception:  # any config the walk cannot follow counts as unbounded
        return math.inf
    return tally.multiply_adds / max(1, lab_multiply_adds(lab))


def lab_multiply_adds(lab: Lab) -> int:
    """Multiply-adds of one forward pass through the lab's own model, from its table."""
    total = 0
    for layer in lab.layers:
        if layer.params:
            total += (layer.params - layer.output_shape[-1]) * math.prod(layer.output_shape[:-1])
    return total


def _walk_model(entry: dict[str, Any], given: Shape | None, tally: _Tally) -> Shape:
    """Count a Sequential or Functional model's layers, nested models included; its output.

    Every shape comes from the model's input and the layers' own settings. A shape the file
    saves beside a layer (its build shape, a tensor's shape) is only compared with that: Keras
    builds a layer from it on loading, so one that disagrees is refused, never believed.
    """
    config = entry["config"]
    layers = config["layers"]
    if not isinstance(layers, list):
        raise TypeError("layers is not a list")
    if entry["class_name"] == "Sequential":
        declared = _shape(config.get("build_input_shape"))
        if given is not None:
            _agree(declared, given, f"the input of layer {len(tally.kinds)} (Sequential)")
        shape = given or declared
        if shape is None and not (layers and layers[0]["class_name"] == "InputLayer"):
            shape = tally.lab_input()  # unbuilt: the grader's training builds it on the lab's data
        for layer in layers:
            shape = _walk_layer(layer, [shape] if shape is not None else [], tally)
        if shape is None:
            raise _Unsized(f"the {entry['class_name']} model's input")
        return shape
    outputs: dict[str, Shape] = {}
    for layer in layers:
        if layer["class_name"] == "InputLayer":
            inputs = [given] if given is not None else []
            given = None  # a nested model's first input is what its caller passes
        else:
            inputs = [_tensor_shape(tensor, outputs) for tensor in _inbound_tensors(layer)]
        outputs[str(layer.get("name"))] = _walk_layer(layer, inputs, tally)
    ends = config.get("output_layers") or []
    first = ends[0] if ends and isinstance(ends[0], list) else ends
    if not first or str(first[0]) not in outputs:
        raise _Unsized(f"the {entry['class_name']} model's output")
    return outputs[str(first[0])]


def _walk_layer(entry: dict[str, Any], inputs: list[Shape], tally: _Tally) -> Shape:
    kind = str(entry["class_name"])
    config = entry["config"]
    if kind == "InputLayer":
        declared = _shape(config.get("batch_shape") or config.get("batch_input_shape"))
        if inputs:  # inside a nested model: what the caller passes is what it gets
            nested = f"layer {len(tally.kinds)} ({tally.kinds[-1]})" if tally.kinds else "model"
            _agree(declared, inputs[0], f"the input of {nested}")
        shape = inputs[0] if inputs else declared
        lab_input = tally.lab_input()
        if shape is None or (None in shape[1:] and len(shape) == len(lab_input)):
            return lab_input  # sizes left open are those of the lab's data in training
        return shape
    if kind in MODELS:
        tally.layer(kind)  # counted too, so that nesting cannot go deeper than the limit
        return _walk_model(entry, inputs[0] if inputs else None, tally)
    tally.layer(kind)
    where = f"layer {len(tally.kinds)} ({kind})"
    if kind not in KNOWN:
        raise _Unsized(f"{where}, a layer it does not know")
    if not inputs:
        raise _Unsized(where)
    build = entry.get("build_config")
    if isinstance(build, dict) and build.get("input_shape") is not None:
        built = build["input_shape"]
        nested = isinstance(built, list) and built and isinstance(built[0], list)
        for saved, computed in zip(built if nested else [built], inputs, strict=False):
            _agree(_shape(saved), computed, f"the input of {where}")
    params, work, shape = _size(kind, config, inputs, tally)
    tally.params += params
    tally.multiply_adds += work
    return shape


def _agree(declared: Shape | None, computed: Shape, where: str) -> None:
    """Refuse a shape saved in the file that is not the one the layers compute."""
    if declared is None:
        return
    if len(declared) != len(computed) or any(
        saved is not None and saved != real
        for saved, real in zip(declared[1:], computed[1:], strict=True)
    ):
        raise _Mismatch(where, declared, computed)


def _size(
    kind: str, config: dict[str, Any], inputs: list[Shape], tally: _Tally
) -> tuple[int, int, Shape]:
    """Parameters, forward multiply-adds and output shape of one layer on its ``inputs``."""
    shape = inputs[0]
    if kind in MERGING:
        return 0, 0, _merged(kind, config, inputs)
    if kind in SHAPE_KEEPING:
        return 0, 0, shape
    if kind == "Flatten":
        return 0, 0, (shape[0], math.prod(_dims(shape[1:])))
    if kind == "Reshape":
        return 0, 0, (shape[0], *_reshaped(config["target_shape"], _dims(shape[1:])))
    if kind in PER_CHANNEL:
        return PER_CHANNEL[kind] * _dims(shape[-1:])[0], 0, shape
    if kind in GLOBAL_POOLING:
        return 0, 0, (shape[0], shape[-1])
    if kind == "Dense":
        units = _positive(config["units"])
        tally.width(kind, "units", units)
        weights = _dims(shape[-1:])[0] * units
        bias = units if config.get("use_bias", True) else 0
        return weights + bias, weights * math.prod(_dims(shape[1:-1])), (*shape[:-1], units)
    first = config.get("data_format") == "channels_first"
    channels = _dims(shape[1:2] if first else shape[-1:])[0]
    spatial = _dims(shape[2:4] if first else shape[1:3])
    if kind == "Conv2D":
        filters = _positive(config["filters"])
        tally.width(kind, "filters", filters)
        kernel = _pair(config["kernel_size"])
        groups = _positive(config.get("groups", 1))
        weights = kernel[0] * kernel[1] * (channels // groups) * filters
        bias = filters if config.get("use_bias", True) else 0
        rows, columns = _spatial(spatial, kernel, config)
        return (
            weights + bias,
            weights * rows * columns,
            _image(shape[0], (rows, columns), filters, first),
        )
    if kind in POOLING:
        pool = _pair(config["pool_size"])
        strides = config.get("strides") or pool
        rows, columns = _spatial(spatial, pool, {**config, "strides": strides})
        return 0, 0, _image(shape[0], (rows, columns), channels, first)
    if kind == "UpSampling2D":
        size = _pair(config["size"])
        return 0, 0, _image(shape[0], (spatial[0] * size[0], spatial[1] * size[1]), channels, first)
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = _padding(config["padding"])
        grown = (spatial[0] + top + bottom, spatial[1] + left + right)
        return 0, 0, _image(shape[0], grown, channels, first)
    raise _Unsized(f"a {kind} layer")


def _image(batch: int | None, spatial: tuple[int, int], channels: int, first: bool) -> Shape:
    return (batch, channels, *spatial) if first else (batch, *spatial, channels)


def _merged(kind: str, config: dict[str, Any], inputs: list[Shape]) -> Shape:
    """The output of a layer that combines several inputs: one of them, or their concatenation."""
    if kind != "Concatenate":
        return max(inputs, key=lambda shape: math.prod(_dims(shape[1:])))
    axis = int(config.get("axis", -1))
    joined = list(inputs[0])
    joined[axis] = sum(_dims([shape[axis] for shape in inputs]))
    return tuple(joined)


def _reshaped(target: Any, dims: list[int]) -> tuple[int, ...]:
    """Reshape's output without the batch axis; one -1 takes what the others leave."""
    if not isinstance(target, list):
        raise TypeError("target_shape is not a list")
    known = [_positive(dim) for dim in target if dim != -1]
    total, rest = math.prod(dims), math.prod(known)
    if len(known) == len(target) and rest == total:
        return tuple(known)
    if len(known) == len(target) - 1 and rest and total % rest == 0:
        return tuple(total // rest if dim == -1 else dim for dim in target)
    raise ValueError(f"cannot reshape {dims} into {target}")


def _padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return (_positive(value),) * 2, (_positive(value),) * 2
    rows, columns = value
    pair = lambda side: (_positive(side),) * 2 if isinstance(side, int) else _pair(side)  # noqa: E731
    return pair(rows), pair(columns)


def _spatial(spatial: Shape, window: tuple[int, int], config: dict[str, Any]) -> tuple[int, int]:
    """Output rows and columns of a convolution or pooling window, as Keras computes them."""
    strides = _pair(config.get("strides", 1))
    dilation = _pair(config.get("dilation_rate", 1))
    sizes = []
    for size, width, stride, rate in zip(_dims(spatial), window, strides, dilation, strict=True):
        if config.get("padding", "valid") == "same":
            sizes.append(-(-size // stride))
        else:
            sizes.append(max(0, (size - rate * (width - 1) - 1) // stride + 1))
    return sizes[0], sizes[1]


def _inbound_tensors(layer: dict[str, Any]) -> list[dict[str, Any]]:
    tensors: list[dict[str, Any]] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            tensors.append(value["config"])
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(layer.get("inbound_nodes", []))
    return tensors


def _tensor_shape(tensor: dict[str, Any], outputs: dict[str, Shape]) -> Shape:
    """The shape a functional layer is called with, as computed from the layer that made it."""
    history = tensor.get("keras_history") or [None]
    source = str(history[0])
    if source not in outputs:
        raise _Unsized(f"the input that {source!r} gives, a layer that comes later or not at all")
    _agree(_shape(tensor.get("shape")), outputs[source], f"the output of {source!r}")
    return outputs[source]


def _shape(value: Any) -> Shape | None:
    """A saved shape, with ``None`` for the batch axis; None when there is none to read."""
    if not isinstance(value, list) or not value:
        return None
    dims = [None if dim is None else _positive(dim) for dim in value]
    return tuple(dims)


def _dims(shape: Shape) -> list[int]:
    """Dimensions that must be known to size a layer; an unknown one stops the walk."""
    if any(dim is None for dim in shape):
        raise _Unsized("a layer with an input of unknown size")
    return [int(dim) for dim in shape if dim is not None]


def _pair(value: Any) -> tuple[int, int]:
    values = value if isinstance(value, list) else [value, value]
    if len(values) != 2:
        raise ValueError("expected two sizes")
    return _positive(values[0]), _positive(values[1])


def _positive(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a size: {value!r}")
    return value


def _folded(kinds: list[str]) -> list[str]:
    """Layer kinds as the structure check names them: activation layers folded in."""
    shown: list[str] = []
    for kind in kinds:
        if kind in ACTIVATION_LAYERS and shown and shown[-1] in ACTIVATED_LAYERS:
            continue
        shown.append(kind)
    return shown


def _refuse_size(found: str, limit: str) -> None:
    raise ModelRefused(
        f"The saved model's {found}, far more than a model for this lab needs (at most "
        f"{limit}), so the grader did not read it. Check build_model() against the lab's table.",
        short=TOO_LARGE,
    )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"
