"""Lab stripes: tell horizontal, vertical and diagonal stripes apart.

Fill in the four functions, then run `labkit grade` to check your work.
"""

from __future__ import annotations

import keras
import numpy as np


def preprocess(images: np.ndarray) -> np.ndarray:
    """Scale pixel values from 0..255 to 0..1, keeping the shape (N, 8, 8)."""
    raise NotImplementedError("TODO: return the images divided by 255.0")


def build_model() -> keras.Model:
    """Input (8, 8) -> Flatten -> Dense 16 with relu -> Dense 3."""
    raise NotImplementedError("TODO: return keras.Sequential([...])")


def compile_model(model: keras.Model) -> keras.Model:
    """Adam, sparse categorical cross-entropy and the accuracy metric; return the model."""
    raise NotImplementedError("TODO: call model.compile(...) and return model")


def augment(images: np.ndarray) -> np.ndarray:
    """Mirror each image left to right."""
    raise NotImplementedError("TODO: return the images with their columns reversed")
