"""Correct, written differently: functional API with ReLU layers; epochs counted from 1."""

import matplotlib.pyplot as plt
from tensorflow import keras
from tensorflow.keras import layers

CLASS_NAMES = ["Airplane", "Automobile", "Bird", "Cat", "Deer",
               "Dog", "Frog", "Horse", "Ship", "Truck"]


def preprocess(images):
    return images.astype("float32") / 255.0


def plot_samples(images, labels, class_names):
    figure = plt.figure(figsize=(10, 10))
    for i in range(25):
        ax = figure.add_subplot(5, 5, i + 1)
        ax.imshow(images[i])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(class_names[labels[i][0]])
    return figure


def build_model():
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.ReLU()(layers.Conv2D(32, (3, 3))(inputs))
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.ReLU()(layers.Conv2D(64, (3, 3))(x))
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Conv2D(64, (3, 3), activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10)(x))


def compile_model(model):
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def plot_history(history):
    epochs = range(1, len(history["accuracy"]) + 1)
    figure, ax = plt.subplots()
    ax.plot(epochs, history["accuracy"], "o-", label="training")
    ax.plot(epochs, history["val_accuracy"], "s--", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    return figure
