"""Grader for stripes: a tiny dense network on synthetic 8x8 stripes, with an extra function.

The lab exists to prove that a lab is only its four files: it is declared here, with its
own dataset file, an extra harvested function (augment) and a check of its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labkit.judge.grader import BUILD_MODEL, COMPILE_MODEL, PREPROCESS, ModelChecks
from labkit.sandbox.runner import Harvest
from labkit.spec.datasets import Dataset
from labkit.spec.failures import CheckFailed
from labkit.spec.lab import ARRAY, OUTPUT, Data, Function, Lab, Layer, Training

#: augment(images) -> the images mirrored left to right.
AUGMENT = Function("augment", (Data("x_train", 16),), ARRAY)

LAB = Lab(
    name="stripes",
    title="Stripes: three directions",
    # Written by tests/test_new_lab.py, which makes this course.
    dataset=Dataset("stripes", path=Path(__file__).resolve().parents[1] / "data" / "stripes.npz"),
    input_shape=(8, 8),
    layers=(
        # kind, output shape, parameters, activation
        Layer("Flatten", (64,), 0),
        Layer("Dense", (16,), 1_040, "relu"),
        Layer("Dense", (3,), 51, OUTPUT),
    ),
    # The reference reached 0.90-1.00 over seeds 0-4; chance is 0.33.
    training=Training(train_size=900, test_size=300, epochs=8, min_accuracy=0.75),
    api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL, AUGMENT),
    points={"accuracy": 2},
    handout_epochs=3,
)


class TestStripes(ModelChecks):
    """Flatten -> Dense 16 relu -> Dense 3, and augment()."""

    @pytest.mark.check("augment", points=1)
    def test_augment(self, harvest: Harvest) -> None:
        """augment() mirrors each image left to right"""
        mirrored = harvest.result("augment")
        (images,) = harvest.arguments("augment")
        if mirrored.shape != images.shape:
            raise CheckFailed(
                f"augment() returned shape {mirrored.shape}; expected {images.shape}, the "
                "shape it was given."
            )
        if not np.array_equal(mirrored, images[:, :, ::-1]):
            raise CheckFailed("augment() must mirror each image left to right: images[:, :, ::-1].")
