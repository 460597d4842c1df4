"""Lab cv1: your first neural network, on MNIST handwritten digits.

Fill in the three functions, then run `nox -s grade` to check your work.
"""

from __future__ import annotations

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1.

    `images` is a uint8 array of shape (N, 28, 28). Return floats of the same shape.
    """
    raise NotImplementedError("TODO: return the images divided by 255.0")


def build_model() -> keras.Model:
    """Build (but don't compile) the network.

    Input (28, 28) -> Flatten -> Dense 128 with relu -> Dense 10 (one score per digit).
    """
    raise NotImplementedError(
        "TODO: return keras.Sequential([...]) with keras.Input(shape=(28, 28)), "
        "Flatten, Dense(128, relu) and Dense(10)"
    )


def compile_model(model: keras.Model) -> keras.Model:
    """Compile `model` for training, then return it.

    Use the Adam optimizer, sparse categorical cross-entropy and the accuracy metric.
    """
    raise NotImplementedError(
        "TODO: call model.compile(optimizer=..., loss=..., metrics=['accuracy']) and return model"
    )
