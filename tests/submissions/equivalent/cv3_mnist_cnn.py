"""Correct, written differently: standalone keras, MaxPool2D alias, float64, named layers."""

import keras
import numpy as np


def preprocess(images):
    return np.expand_dims(images / 255.0, axis=-1)


def build_model():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation=keras.activations.relu, name="conv_a"),
        keras.layers.MaxPool2D(2),
        keras.layers.Conv2D(64, kernel_size=(3, 3), padding="valid", activation="relu"),
        keras.layers.MaxPool2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, name="logits"),
    ], name="digits")


def compile_model(model):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    return model
