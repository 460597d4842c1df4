"""Attack: hand the grader values far larger than any the lab needs, through the harvest itself.

The reference's cv2 lab, except that the sample grid carries an invisible line of 200,000
points, whose description comes to megabytes of JSON, and each class name is 100 KB long.
"""

import matplotlib.pyplot as plt
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

CLASS_NAMES = [name * (100_000 // len(name)) for name in ("T-shirt/top", "Trouser", "Pullover")]
CLASS_NAMES += [name * (100_000 // len(name)) for name in ("Dress", "Coat", "Sandal", "Shirt")]
CLASS_NAMES += [name * (100_000 // len(name)) for name in ("Sneaker", "Bag", "Ankle boot")]


def preprocess(images):
    return images / 255.0


def plot_samples(images, labels, class_names):
    figure = plt.figure(figsize=(10, 10))
    for i in range(25):
        plt.subplot(5, 5, i + 1)
        plt.xticks([])
        plt.yticks([])
        plt.grid(False)
        plt.imshow(images[i], cmap=plt.cm.binary)
        plt.xlabel(class_names[labels[i]][:20])
    noise = np.random.default_rng(0).random(200_000)
    plt.plot(noise, noise, alpha=0)
    return figure


def build_model():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ]
    )


def compile_model(model):
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
