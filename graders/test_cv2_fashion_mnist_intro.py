"""Grader for cv2_fashion_mnist_intro: a first dense network on Fashion-MNIST clothing."""

from __future__ import annotations

import pytest

from labkit.grader import ModelChecks, SamplePlotChecks

pytestmark = pytest.mark.lab("cv2_fashion_mnist_intro")


class TestFashionMnistIntro(SamplePlotChecks, ModelChecks):
    """Flatten -> Dense 128 relu -> Dense 10, plus CLASS_NAMES and the sample grid."""
