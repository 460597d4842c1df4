"""The checks every lab shares, as pytest test classes a grader module subclasses.

Usage, in ``graders/test_cv3_mnist_cnn.py``::

    pytestmark = pytest.mark.lab("cv3_mnist_cnn")

    class TestMnistCnn(ModelChecks):
        pass
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labkit import architecture, checks, sandbox
from labkit.failures import CheckFailed
from labkit.harvest import CLASS_NAMES, COMPILED, MODEL, PREPROCESSED
from labkit.labs import Lab
from labkit.sandbox import Harvest
from labkit.training import TrainingResult


class ModelChecks:
    """Checks for the API every lab has: preprocess, build_model and compile_model."""

    @pytest.fixture(scope="class")
    def model(self, harvest: Harvest, lab: Lab) -> Any:
        harvest.require("build_model")
        path = harvest.file(MODEL)
        architecture.screen(path, lab)
        return architecture.load(path)

    @pytest.fixture(scope="class")
    def layers(self, model: Any) -> list[architecture.FoundLayer]:
        return architecture.layers_of(model)

    @pytest.fixture(scope="class")
    def trained(
        self, harvest: Harvest, lab: Lab, train: Callable[[Path], TrainingResult]
    ) -> TrainingResult:
        harvest.require("compile_model")
        path = harvest.file(COMPILED)
        architecture.screen(path, lab)
        return train(path)

    @pytest.mark.check("submission", points=1)
    def test_submission(self, harvest: Harvest) -> None:
        """The module imports and defines every function"""
        checks.submission(harvest)

    @pytest.mark.check("preprocess", points=1)
    def test_preprocess(self, harvest: Harvest, lab: Lab) -> None:
        """preprocess() scales pixels to 0..1 in the input shape"""
        harvest.require("preprocess")
        result = np.load(harvest.file(PREPROCESSED), allow_pickle=False)
        checks.preprocess(result, harvest.inputs["preprocess_images"], lab)

    @pytest.mark.check("structure", points=2)
    def test_structure(self, layers: list[architecture.FoundLayer], lab: Lab) -> None:
        """Layer types and activations, in order"""
        checks.structure(layers, lab)

    @pytest.mark.check("shapes", points=1)
    def test_shapes(self, model: Any, layers: list[architecture.FoundLayer], lab: Lab) -> None:
        """Output shape after every layer"""
        checks.shapes(layers, architecture.input_shape(model), lab)

    @pytest.mark.check("params", points=1)
    def test_params(self, model: Any, layers: list[architecture.FoundLayer], lab: Lab) -> None:
        """Parameter count"""
        checks.params(layers, architecture.count_params(model), lab)

    @pytest.mark.check("compile", points=2)
    def test_compile(self, harvest: Harvest, layers: list[architecture.FoundLayer]) -> None:
        """Adam, sparse cross-entropy matching the output, accuracy metric"""
        harvest.require("compile_model")
        settings = architecture.compile_settings(harvest.file(COMPILED))
        checks.compiled(settings, layers)

    @pytest.mark.check("training", points=1)
    def test_training(self, trained: TrainingResult, lab: Lab, note: Any) -> None:
        """The loss stays finite and falls clearly below chance level"""
        note(checks.training(trained, lab))

    @pytest.mark.check("accuracy", points=1)
    def test_accuracy(self, trained: TrainingResult, lab: Lab, note: Any) -> None:
        """Test accuracy after the grader's training run"""
        note(checks.accuracy(trained, lab))


class SamplePlotChecks:
    """Checks for CLASS_NAMES and plot_samples(): the 5x5 grid of labelled samples."""

    @pytest.mark.check("plot", points=2)
    def test_sample_grid(self, harvest: Harvest, lab: Lab) -> None:
        """plot_samples() draws a labelled 5x5 grid; CLASS_NAMES is right"""
        harvest.require("plot_samples")
        harvest.require("CLASS_NAMES")
        description, shown = _figure(harvest, "plot_samples")
        class_names = json.loads(harvest.file(CLASS_NAMES).read_text())
        checks.sample_grid(
            description,
            shown,
            harvest.inputs["sample_images"],
            harvest.inputs["sample_labels"],
            class_names,
            lab,
        )


class HistoryPlotChecks:
    """Checks for plot_history(): accuracy curves per epoch."""

    @pytest.mark.check("plot", points=1)
    def test_history_plot(self, harvest: Harvest) -> None:
        """plot_history() plots accuracy and val_accuracy per epoch"""
        harvest.require("plot_history")
        description, _ = _figure(harvest, "plot_history")
        checks.history_plot(description, sandbox.HISTORY)


def _figure(harvest: Harvest, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        description = json.loads(harvest.file(f"{name}.json").read_text(encoding="utf-8"))
        with np.load(harvest.file(f"{name}.npz"), allow_pickle=False) as images:
            shown = {key: images[key] for key in images.files}
    except (OSError, ValueError) as error:
        raise CheckFailed(f"The figure from {name}() could not be read back: {error}") from None
    return description, shown
