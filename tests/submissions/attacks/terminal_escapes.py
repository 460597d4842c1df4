"""Attack: a layer whose class name is terminal escape codes and a fake score table.

The grader's messages quote a layer's class name: here the screen's, for a layer with a
setting far wider than the lab's. Printed raw, the escapes clear the TA's terminal and draw a
full score over the real one, and JUnit XML with them is malformed. The rest is the
reference, so the submission earns its other points.
"""

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor to the top left
FAKE = (
    CLEAR
    + "cv1_mnist_intro  A first dense network" + " " * 43 + "11/11"
    + "\x1b[999B\r\x1b[2K"  # to the last line, erased
    + "All 9 checks passed.\x07\x9b0m\x0c"
)


def preprocess(images: np.ndarray) -> np.ndarray:
    return images / 255.0


def build_model() -> keras.Model:
    Fake = type(
        FAKE,
        (layers.Layer,),
        {
            "call": lambda self, inputs: inputs,
            "get_config": lambda self: {**layers.Layer.get_config(self), "units": 4096},
        },
    )
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            Fake(name="fake"),
            layers.Dense(10),
        ]
    )


def compile_model(model: keras.Model) -> keras.Model:
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
