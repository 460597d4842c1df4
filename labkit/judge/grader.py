"""The building blocks of a grader: the standard lab functions and the checks on them.

A grader module declares its lab with the functions it harvests, and opts into checks by
subclassing the check classes. A lab's own checks are ordinary test methods beside them,
reading the harvest through the same fixtures.

Usage, in ``graders/test_my_lab.py``::

    LAB = Lab(..., api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL))

    class TestMyLab(ModelChecks):
        pass
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labkit.judge import architecture, checks
from labkit.sandbox.runner import Harvest
from labkit.sandbox.training import TrainingResult
from labkit.spec.lab import ARRAY, FIGURE, MODEL, NAMES, Data, Function, Lab, Result, Value

PREPROCESS_SAMPLE = 64
PLOT_SAMPLE = 30  # more than 25, so the grid must pick the first 25 itself
# A fixed training history for plot_history(): distinct values make each line identifiable.
HISTORY = {
    "accuracy": [0.45, 0.58, 0.63, 0.67, 0.69, 0.71],
    "val_accuracy": [0.52, 0.57, 0.61, 0.62, 0.64, 0.65],
    "loss": [1.52, 1.17, 1.04, 0.94, 0.87, 0.82],
    "val_loss": [1.33, 1.21, 1.10, 1.07, 1.04, 1.02],
}

#: preprocess(images) -> the images scaled for the model.
PREPROCESS = Function("preprocess", (Data("x_train", PREPROCESS_SAMPLE),), ARRAY)
#: build_model() -> an uncompiled keras.Model.
BUILD_MODEL = Function("build_model", (), MODEL)
#: compile_model(model) -> the model, compiled.
COMPILE_MODEL = Function("compile_model", (Result("build_model"),), MODEL)
#: CLASS_NAMES: the name of each class, in label order.
CLASS_NAMES = Function("CLASS_NAMES", (), NAMES, constant=True)
#: plot_samples(images, labels, class_names) -> a figure with a 5x5 grid of labelled images.
PLOT_SAMPLES = Function(
    "plot_samples",
    (Data("x_train", PLOT_SAMPLE), Data("y_train", PLOT_SAMPLE), Result("CLASS_NAMES")),
    FIGURE,
)
#: plot_history(history) -> a figure of accuracy and val_accuracy per epoch.
PLOT_HISTORY = Function("plot_history", (Value(HISTORY),), FIGURE)


class ModelChecks:
    """Checks for the API every lab has: preprocess, build_model and compile_model."""

    @pytest.fixture(scope="class")
    def built(
        self, harvest: Harvest, read_architecture: Callable[[Path], architecture.Architecture]
    ) -> architecture.Architecture:
        """What the structure, shape and parameter checks read of build_model()'s model."""
        return read_architecture(harvest.model_file("build_model"))

    @pytest.fixture(scope="class")
    def layers(self, built: architecture.Architecture) -> list[architecture.FoundLayer]:
        return list(built.layers)

    @pytest.fixture(scope="class")
    def trained(self, harvest: Harvest, train: Callable[[Path], TrainingResult]) -> TrainingResult:
        return train(harvest.model_file("compile_model"))

    @pytest.mark.check("submission", points=1)
    def test_submission(self, harvest: Harvest, note: Any) -> None:
        """The module imports and defines every function"""
        said = checks.submission(harvest)
        note("; ".join(text for text in (said, harvest.tampering) if text))  # graded past, named

    @pytest.mark.check("preprocess", points=1)
    def test_preprocess(self, harvest: Harvest, lab: Lab) -> None:
        """preprocess() scales pixels to 0..1 in the input shape"""
        result = harvest.result("preprocess")
        checks.preprocess(result, harvest.arguments("preprocess")[0], lab)

    @pytest.mark.check("structure", points=2)
    def test_structure(self, layers: list[architecture.FoundLayer], lab: Lab) -> None:
        """Layer types and activations, in order"""
        checks.structure(layers, lab)

    @pytest.mark.check("shapes", points=1)
    def test_shapes(
        self, built: architecture.Architecture, layers: list[architecture.FoundLayer], lab: Lab
    ) -> None:
        """Output shape after every layer"""
        checks.shapes(layers, built.input_shape, lab)

    @pytest.mark.check("params", points=1)
    def test_params(
        self, built: architecture.Architecture, layers: list[architecture.FoundLayer], lab: Lab
    ) -> None:
        """Parameter count"""
        checks.params(layers, built.params, lab, built.input_shape)

    @pytest.mark.check("compile", points=2)
    def test_compile(self, harvest: Harvest, layers: list[architecture.FoundLayer]) -> None:
        """Adam, sparse cross-entropy matching the output, accuracy metric"""
        harvest.require("compile_model")
        settings = architecture.compile_settings(harvest.file("compile_model.keras"))
        checks.compiled(settings, layers)

    @pytest.mark.check("training", points=1)
    def test_training(self, trained: TrainingResult, lab: Lab, note: Any) -> None:
        """The loss stays finite and falls clearly below chance level"""
        note(checks.training(trained, lab))

    @pytest.mark.check("accuracy", points=1)
    def test_accuracy(self, trained: TrainingResult, lab: Lab, note: Any) -> None:
        """Test accuracy after the grader's training run"""
        note(checks.accuracy(trained, lab))

    @pytest.mark.check("accuracy", points=1, hidden=True)
    def test_holdout_accuracy(self, trained: TrainingResult, lab: Lab, note: Any) -> None:
        """Accuracy on test images kept back until the deadline"""
        note(checks.holdout(trained, lab))


class SamplePlotChecks:
    """Checks for CLASS_NAMES and plot_samples(): the 5x5 grid of labelled samples."""

    @pytest.mark.check("plot", points=2)
    def test_sample_grid(self, harvest: Harvest, lab: Lab) -> None:
        """plot_samples() draws a labelled 5x5 grid; CLASS_NAMES is right"""
        harvest.require("plot_samples")
        harvest.require("CLASS_NAMES")
        description, shown = harvest.result("plot_samples")
        images, labels, _ = harvest.arguments("plot_samples")
        checks.sample_grid(description, shown, images, labels, harvest.result("CLASS_NAMES"), lab)


class HistoryPlotChecks:
    """Checks for plot_history(): accuracy curves per epoch."""

    @pytest.mark.check("plot", points=1)
    def test_history_plot(self, harvest: Harvest) -> None:
        """plot_history() plots accuracy and val_accuracy per epoch"""
        description, _ = harvest.result("plot_history")
        checks.history_plot(description, harvest.arguments("plot_history")[0])
