"""The grading checks: each compares what a submission produced with the lab's spec.

A check returns quietly (or with a short note) when it passes and raises ``CheckFailed``
with what was expected, what was found and a hint when it does not.

Usage: ``checks.shapes(found_layers, model_input_shape, lab)``
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.judge.architecture import RAW_ACCURACY, CompileSettings, FoundLayer
from labkit.spec.failures import Cause, CheckFailed, GraderFault
from labkit.spec.lab import OUTPUT, Lab

if TYPE_CHECKING:
    from labkit.sandbox.runner import Harvest
    from labkit.sandbox.training import TrainingResult

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
SPARSE_CROSSENTROPY = "sparsecategoricalcrossentropy"
ACCURACY_METRICS = {"accuracy", "acc", "sparsecategoricalaccuracy"}
# A trained model's loss must end below this fraction of ln(classes), the loss of guessing.
CHANCE_FRACTION = 0.9


# -- structure, shapes, params ----------------------------------------------------------


def structure(found: Sequence[FoundLayer], lab: Lab) -> None:
    """Layer types in order, and each layer's activation."""
    fault = _kinds_fault(found, lab)
    if fault is not None:
        raise CheckFailed(fault.message, causes=[fault])
    expected = [layer.kind for layer in lab.layers]
    for index, (want, got) in enumerate(zip(lab.layers, found, strict=False)):
        name = describe_position(expected, index)
        if want.activation == OUTPUT and got.activation not in ("linear", "softmax"):
            raise CheckFailed(
                f"The output layer should give logits (no activation) or probabilities "
                f"(activation='softmax'), but {name} uses {got.activation!r}.",
                short=f"activation {got.activation!r} on the output layer",
            )
        if want.activation == "relu" and got.activation != "relu":
            raise CheckFailed(
                f"{_capital(name)} should use activation='relu', but it uses {got.activation!r}.",
                short=f"activation {got.activation!r} instead of 'relu' on {name}",
            )


def shapes(
    found: Sequence[FoundLayer], model_input: tuple[int | None, ...] | None, lab: Lab
) -> None:
    """The output shape after every layer, starting from the input shape.

    Shapes that differ after a layer that is missing or extra are the structure's fault:
    the failure names that as its cause, so the report tells it once.
    """
    fault = _input_fault(model_input, lab)
    if fault is not None:
        raise CheckFailed(fault.message, causes=[fault])
    fault = _shape_fault(found, lab)
    if fault is not None:
        raise CheckFailed(fault.message, causes=[_kinds_fault(found, lab) or fault])


def params(
    found: Sequence[FoundLayer],
    total: int | None,
    lab: Lab,
    model_input: tuple[int | None, ...] | None = None,
) -> None:
    """The total parameter count, pointing at the first layer that differs.

    A count that differs while the layers or their shapes do is their consequence, and
    names their fault as its cause. ``model_input`` (when known) is checked as the shapes
    check checks it.
    """
    if total is None:
        raise CheckFailed(
            "The model has no weights yet, so it cannot be counted: give it an input shape "
            f"with keras.Input(shape={lab.input_shape}).",
            short="a model without an input shape",
        )
    if total == lab.total_params:
        return
    message = f"Expected {lab.total_params:,} parameters in total, found {total:,}."
    expected = [layer.kind for layer in lab.layers]
    short = "the wrong parameter count"
    for index, want in enumerate(lab.layers):
        # Compare the n-th layer of each kind, so a missing layer doesn't shift the blame.
        same_kind = [layer for layer in found if layer.kind == want.kind]
        nth = expected[:index].count(want.kind)
        if nth < len(same_kind) and same_kind[nth].params != want.params:
            position = describe_position(expected, index)
            message += (
                f" {_capital(position)} has {same_kind[nth].params:,}, expected {want.params:,}."
            )
            short = f"the wrong parameter count in {position}"
            break
    upstream = (
        _kinds_fault(found, lab)
        or (_input_fault(model_input, lab) if model_input is not None else None)
        or _shape_fault(found, lab)
    )
    raise CheckFailed(message, causes=[upstream or Cause(message, short)])


def _kinds_fault(found: Sequence[FoundLayer], lab: Lab) -> Cause | None:
    """A layer missing, extra or of another kind than the lab's, as a cause; else None."""
    expected = [layer.kind for layer in lab.layers]
    kinds = [layer.kind for layer in found]
    return None if kinds == expected else Cause(*_structure_difference(expected, kinds))


def _input_fault(model_input: tuple[int | None, ...] | None, lab: Lab) -> Cause | None:
    """An input shape other than the lab's, as a cause; else None."""
    wanted_input = (None, *lab.input_shape)
    if model_input == wanted_input:
        return None
    return Cause(
        f"The model's input shape is {model_input}, expected {wanted_input}: start the "
        f"model with keras.Input(shape={lab.input_shape}).",
        "the wrong input shape",
    )


def _shape_fault(found: Sequence[FoundLayer], lab: Lab) -> Cause | None:
    """The first layer's output shape that differs from the lab's, as a cause; else None."""
    expected = [layer.kind for layer in lab.layers]
    for index, (want, got) in enumerate(zip(lab.layers, found, strict=False)):
        wanted_shape = (None, *want.output_shape)
        if got.output_shape != wanted_shape:
            position = describe_position(expected, index)
            hint, short = _shape_hint(want, got, position)
            return Cause(
                f"Expected {wanted_shape} after {position}, got "
                f"{got.output_shape}{_from_other_kind(want, got)}. {hint}",
                short,
            )
    if len(found) != len(lab.layers):
        return Cause(
            f"The model has {len(found)} layers, expected {len(lab.layers)}: "
            "see the structure check.",
            f"{len(found)} layers instead of {len(lab.layers)}",
        )
    return None


def _structure_difference(expected: list[str], found: list[str]) -> tuple[str, str]:
    """What differs between the layer kinds found and those expected: the message and its
    short name, the same for every student who makes the same change."""
    index = next(
        (i for i, (want, got) in enumerate(zip(expected, found, strict=False)) if want != got),
        min(len(expected), len(found)),
    )
    after = f"after {describe_position(expected, index - 1)}" if index else "at the start"
    if found[:index] + found[index + 1 :] == expected:
        return (
            f"Layer {index + 1} is a {found[index]} that this lab does not use: remove it. "
            f"Expected {_sequence(expected)}.",
            f"an extra {found[index]} layer {after}",
        )
    if found == expected[:index] + expected[index + 1 :]:
        return (
            f"A {expected[index]} layer is missing {after}: did you forget it? "
            f"Expected {_sequence(expected)}.",
            f"a {expected[index]} layer missing {after}",
        )
    found_kind = found[index] if index < len(found) else "nothing"
    wanted_kind = expected[index] if index < len(expected) else "nothing"
    return (
        f"Layer {index + 1} should be a {wanted_kind}, found {found_kind}. "
        f"Expected {_sequence(expected)}, found {_sequence(found)}.",
        f"other layers than the lab's from layer {index + 1}",
    )


def _from_other_kind(want: Any, got: Any) -> str:
    return "" if want.kind == got.kind else f" from a {got.kind}"


def _shape_hint(want: Any, got: Any, position: str) -> tuple[str, str]:
    """What to change for a layer's output shape, and the short name of the mistake."""
    found = got.output_shape
    if want.kind != got.kind or found is None:
        return "Fix the structure check first.", f"the wrong layers before {position}"
    wanted = want.output_shape
    if want.kind == "Conv2D":
        hints, shorts = [], []
        if found[1:3] == tuple(size + 2 for size in wanted[:2]):
            hints.append("did you use padding='same'? This lab keeps the default padding='valid'")
            shorts.append(f"padding='same' on {position}")
        elif found[1:3] != wanted[:2]:
            hints.append("use a 3x3 kernel, as in Conv2D(filters, (3, 3))")
            shorts.append(f"a kernel other than 3x3 on {position}")
        if found[-1] != wanted[-1]:
            hints.append(f"use {wanted[-1]} filters")
            shorts.append(f"the wrong number of filters on {position}")
        if not hints:
            return "Check the layers before this one.", f"the wrong shape before {position}"
        return _capital("; ".join(hints)) + ".", " and ".join(shorts)
    if want.kind == "MaxPooling2D":
        if found[-1] != wanted[-1]:
            return "Its input already differs: fix the layers before it.", (
                f"the wrong shape before {position}"
            )
        return "Use MaxPooling2D((2, 2)), which halves the height and width.", (
            f"the wrong pool size on {position}"
        )
    if want.kind == "Dense":
        return f"Use Dense({wanted[-1]}).", f"the wrong number of units in {position}"
    return "Its output follows from the layers before it: fix those first.", (
        f"the wrong shape before {position}"
    )


def describe_position(kinds: Sequence[str], index: int) -> str:
    """'the second Conv2D': how a student would point at layer ``index``."""
    if index < 0:
        return "the input"
    kind = kinds[index]
    same = sum(1 for other in kinds[:index] if other == kind)
    if index == len(kinds) - 1 and kind == "Dense":
        return "the output Dense layer"
    return f"the {ORDINALS[same] if same < len(ORDINALS) else f'#{same + 1}'} {kind}"


def _sequence(kinds: Sequence[str]) -> str:
    return " -> ".join(kinds) if kinds else "no layers"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- compile ------------------------------------------------------------------------------


def compiled(settings: CompileSettings | None, found: Sequence[FoundLayer]) -> None:
    """Adam, sparse categorical cross-entropy consistent with the output, and accuracy."""
    if settings is None:
        raise CheckFailed(
            "compile_model() returned a model that is not compiled: call model.compile(...) "
            "and return the model.",
            short="compile_model() returns an uncompiled model",
        )
    if settings.optimizer != "adam":
        raise CheckFailed(
            f"Expected the Adam optimizer, found {settings.optimizer or 'none'}: "
            "use optimizer='adam'.",
            short="an optimizer other than Adam",
        )
    if settings.loss != SPARSE_CROSSENTROPY:
        hint = (
            " Labels here are class numbers (0-9), not one-hot vectors, so use the sparse version."
            if settings.loss == "categoricalcrossentropy"
            else ""
        )
        raise CheckFailed(
            f"Expected sparse categorical cross-entropy as the loss, found "
            f"{settings.loss or 'none'}.{hint}",
            short="categorical instead of sparse cross-entropy"
            if hint
            else "a loss other than sparse categorical cross-entropy",
        )
    softmax = bool(found) and found[-1].activation == "softmax"
    if softmax and settings.from_logits:
        raise CheckFailed(
            "The last layer applies softmax, so it outputs probabilities, but the loss has "
            "from_logits=True and will apply softmax a second time. Either remove the softmax "
            "(output logits) or use from_logits=False.",
            short="a softmax output with from_logits=True",
        )
    if not softmax and not settings.from_logits:
        raise CheckFailed(
            "The last layer has no activation, so it outputs logits, but the loss expects "
            "probabilities (from_logits=False). Use "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True), or add "
            "activation='softmax' to the last layer.",
            short="a logits output with from_logits=False",
        )
    if not ACCURACY_METRICS & set(settings.metrics):
        if RAW_ACCURACY in settings.metrics:
            raise CheckFailed(
                "keras.metrics.Accuracy() compares the raw outputs with the labels, so it "
                "stays near 0 here: use metrics=['accuracy'] instead.",
                short="keras.metrics.Accuracy() instead of 'accuracy'",
            )
        raise CheckFailed(
            f"Track accuracy while training: add metrics=['accuracy'] (found "
            f"{list(settings.metrics) or 'no metrics'}).",
            short="no accuracy metric",
        )


# -- training and accuracy --------------------------------------------------------------


def training(result: TrainingResult, lab: Lab) -> str:
    """The loss stays finite and ends clearly below chance level while the grader trains."""
    _require_trained(result)
    fault = _training_fault(result, lab)
    if fault is not None:
        raise CheckFailed(fault.message, causes=[fault])
    return (
        f"loss fell from {result.initial_loss:.3f} to {result.losses[-1]:.3f} "
        f"(guessing scores {_chance(lab):.3f})"
    )


def accuracy(result: TrainingResult, lab: Lab) -> str:
    """Test accuracy after the grader's fixed training run reaches the lab's threshold.

    An accuracy short of it because the loss did not fall names the training's fault as its
    cause, so the report tells it once.
    """
    _require_trained(result)
    measured = _measured(result, lab)
    fault = _accuracy_fault(result, lab)
    if fault is not None:
        raise CheckFailed(fault.message, causes=[_training_fault(result, lab) or fault])
    return measured


def holdout(result: TrainingResult, lab: Lab) -> str:
    """Accuracy on test images no visible check uses reaches the lab's threshold too.

    Short of it while the visible accuracy is short too, it shares that check's cause.
    """
    _require_trained(result)
    recipe = lab.training
    if not result.holdout_size:
        raise CheckFailed("The dataset has no test images beyond the test subset to check on.")
    measured = (
        f"accuracy {result.holdout_accuracy:.3f} on {result.holdout_size:,} more test images "
        f"(needs {recipe.min_accuracy:.2f})"
    )
    if not result.holdout_accuracy >= recipe.min_accuracy:
        message = (
            f"{_capital(measured)}: the model does well only on the images the visible "
            "checks use. Check that nothing in your code depends on those images."
        )
        upstream = _training_fault(result, lab) or _accuracy_fault(result, lab)
        raise CheckFailed(
            message, causes=[upstream or Cause(message, "accuracy only on the visible images")]
        )
    return measured


def _training_fault(result: TrainingResult, lab: Lab) -> Cause | None:
    """A loss that did not stay finite or did not fall below chance level, as a cause."""
    losses = [result.initial_loss, *result.losses]
    if not all(math.isfinite(loss) for loss in losses):
        return Cause(
            f"The loss became {_format_losses(losses)} during training: it must stay finite. "
            "Check the learning rate, the initializers and the loss function.",
            "a loss that does not stay finite in training",
        )
    classes = lab.layers[-1].output_shape[-1]
    chance = _chance(lab)
    if result.losses[-1] > CHANCE_FRACTION * chance:
        return Cause(
            f"The loss ended at {result.losses[-1]:.3f} ({_format_losses(losses)}), no better "
            f"than guessing: a model that gives all {classes} classes the same chance scores "
            f"ln({classes}) = {chance:.3f}. Check the output layer, the loss and the optimizer's "
            "learning rate.",
            "a loss no better than guessing",
        )
    return None


def _accuracy_fault(result: TrainingResult, lab: Lab) -> Cause | None:
    """Test accuracy below the lab's threshold, as a cause."""
    if result.accuracy >= lab.training.min_accuracy:
        return None
    return Cause(
        f"{_capital(_measured(result, lab))}. A correct model reaches it easily: check the "
        "structure, compile and training results above.",
        "test accuracy below the threshold",
    )


def _measured(result: TrainingResult, lab: Lab) -> str:
    recipe = lab.training
    return (
        f"test accuracy {result.accuracy:.3f} after {recipe.epochs} epochs on "
        f"{recipe.train_size:,} training images (needs {recipe.min_accuracy:.2f})"
    )


def _chance(lab: Lab) -> float:
    """The loss of a model that gives every class the same chance: ln(classes)."""
    return math.log(lab.layers[-1].output_shape[-1])


def _require_trained(result: TrainingResult) -> None:
    """Raise unless the grader's training run finished: the grader's fault or the model's."""
    if result.grader_error:
        raise GraderFault(f"The grader's training run failed: {result.grader_error}")
    if result.error:
        raise CheckFailed(
            f"The grader could not train your model: {result.error}",
            short="the grader could not train your model",
        )


def _format_losses(losses: Sequence[float]) -> str:
    return " -> ".join(f"{loss:.3g}" for loss in losses)


# -- preprocess -----------------------------------------------------------------------


def preprocess(result: np.ndarray, images: np.ndarray, lab: Lab) -> None:
    """Pixels scaled from 0..255 to 0..1, as floats, in the model's input shape."""
    expected = lab.expected_preprocess(images)
    if result.shape != expected.shape:
        hint = (
            " Add the channel axis that Conv2D expects, for example with "
            f".reshape((-1, {', '.join(map(str, lab.input_shape))}))."
            if result.shape == images.shape and len(lab.input_shape) == 3 and images.ndim == 3
            else ""
        )
        raise CheckFailed(
            f"preprocess() returned shape {result.shape} for input {images.shape}; "
            f"expected {expected.shape}.{hint}",
            short="preprocess() without the channel axis"
            if hint
            else "preprocess() returns the wrong shape",
        )
    if not np.issubdtype(result.dtype, np.floating):
        raise CheckFailed(
            f"preprocess() returned {result.dtype} values; expected floats. "
            "Dividing by 255.0 gives floats.",
            short="preprocess() does not return floats",
        )
    if not np.all(np.isfinite(result)):
        raise CheckFailed(
            "preprocess() returned NaN or infinite values.",
            short="preprocess() returns NaN or infinite values",
        )
    top = float(result.max(initial=0.0))
    if top > 1.0 + 1e-6:
        raise CheckFailed(
            f"preprocess() values go up to {top:g}; expected 0 to 1. Divide the pixels by 255.0.",
            short="pixels not scaled to 0..1",
        )
    if not np.allclose(result, expected, atol=1e-5):
        raise CheckFailed(
            "preprocess() returned values in 0..1 but not pixel / 255: scale each pixel "
            "by dividing by 255.0, nothing else.",
            short="pixels scaled otherwise than by 1/255",
        )


# -- plots ----------------------------------------------------------------------------------


def sample_grid(
    figure: dict[str, Any],
    shown: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    lab: Lab,
) -> None:
    """A 5x5 grid of the first 25 images, no ticks, each with its true class as x-label."""
    axes = _grid_order(
        [(index, ax) for index, ax in enumerate(_axes(figure)) if ax.get("image_count")]
    )
    if len(axes) != 25:
        raise CheckFailed(
            f"Expected 25 images in a 5x5 grid, found {len(axes)}: draw each of the first 25 "
            "images in its own plt.subplot(5, 5, i + 1).",
            short="not 25 images in the sample grid",
        )
    rows = {round(ax["position"][1], 3) for _, ax in axes}
    columns = {round(ax["position"][0], 3) for _, ax in axes}
    if (len(rows), len(columns)) != (5, 5):
        raise CheckFailed(
            f"The images form {len(rows)} rows and {len(columns)} columns; expected a 5x5 grid: "
            "use plt.subplot(5, 5, i + 1).",
            short="the sample grid is not 5x5",
        )
    flat = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    true_names = list(lab.class_names)
    for position, (index, ax) in enumerate(axes):
        where = (
            f"Image {position + 1} of the grid (row {position // 5 + 1}, column {position % 5 + 1})"
        )
        if not _same_image(shown.get(f"axes{index}_image0"), images[position]):
            raise CheckFailed(
                f"{where} does not show images[{position}]: show the first 25 images in order.",
                short="the grid does not show the first 25 images in order",
            )
        if ax.get("xticks") or ax.get("yticks"):
            raise CheckFailed(
                f"{where} still has tick marks: hide them with plt.xticks([]) and plt.yticks([]).",
                short="tick marks on the grid's images",
            )
        if not ax.get("axis_on", True):
            raise CheckFailed(
                "plt.axis('off') hides the x-labels too: hide just the ticks with "
                "plt.xticks([]) and plt.yticks([]).",
                short="plt.axis('off') hides the class names",
            )
        wanted = true_names[int(flat[position])]
        label = str(ax.get("xlabel", ""))
        if label.strip().casefold() != wanted.casefold():
            raise CheckFailed(*_label_hint(where, label, wanted, class_names, true_names, labels))


def history_plot(figure: dict[str, Any], history: dict[str, list[float]]) -> None:
    """Accuracy and val_accuracy against epoch, every point in view, with labels and a legend."""
    for ax in _axes(figure):
        lines = ax.get("lines", [])
        found = {key: _line_for(lines, history[key]) for key in ("accuracy", "val_accuracy")}
        if all(found.values()):
            break
    else:
        raise CheckFailed(
            "No axes shows both history['accuracy'] and history['val_accuracy'] as lines: "
            "plot each with plt.plot(history['accuracy'], label='accuracy').",
            short="no accuracy and val_accuracy lines",
        )
    _require_visible(ax, found)
    if "epoch" not in str(ax.get("xlabel", "")).casefold():
        raise CheckFailed(
            "Label the x-axis with the epoch: plt.xlabel('Epoch').", short="no epoch x-label"
        )
    if not str(ax.get("ylabel", "")).strip():
        raise CheckFailed("Label the y-axis: plt.ylabel('Accuracy').", short="no y-label")
    legend = ax.get("legend") or []
    labelled = [text for text in legend if text.strip() and not text.startswith("_")]
    if len(labelled) < 2:
        raise CheckFailed(
            "Add a legend that names both lines: give each plt.plot(...) a label= and call "
            "plt.legend().",
            short="no legend naming both lines",
        )


def _require_visible(ax: dict[str, Any], lines: dict[str, dict[str, Any]]) -> None:
    """Every point of the history's lines lies inside the axes' visible range."""
    for axis in ("y", "x"):
        limits = _limits(ax.get(f"{axis}lim"))
        if limits is None:
            continue
        for key, line in lines.items():
            for index, value in enumerate(line.get(axis, [])):
                if not _shows(limits, value):
                    raise CheckFailed(
                        _hidden_point_hint(axis, limits, index + 1, key, value),
                        short="axis limits that hide some epochs",
                    )


def _limits(limits: Any) -> tuple[float, float] | None:
    """An axis' visible range, lowest first (an inverted axis lists it the other way round).

    None when the description holds no usable range, as those written before labkit
    recorded limits.
    """
    if not (
        isinstance(limits, list)
        and len(limits) == 2
        and all(isinstance(limit, int | float) and math.isfinite(limit) for limit in limits)
    ):
        return None
    low, high = sorted(limits)
    return low, high


def _shows(limits: tuple[float, float], value: float) -> bool:
    low, high = limits
    slack = 1e-9 * max(high - low, 1.0)  # a point drawn on the edge is still seen
    return low - slack <= value <= high + slack


def _hidden_point_hint(
    axis: str, limits: tuple[float, float], epoch: int, key: str, value: float
) -> str:
    shown = f"plt.{axis}lim([{limits[0]:.3g}, {limits[1]:.3g}])"
    if axis == "y":
        # Accuracy lies between 0 and 1, so that range shows every epoch.
        return (
            f"{shown} hides epoch {epoch}, whose {key} is {value:.3g}: remove the fixed "
            "limits, or use plt.ylim([0, 1])."
        )
    return (
        f"{shown} hides epoch {epoch} (x = {value:.3g}) of the {key} line: remove the fixed limits."
    )


def _axes(figure: dict[str, Any]) -> list[dict[str, Any]]:
    axes = figure.get("axes") if isinstance(figure, dict) else None
    if not isinstance(axes, list) or not all(isinstance(ax, dict) for ax in axes):
        raise CheckFailed(
            "The figure could not be read back: return a matplotlib Figure.",
            short="a figure that cannot be read back",
        )
    return axes


def _grid_order(axes: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Reading order: top row first, left to right (figure y grows upwards)."""

    def key(item: tuple[int, dict[str, Any]]) -> tuple[float, float]:
        x, y = item[1].get("position", [0, 0])[:2]
        return (-round(float(y), 3), round(float(x), 3))

    return sorted(axes, key=key)


def _same_image(shown: np.ndarray | None, image: np.ndarray) -> bool:
    if shown is None:
        return False
    shown = np.squeeze(np.asarray(shown, dtype=np.float64))
    image = np.squeeze(image.astype(np.float64))
    if shown.shape != image.shape:
        return False
    return bool(np.allclose(shown, image, atol=0.5) or np.allclose(shown, image / 255.0, atol=2e-3))


def _label_hint(
    where: str,
    label: str,
    wanted: str,
    class_names: Sequence[str],
    true_names: list[str],
    labels: np.ndarray,
) -> tuple[str, str]:
    """The message for a grid image labelled wrong, and the short name of the mistake."""
    message = f"{where} is labelled {label!r}, but it is a {wanted!r}."
    if [name.casefold() for name in class_names] != [name.casefold() for name in true_names]:
        return (
            f"{message} CLASS_NAMES should list the classes in label order: {true_names}.",
            "CLASS_NAMES not in label order",
        )
    index = "labels[i][0]" if np.ndim(labels) > 1 else "labels[i]"  # Keras' (N, 1) labels
    short = "no class names as x-labels" if not label.strip() else "wrong x-labels in the grid"
    return f"{message} Use plt.xlabel(class_names[{index}]) for image i.", short


def _line_for(lines: list[dict[str, Any]], values: list[float]) -> dict[str, Any] | None:
    for line in lines:
        y = line.get("y", [])
        if len(y) == len(values) and np.allclose(y, values):
            return line
    return None


# -- submission -----------------------------------------------------------------------------


def submission(harvest: Harvest) -> str:
    """The module imports and defines every function of the lab, none of them a TODO.

    Returns which file was graded, for a module found in one of the submission's folders.
    """
    from labkit.sandbox import harvest as steps
    from labkit.sandbox import tamper

    harvest.require("import")
    causes: list[Cause] = []
    for name in harvest.lab.api_names:
        outcome = harvest.step(name)
        unfinished = outcome.status == steps.TODO or (
            outcome.status == steps.SKIPPED and "does not define" in outcome.message
        )
        broken_names = name == "CLASS_NAMES" and name in harvest.steps
        if unfinished or (outcome.status == steps.ERROR and broken_names):
            causes.append(harvest.fault(name, dependencies=False))
    if harvest.problem:
        causes.append(harvest.stopped_early())
    if causes and harvest.tampering:
        causes.append(Cause(harvest.tampering, tamper.FORGED))
    causes = list(dict.fromkeys(cause for cause in causes if cause is not None))
    if causes:
        raise CheckFailed("\n".join(cause.message for cause in causes), causes=causes)
    return f"graded {harvest.shown}" if harvest.shown else ""
