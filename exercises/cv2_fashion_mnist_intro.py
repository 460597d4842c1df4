"""Lab cv2: a neural network that tells clothes apart, on Fashion-MNIST.

Fill in CLASS_NAMES and the four functions, then run `nox -s grade` to check your work.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

# TODO: the 10 class names, in label order: label 0 is "T-shirt/top", label 9 is "Ankle boot".
CLASS_NAMES: list[str] = []


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1.

    `images` is a uint8 array of shape (N, 28, 28). Return floats of the same shape.
    """
    raise NotImplementedError("TODO: return the images divided by 255.0")


def plot_samples(images: np.ndarray, labels: np.ndarray, class_names: list[str]):
    """Show the first 25 images in a 5x5 grid and return the figure.

    Hide the ticks and write each image's class name under it as its x-label.
    `labels` has shape (N,): image i has class `class_names[labels[i]]`.
    """
    raise NotImplementedError(
        "TODO: for i in range(25): plt.subplot(5, 5, i + 1), hide ticks, plt.imshow(...), "
        "plt.xlabel(...); return the figure"
    )


def build_model() -> keras.Model:
    """Build (but don't compile) the network.

    Input (28, 28) -> Flatten -> Dense 128 with relu -> Dense 10 (one score per class).
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
