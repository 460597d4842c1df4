import tensorflow as tf

IMAGE_SIZE = 28
NUM_CLASSES = 10


def preprocess(images):
    images = tf.cast(images, tf.float32) / 255.0
    images = tf.reshape(images, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])
    return images.numpy()


def conv_block(x, filters):
    x = tf.keras.layers.Conv2D(filters, (3, 3), activation="relu")(x)
    return tf.keras.layers.MaxPooling2D((2, 2))(x)


def build_model():
    inputs = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1))
    x = conv_block(inputs, 32)
    x = conv_block(x, 64)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    outputs = tf.keras.layers.Dense(NUM_CLASSES)(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


def compile_model(model):
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    return model
