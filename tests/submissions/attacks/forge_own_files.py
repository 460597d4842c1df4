"""Attack: compile_model() rewrites the files the harvest saved for the earlier functions.

preprocess() does not scale and build_model() has a 64-unit sigmoid layer, both wrong; when
compile_model() is called, it saves a correct preprocess.npy and build_model.keras over
what the harvest saved from them. What the functions themselves return earns 6 of 11.
"""

from pathlib import Path

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

HERE = Path(__file__).resolve().parent  # the lab's inputs; its outputs are beside them


def preprocess(images):
    return images.astype("float32")


def build_model():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(64, activation="sigmoid"),
            layers.Dense(10),
        ]
    )


def compile_model(model):
    out = HERE.parent / "out"
    with np.load(HERE / "inputs.npz") as inputs:
        np.save(out / "preprocess.npy", inputs["x_train_64"] / 255.0)
    correct = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10),
        ]
    )
    correct.save(out / "build_model.keras")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
