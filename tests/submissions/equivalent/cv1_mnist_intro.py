"""Correct, written differently: functional API, tf.keras, activation layers, softmax output."""

import tensorflow as tf


def preprocess(images):
    return images.astype("float32") / 255


def build_model():
    inputs = tf.keras.Input(shape=(28, 28))
    x = tf.keras.layers.Flatten(name="flat")(inputs)
    x = tf.keras.layers.Dense(128)(x)
    x = tf.keras.layers.Activation("relu")(x)
    x = tf.keras.layers.Dense(10)(x)
    outputs = tf.keras.layers.Softmax()(x)
    return tf.keras.Model(inputs, outputs)


def compile_model(model):
    model.compile(
        optimizer=tf.keras.optimizers.Adam(),
        loss=tf.keras.losses.sparse_categorical_crossentropy,
        metrics=["acc"],
    )
    return model
