"""Grader for cv1_mnist_intro: a first dense network on MNIST digits."""

from __future__ import annotations

import pytest

from labkit.grader import ModelChecks

pytestmark = pytest.mark.lab("cv1_mnist_intro")


class TestMnistIntro(ModelChecks):
    """Flatten -> Dense 128 relu -> Dense 10, trained on MNIST."""
