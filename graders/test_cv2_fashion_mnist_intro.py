"""Grader for cv2_fashion_mnist_intro: the dense network of cv1, on clothing images."""

from __future__ import annotations

from labkit.judge.grader import (
    BUILD_MODEL,
    CLASS_NAMES,
    COMPILE_MODEL,
    PLOT_SAMPLES,
    PREPROCESS,
    ModelChecks,
    SamplePlotChecks,
)
from labkit.spec.lab import OUTPUT, Lab, Layer, Training

LAB = Lab(
    name="cv2_fashion_mnist_intro",
    title="Fashion-MNIST intro: a dense network",
    dataset="fashion_mnist",
    input_shape=(28, 28),
    layers=(
        # kind, output shape, parameters, activation
        Layer("Flatten", (784,), 0),
        Layer("Dense", (128,), 100_480, "relu"),
        Layer("Dense", (10,), 1_290, OUTPUT),
    ),
    # `nox -s calibrate -- --seeds 20`: reference 0.744 / 0.817 / 0.838, worst seed +0.054
    # above 0.69. Seeds 0-9 alone had their worst at 0.800, which set the old 0.75 that a
    # later seed fails.
    training=Training(train_size=5000, test_size=2000, epochs=3, min_accuracy=0.69),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    api=(PREPROCESS, BUILD_MODEL, COMPILE_MODEL, CLASS_NAMES, PLOT_SAMPLES),
)


class TestFashionMnistIntro(SamplePlotChecks, ModelChecks):
    """Flatten -> Dense 128 relu -> Dense 10, plus CLASS_NAMES and the sample grid."""
