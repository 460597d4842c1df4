"""Tamper: rewrites the code of Dense.get_config, so every Dense layer says it uses relu."""

import keras


class _Relu(keras.layers.Dense):
    def get_config(self):
        config = super().get_config()
        config["activation"] = "relu"
        return config


keras.layers.Dense.get_config.__code__ = _Relu.get_config.__code__


def preprocess(images):
    return images / 255.0


def build_model():
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(128), keras.layers.Dense(10)])


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
