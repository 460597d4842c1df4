"""Lab cv3: a convolutional network for MNIST handwritten digits.

Fill in the three functions, then run `nox -s grade` to check your work.
"""

from __future__ import annotations

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixels to 0..1 and add the channel axis that Conv2D expects.

    `images` is a uint8 array of shape (N, 28, 28). Return floats of shape (N, 28, 28, 1).
    """
    raise NotImplementedError("TODO: divide by 255.0, then reshape to (-1, 28, 28, 1)")


def build_model() -> keras.Model:
    """Build (but don't compile) the network.

    Input (28, 28, 1) -> Conv2D 32 3x3 relu -> MaxPooling 2x2 -> Conv2D 64 3x3 relu
    -> MaxPooling 2x2 -> Flatten -> Dense 64 relu -> Dense 10.
    """
    raise NotImplementedError(
        "TODO: return keras.Sequential([...]) with the layers listed in the docstring"
    )


def compile_model(model: keras.Model) -> keras.Model:
    """Compile `model` for training, then return it.

    Use the Adam optimizer, sparse categorical cross-entropy and the accuracy metric.
    """
    raise NotImplementedError(
        "TODO: call model.compile(optimizer=..., loss=..., metrics=['accuracy']) and return model"
    )
