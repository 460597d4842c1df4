"""Hostile: tries to take far more memory than any machine has."""

import numpy as np


def preprocess(images):
    return images.reshape(-1, 28, 28, 1) / 255.0


def build_model():
    hoard = []
    while True:
        hoard.append(np.ones(50_000_000))  # 400 MB a step, touched so it is really used


def compile_model(model):
    return model
