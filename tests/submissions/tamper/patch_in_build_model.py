"""Tamper: imports cleanly, then replaces numpy.savez from inside build_model()."""

import keras
import numpy as np


def preprocess(images):
    return images / 255.0


def build_model():
    np.savez = lambda *args, **kwargs: None
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
