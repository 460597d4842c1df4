"""Attack: every function is a TODO; on import, write the outputs and the events of a perfect
harvest on the events pipe, then exit before the harvest can call anything.

Its outputs are the reference's. What its functions return earns nothing.
"""

import json
import os
from pathlib import Path

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

here = Path(__file__).resolve().parent
out = here.parent / "out"
with np.load(here / "inputs.npz") as inputs:
    np.save(out / "preprocess.npy", inputs["x_train_64"] / 255.0)
model = keras.Sequential(
    [keras.Input(shape=(28, 28)), layers.Flatten(), layers.Dense(128, activation="relu")]
    + [layers.Dense(10)]
)
model.save(out / "build_model.keras")
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.save(out / "compile_model.keras")
events = [("import", "ok")]
for step in ("preprocess", "build_model", "compile_model"):
    events += [(step, "started"), (step, "ok")]
events.append(("harvest", "ok"))
for number, (step, status) in enumerate(events, start=1):
    event = {"seq": number, "step": step, "status": status, "message": "", "files": {}}
    os.write(3, (json.dumps(event) + "\n").encode())
os._exit(0)


def preprocess(images):
    raise NotImplementedError("TODO")


def build_model():
    raise NotImplementedError("TODO")


def compile_model(model):
    raise NotImplementedError("TODO")
