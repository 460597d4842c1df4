"""Lab cv3 (solution): a small convolutional network for MNIST digits."""

from __future__ import annotations

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixels to 0..1 and add the channel axis that Conv2D expects."""
    return (images / 255.0).reshape((-1, 28, 28, 1))


def build_model() -> keras.Model:
    """Two convolution blocks followed by a dense classifier head."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
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
