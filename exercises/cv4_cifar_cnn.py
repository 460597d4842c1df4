"""Lab cv4: the CIFAR-10 convolutional network from the course walk-through.

Fill in CLASS_NAMES and the five functions, then run `nox -s grade` to check your work.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

# TODO: the 10 class names, in label order: label 0 is "airplane", label 9 is "truck".
CLASS_NAMES: list[str] = []


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1.

    `images` is a uint8 array of shape (N, 32, 32, 3). Return floats of the same shape.
    """
    raise NotImplementedError("TODO: return the images divided by 255.0")


def plot_samples(images: np.ndarray, labels: np.ndarray, class_names: list[str]):
    """Show the first 25 images in a 5x5 grid and return the figure.

    Hide the ticks and write each image's class name under it as its x-label.
    `labels` has shape (N, 1): image i has class `class_names[labels[i][0]]`.
    """
    raise NotImplementedError(
        "TODO: for i in range(25): plt.subplot(5, 5, i + 1), hide ticks, plt.imshow(...), "
        "plt.xlabel(...); return the figure"
    )


def build_model() -> keras.Model:
    """Build (but don't compile) the network.

    Input (32, 32, 3) -> Conv2D 32 3x3 relu -> MaxPooling 2x2 -> Conv2D 64 3x3 relu
    -> MaxPooling 2x2 -> Conv2D 64 3x3 relu -> Flatten -> Dense 64 relu -> Dense 10.
    """
    raise NotImplementedError(
        "TODO: return keras.Sequential([...]) with the layers listed in the docstring"
    )


def compile_model(model: keras.Model) -> keras.Model:
    """Compile `model` for training, then return it.

    Use the Adam optimizer, sparse categorical cross-entropy and the accuracy metric.
    Make the loss match your last layer: logits need from_logits=True.
    """
    raise NotImplementedError(
        "TODO: call model.compile(optimizer=..., loss=..., metrics=['accuracy']) and return model"
    )


def plot_history(history: dict[str, list[float]]):
    """Plot accuracy and val_accuracy against the epoch and return the figure.

    Number the epochs from 1 and mark every point (marker="o"), so a single epoch shows.
    Label both axes and add a legend; let matplotlib choose the y-range.
    `history` is `model.fit(...).history`.
    """
    raise NotImplementedError(
        "TODO: epochs = range(1, len(history['accuracy']) + 1); "
        "plt.plot(epochs, history['accuracy'], marker='o', label='accuracy'), the same for "
        "val_accuracy, then plt.xlabel, plt.ylabel and plt.legend(); return the figure"
    )
