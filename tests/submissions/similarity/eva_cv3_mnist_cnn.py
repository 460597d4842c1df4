from tensorflow import keras


def preprocess(images):
    """Normalise and add a channel axis."""
    out = images / 255.0
    out = out.reshape(out.shape + (1,))
    return out


def _conv(filters):
    return keras.layers.Conv2D(filters, (3, 3), padding="valid", activation="relu")


def _pool():
    return keras.layers.MaxPooling2D((2, 2), strides=2)


def build_model():
    """conv-pool twice, then the classifier"""
    body = [_conv(32), _pool(), _conv(64), _pool()]
    head = [keras.layers.Flatten(), keras.layers.Dense(64, "relu"), keras.layers.Dense(10)]
    return keras.Sequential([keras.Input((28, 28, 1)), *body, *head])


def compile_model(model):
    settings = dict(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.compile(**settings)
    return model
