# Lab 3 - convolutional network
import tensorflow as tf

SIDE = 28
CLASSES = 10


def preprocess(images):
    # scale to [0, 1] and add the channel
    pixels = tf.cast(images, tf.float32) / 255.0
    pixels = tf.reshape(pixels, [-1, SIDE, SIDE, 1])
    return pixels.numpy()


def down_sample(tensor, n_filters):
    tensor = tf.keras.layers.Conv2D(n_filters, (3, 3), activation="relu")(tensor)
    return tf.keras.layers.MaxPooling2D((2, 2))(tensor)


def build_model():
    # two conv blocks then dense layers
    img = tf.keras.Input(shape=(SIDE, SIDE, 1))
    h = down_sample(img, 32)
    h = down_sample(h, 64)
    h = tf.keras.layers.Flatten()(h)
    h = tf.keras.layers.Dense(64, activation="relu")(h)
    logits = tf.keras.layers.Dense(CLASSES)(h)
    return tf.keras.Model(inputs=img, outputs=logits)


def compile_model(model):
    criterion = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=criterion, metrics=["accuracy"])
    return model
