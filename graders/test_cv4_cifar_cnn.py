"""Grader for cv4_cifar_cnn: the course's CIFAR-10 walk-through."""

from __future__ import annotations

import pytest

from labkit.grader import HistoryPlotChecks, ModelChecks, SamplePlotChecks

pytestmark = pytest.mark.lab("cv4_cifar_cnn")


class TestCifarCnn(HistoryPlotChecks, SamplePlotChecks, ModelChecks):
    """Three Conv2D blocks, then Dense 64 relu -> Dense 10; the sample grid and history plot."""
