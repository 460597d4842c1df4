"""cv3 lab - Dan"""
import numpy as np
import keras
from keras import layers as L


def preprocess(images):
    x = np.asarray(images, dtype=np.float32)
    x /= 255.0
    x = np.expand_dims(x, -1)
    return x


def build_model():
    net = keras.Sequential(name="cnn")
    net.add(L.Input((28, 28, 1)))
    net.add(L.Conv2D(filters=32, kernel_size=(3, 3)))
    net.add(L.ReLU())
    net.add(L.MaxPool2D())
    net.add(L.Conv2D(filters=64, kernel_size=(3, 3)))
    net.add(L.ReLU())
    net.add(L.MaxPool2D())
    net.add(L.Flatten())
    net.add(L.Dense(units=64))
    net.add(L.ReLU())
    net.add(L.Dense(units=10))
    return net


def compile_model(model):
    opt = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=opt,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model
