"""Hostile: preprocess works, then build_model never returns."""

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def preprocess(images):
    return images / 255.0


def build_model():
    while True:
        pass


def compile_model(model):
    return model


def plot_samples(images, labels, class_names):
    raise NotImplementedError
