"""labkit: autograded TensorFlow/Keras labs on convolutional neural networks.

Usage: ``labkit grade --submission exercises`` (or ``nox -s grade``).
"""

from __future__ import annotations

__version__ = "0.1.0"
