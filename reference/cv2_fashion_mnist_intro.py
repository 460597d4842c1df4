"""Lab cv2 (solution): a first dense network for Fashion-MNIST clothing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1."""
    return images / 255.0


def plot_samples(images: np.ndarray, labels: np.ndarray, class_names: list[str]):
    """Show the first 25 images in a 5x5 grid, each labelled with its class."""
    figure = plt.figure(figsize=(10, 10))
    for i in range(25):
        plt.subplot(5, 5, i + 1)
        plt.xticks([])
        plt.yticks([])
        plt.grid(False)
        plt.imshow(images[i], cmap=plt.cm.binary)
        plt.xlabel(class_names[labels[i]])
    return figure


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
