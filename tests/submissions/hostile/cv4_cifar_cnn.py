"""Hostile: patches Keras and labkit so that, in-process, a wrong model would look right."""

import keras
import numpy as np

import labkit.judge.architecture
import labkit.judge.checks

for name in ("structure", "shapes", "params", "compiled", "training", "accuracy", "preprocess"):
    setattr(labkit.judge.checks, name, lambda *args, **kwargs: None)
labkit.judge.architecture.count_params = lambda model: 122_570
keras.Model.count_params = lambda self: 122_570
np.allclose = lambda *args, **kwargs: True

CLASS_NAMES = ["plane"] * 10


def preprocess(images):
    return images


def build_model():
    return keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(10)])


def compile_model(model):
    model.compile(optimizer="sgd", loss="mse")
    return model


def plot_samples(images, labels, class_names):
    raise SystemExit(0)


def plot_history(history):
    import os

    os._exit(0)
