import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from tensorflow.keras.models import Model


def preprocess(images):
    images = np.array(images, dtype="float32")
    images = images / 255.0
    return images.reshape((images.shape[0], 28, 28, 1))


def build_model():
    image = Input(shape=(28, 28, 1), name="image")
    features = Conv2D(32, (3, 3), activation="relu", name="conv1")(image)
    features = MaxPooling2D((2, 2), name="pool1")(features)
    features = Conv2D(64, (3, 3), activation="relu", name="conv2")(features)
    features = MaxPooling2D((2, 2), name="pool2")(features)
    hidden = Dense(64, activation="relu", name="hidden")(Flatten(name="flat")(features))
    scores = Dense(10, name="scores")(hidden)
    return Model(image, scores, name="finn_cnn")


def compile_model(model):
    model.compile(
        optimizer=tf.keras.optimizers.Adam(0.001),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
