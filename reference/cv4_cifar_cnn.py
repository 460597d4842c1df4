"""Lab cv4 (solution): the CIFAR-10 CNN from the course walk-through."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

CLASS_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
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
        plt.imshow(images[i])
        # CIFAR-10 labels are arrays of shape (N, 1), hence the extra [0].
        plt.xlabel(class_names[labels[i][0]])
    return figure


def build_model() -> keras.Model:
    """Three convolution blocks followed by a dense classifier head."""
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
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


def plot_history(history: dict[str, list[float]]):
    """Plot training and validation accuracy per epoch, each epoch a visible point."""
    epochs = range(1, len(history["accuracy"]) + 1)
    figure = plt.figure()
    plt.plot(epochs, history["accuracy"], marker="o", label="accuracy")
    plt.plot(epochs, history["val_accuracy"], marker="o", label="val_accuracy")
    plt.xticks(epochs)
    plt.xlabel("Epoch")
    plt.ylabel("Accuracy")
    plt.legend()
    return figure
