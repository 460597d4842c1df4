"""The checks on models built in-process, and on figure descriptions.

Table-driven, like Keras' layer tests: each row is a model or a figure and what the checks
must say.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import COURSE
from keras import layers

from labkit.judge import architecture, checks
from labkit.judge.grader import HISTORY
from labkit.sandbox import figures, screen, training
from labkit.sandbox.training import TrainingResult
from labkit.spec.failures import CheckFailed

CV3 = COURSE.lab("cv3_mnist_cnn")


def cv3_layers(**changes):
    """The cv3 reference layers, with named ones replaced (None removes a layer)."""
    spec = {
        "conv1": layers.Conv2D(32, (3, 3), activation="relu"),
        "pool1": layers.MaxPooling2D((2, 2)),
        "conv2": layers.Conv2D(64, (3, 3), activation="relu"),
        "pool2": layers.MaxPooling2D((2, 2)),
        "flatten": layers.Flatten(),
        "dense": layers.Dense(64, activation="relu"),
        "output": layers.Dense(10),
    }
    spec.update(changes)
    return [layer for layer in spec.values() if layer is not None]


def sequential(*model_layers, input_shape=(28, 28, 1)):
    return keras.Sequential([keras.Input(shape=input_shape), *model_layers])


def verdict(check, model) -> str:
    """'' when the check passes, else its message."""
    found = architecture.layers_of(model)
    try:
        if check == "structure":
            checks.structure(found, CV3)
        elif check == "shapes":
            checks.shapes(found, architecture.input_shape(model), CV3)
        else:
            checks.params(found, architecture.count_params(model), CV3)
    except CheckFailed as failure:
        return str(failure)
    return ""


def functional_cv3():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.ReLU()(layers.Conv2D(32, 3)(inputs))
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(layers.MaxPooling2D()(x))
    x = layers.Activation("relu")(layers.Dense(64)(x))
    return keras.Model(inputs, layers.Activation("relu")(layers.Dense(10)(x)))


@pytest.mark.parametrize(
    ("name", "model", "expected"),
    [
        ("reference", sequential(*cv3_layers()), {}),
        (
            "activation layers",
            sequential(
                *cv3_layers(
                    conv1=layers.Conv2D(32, 3),
                    pool1=layers.ReLU(),
                    conv2=layers.MaxPooling2D(),
                    pool2=layers.Conv2D(64, 3),
                    flatten=layers.Activation("relu"),
                    dense=layers.MaxPool2D(),
                    output=layers.Flatten(),
                ),
                layers.Dense(64),
                layers.Activation("relu"),
                layers.Dense(10),
                layers.Softmax(),
            ),
            {},
        ),
        (
            "padding same",
            sequential(*cv3_layers(conv2=layers.Conv2D(64, 3, padding="same", activation="relu"))),
            {
                "shapes": "Expected (None, 11, 11, 64) after the second Conv2D, got (None, 13, 13, "
                "64). Did you use padding='same'?",
                "params": "Expected 121,930",
            },
        ),
        (
            "missing pooling",
            sequential(*cv3_layers(pool2=None)),
            {
                "structure": "A MaxPooling2D layer is missing after the second Conv2D",
                "shapes": "Expected (None, 5, 5, 64) after the second MaxPooling2D",
                "params": "The first Dense has 495,680, expected 102,464",
            },
        ),
        (
            "extra dropout",
            sequential(*cv3_layers(dense=layers.Dense(64, activation="relu")), layers.Dropout(0.1)),
            {
                "structure": "Layer 8 is a Dropout that this lab does not use: remove it",
                "shapes": "The model has 8 layers, expected 7",
            },
        ),
        (
            "too few filters",
            sequential(*cv3_layers(conv1=layers.Conv2D(16, 3, activation="relu"))),
            {"shapes": "Use 32 filters", "params": "The first Conv2D has 160, expected 320"},
        ),
        (
            "sigmoid hidden layer",
            sequential(*cv3_layers(dense=layers.Dense(64, activation="sigmoid"))),
            {"structure": "The first Dense should use activation='relu', but it uses 'sigmoid'"},
        ),
        (
            "relu output",
            sequential(*cv3_layers(output=layers.Dense(10, activation="relu"))),
            {"structure": "The output layer should give logits (no activation) or probabilities"},
        ),
        (
            "no channel axis",
            sequential(layers.Reshape((28, 28, 1)), *cv3_layers(), input_shape=(28, 28)),
            {
                "structure": "Layer 1 is a Reshape that this lab does not use",
                "shapes": "keras.Input(shape=(28, 28, 1))",
            },
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_architecture_checks(name, model, expected):
    for check in ("structure", "shapes", "params"):
        message = verdict(check, model)
        if check in expected:
            assert expected[check] in message, f"{name}/{check}: {message!r}"
        else:
            assert message == "", f"{name}/{check} should pass: {message}"


def failure(check, *args) -> CheckFailed:
    with pytest.raises(CheckFailed) as raised:
        check(*args)
    return raised.value


@pytest.mark.parametrize(
    ("model", "cause"),
    [
        (
            sequential(*cv3_layers(pool2=None)),
            "a MaxPooling2D layer missing after the second Conv2D",
        ),
        (
            sequential(*cv3_layers(dense=layers.Dense(64, activation="relu")), layers.Dropout(0.1)),
            "an extra Dropout layer after the output Dense layer",
        ),
        (
            sequential(*cv3_layers(conv2=layers.Conv2D(64, 3, padding="same", activation="relu"))),
            "padding='same' on the second Conv2D",
        ),
        (
            sequential(*cv3_layers(conv1=layers.Conv2D(16, 3, activation="relu"))),
            "the wrong number of filters on the first Conv2D",
        ),
    ],
    ids=["missing pooling", "extra dropout", "padding same", "too few filters"],
)
def test_one_mistake_in_the_layers_is_the_one_cause_of_each_check_it_fails(model, cause):
    """A missing layer fails structure, shapes and params: all three name the one fault."""
    found = architecture.layers_of(model)
    failures = []
    for check, args in (
        (checks.structure, (found, CV3)),
        (checks.shapes, (found, architecture.input_shape(model), CV3)),
        (checks.params, (found, architecture.count_params(model), CV3)),
    ):
        with contextlib.suppress(CheckFailed):
            check(*args)
            continue
        failures.append(failure(check, *args))
    assert len(failures) >= 2
    assert {failed.causes for failed in failures} == {failures[0].causes}
    assert [c.short for c in failures[0].causes] == [cause]
    assert failures[0].causes[0].message == str(failures[0])  # the first one tells it whole


def test_a_wrong_input_shape_is_its_own_cause_beside_a_layer_mistake():
    """The input's hint is not hidden behind the structure's: both need fixing."""
    model = sequential(layers.Reshape((28, 28, 1)), *cv3_layers(), input_shape=(28, 28))
    found = architecture.layers_of(model)
    structure = failure(checks.structure, found, CV3)
    shapes = failure(checks.shapes, found, architecture.input_shape(model), CV3)
    assert [cause.short for cause in structure.causes] == ["an extra Reshape layer at the start"]
    assert [cause.short for cause in shapes.causes] == ["the wrong input shape"]


def test_an_accuracy_lost_to_a_loss_that_never_fell_names_the_training_as_its_cause():
    diverged = TrainingResult(2.3, [1.9, float("nan")], 0.1, holdout_accuracy=0.1, holdout_size=9)
    training_failure = failure(checks.training, diverged, CV3)
    assert failure(checks.accuracy, diverged, CV3).causes == training_failure.causes
    assert failure(checks.holdout, diverged, CV3).causes == training_failure.causes
    assert training_failure.causes[0].short == "a loss that does not stay finite in training"


def test_the_short_name_of_a_mistake_is_the_same_for_every_student():
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    cv1 = COURSE.lab("cv1_mnist_intro")
    shorts = {
        failure(checks.preprocess, scaled, images, cv1).causes[0].short
        for scaled in (images.astype("float32"), images * 2.0, images + 1.0)
    }
    assert shorts == {"pixels not scaled to 0..1"}


def test_functional_model_with_activation_layers_folds_them():
    found = architecture.layers_of(functional_cv3())
    assert [layer.kind for layer in found] == [layer.kind for layer in CV3.layers]
    assert found[0].activation == "relu"
    # A relu after the output Dense is folded in too, and is wrong there.
    with pytest.raises(CheckFailed, match="output layer"):
        checks.structure(found, CV3)


@pytest.mark.parametrize(
    "model",
    [
        lambda: sequential(*cv3_layers()),
        functional_cv3,
        lambda: sequential(*cv3_layers(pool2=None), layers.Dropout(0.1)),
        lambda: sequential(layers.Reshape((28, 28, 1)), *cv3_layers(), input_shape=(28, 28)),
        lambda: keras.Sequential(cv3_layers()),  # never built
    ],
    ids=["reference", "functional", "mistakes", "reshape", "unbuilt"],
)
def test_the_checks_read_the_same_of_a_model_built_without_its_weights(model, tmp_path):
    """The architecture checks build build_model()'s model without loading its weights,
    which are only an untrained model's initial values."""
    path = tmp_path / "build_model.keras"
    model().save(path)

    def read(found):
        return (
            [vars(layer) for layer in architecture.layers_of(found)],
            architecture.input_shape(found),
            architecture.count_params(found),
        )

    assert read(screen.load(path, weights=False)) == read(screen.load(path))


def test_a_model_built_without_its_weights_still_refuses_code(tmp_path):
    path = tmp_path / "build_model.keras"
    sequential(layers.Lambda(lambda images: images * 2), *cv3_layers()).save(path)
    for weights in (True, False):
        with pytest.raises(CheckFailed, match="could not load your model safely"):
            screen.load(path, weights=weights)


def test_unbuilt_model_has_no_parameter_count():
    model = keras.Sequential(cv3_layers())
    assert architecture.count_params(model) is None
    with pytest.raises(CheckFailed, match=r"keras.Input\(shape=\(28, 28, 1\)\)"):
        checks.params(architecture.layers_of(model), None, CV3)


def compiled_settings(tmp_path: Path, output_activation=None, **compile_args):
    model = sequential(*cv3_layers(output=layers.Dense(10, activation=output_activation)))
    if compile_args:
        model.compile(**compile_args)
    path = tmp_path / "model.keras"
    model.save(path)
    return architecture.compile_settings(path), architecture.layers_of(model)


SPARSE_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize(
    ("output", "compile_args", "message"),
    [
        (None, {"optimizer": "adam", "loss": SPARSE_LOGITS, "metrics": ["accuracy"]}, ""),
        (
            None,
            {"optimizer": keras.optimizers.Adam(1e-3), "loss": SPARSE_LOGITS, "metrics": ["acc"]},
            "",
        ),
        (
            "softmax",
            {
                "optimizer": "adam",
                "loss": "sparse_categorical_crossentropy",
                "metrics": [keras.metrics.SparseCategoricalAccuracy()],
            },
            "",
        ),
        (
            "softmax",
            {
                "optimizer": "adam",
                "loss": keras.losses.sparse_categorical_crossentropy,
                "metrics": ["sparse_categorical_accuracy"],
            },
            "",
        ),
        (None, {}, "not compiled"),
        (
            None,
            {"optimizer": "sgd", "loss": SPARSE_LOGITS, "metrics": ["accuracy"]},
            "Expected the Adam optimizer, found sgd",
        ),
        (
            None,
            {"optimizer": "adam", "loss": "categorical_crossentropy", "metrics": ["accuracy"]},
            "class numbers (0-9), not one-hot",
        ),
        (
            "softmax",
            {"optimizer": "adam", "loss": SPARSE_LOGITS, "metrics": ["accuracy"]},
            "apply softmax a second time",
        ),
        (
            None,
            {
                "optimizer": "adam",
                "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"],
            },
            "outputs logits, but the loss expects probabilities",
        ),
        (
            None,
            {"optimizer": "adam", "loss": SPARSE_LOGITS, "metrics": [keras.metrics.Accuracy()]},
            "keras.metrics.Accuracy() compares",
        ),
        (None, {"optimizer": "adam", "loss": SPARSE_LOGITS}, "add metrics=['accuracy']"),
    ],
)
def test_compile_check(tmp_path, output, compile_args, message):
    settings, found = compiled_settings(tmp_path, output, **compile_args)
    if not message:
        checks.compiled(settings, found)
        return
    with pytest.raises(CheckFailed) as failure:
        checks.compiled(settings, found)
    assert message in str(failure.value)


def test_preprocess_check_names_the_fix():
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    checks.preprocess(images / 255.0, images, COURSE.lab("cv1_mnist_intro"))
    with pytest.raises(CheckFailed, match=r"Divide the pixels by 255\.0"):
        checks.preprocess(images.astype("float32"), images, COURSE.lab("cv1_mnist_intro"))
    with pytest.raises(CheckFailed, match="Add the channel axis"):
        checks.preprocess(images / 255.0, images, CV3)
    with pytest.raises(CheckFailed, match="expected floats"):
        checks.preprocess(images, images, COURSE.lab("cv1_mnist_intro"))


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (TrainingResult(2.36, [0.68, 0.29, 0.21], 0.88), "loss fell from 2.360 to 0.210"),
        (TrainingResult(8.906, [2.4, 2.303], 0.1), "no better than guessing"),
        (TrainingResult(2.31, [2.25, 2.1], 0.2), "no better than guessing"),
        (TrainingResult(2.3, [1.9, float("nan")], 0.1), "it must stay finite"),
        (TrainingResult(error="ValueError: shapes differ"), "could not train your model"),
    ],
)
def test_training_check_wants_a_loss_clearly_below_chance(result, message):
    try:
        verdict = checks.training(result, CV3)
    except CheckFailed as failure:
        verdict = str(failure)
    assert message in verdict


def test_logits_scored_as_probabilities_train_no_better_than_guessing(tmp_path):
    """A real run: Dense(10) logits with from_logits=False sits at ln(10) and fails training."""
    cv1 = COURSE.lab("cv1_mnist_intro")
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.save(tmp_path / "compiled.keras")
    result = training.train(tmp_path / "compiled.keras", cv1, verbose=0)
    with pytest.raises(CheckFailed, match="no better than guessing"):
        checks.training(result, cv1)


def history_figure(**limits: list[float]) -> dict:
    """The description of a correct history plot of HISTORY, with the axis limits given.

    Without limits it is a description written before labkit recorded them.
    """
    epochs = [float(epoch) for epoch in range(1, len(HISTORY["accuracy"]) + 1)]
    lines = [{"label": key, "x": epochs, "y": HISTORY[key]} for key in ("accuracy", "val_accuracy")]
    axes = {"xlabel": "Epoch", "ylabel": "Accuracy", "legend": ["accuracy", "val_accuracy"]}
    return {"axes": [{**axes, "lines": lines, **limits}]}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        pytest.param({}, "", id="no limits recorded"),
        pytest.param({"xlim": [0.75, 6.25], "ylim": [0.0, 1.0]}, "", id="ylim 0 to 1"),
        pytest.param({"xlim": [0.75, 6.25], "ylim": [1.0, 0.4]}, "", id="inverted y-axis"),
        pytest.param(
            {"xlim": [0.75, 6.25], "ylim": [0.5, 1.0]},
            "plt.ylim([0.5, 1]) hides epoch 1, whose accuracy is 0.45: remove the fixed "
            "limits, or use plt.ylim([0, 1]).",
            id="ylim 0.5 to 1",
        ),
        pytest.param(
            {"xlim": [1.5, 6.25], "ylim": [0.0, 1.0]},
            "plt.xlim([1.5, 6.25]) hides epoch 1 (x = 1) of the accuracy line: remove the "
            "fixed limits.",
            id="xlim from 1.5",
        ),
    ],
)
def test_history_plot_wants_every_epoch_in_view(limits, message):
    verdict = ""
    try:
        checks.history_plot(history_figure(**limits), HISTORY)
    except CheckFailed as failure:
        verdict = str(failure)
    assert verdict == message


def test_describe_records_the_limits_each_axes_shows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (fixed, fitted) = plt.subplots(1, 2)
    fixed.plot(range(1, 7), HISTORY["accuracy"], marker="o")
    fixed.set_ylim([0.5, 1])
    fitted.plot(range(1, 7), HISTORY["accuracy"], marker="o")
    description, _ = figures.describe(figure)
    plt.close(figure)
    first, second = description["axes"]
    assert first["ylim"] == [0.5, 1.0]
    assert second["xlim"][0] < 1 and second["xlim"][1] > 6
    assert second["ylim"][0] < 0.45 and second["ylim"][1] > 0.71
    assert all(isinstance(limit, float) for limit in [*first["xlim"], *first["ylim"]])
