"""Lab cv1 (solution): a first dense network for MNIST digits."""

from __future__ import annotations

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1."""
    return images / 255.0


def build_model() -> keras.Model:
    """Flatten each 28x28 image, then one hidden layer and a 10-way output."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ]
    )


def compile_model(model: keras.Model) -> keras.Model:
    """Adam and sparse categorical cross-entropy on logits, tracking accuracy."""
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
