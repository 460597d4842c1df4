"""Grader for cv3_mnist_cnn: a small convolutional network on MNIST digits."""

from __future__ import annotations

import pytest

from labkit.grader import ModelChecks

pytestmark = pytest.mark.lab("cv3_mnist_cnn")


class TestMnistCnn(ModelChecks):
    """Two Conv2D/MaxPooling2D blocks, then Dense 64 relu -> Dense 10."""
