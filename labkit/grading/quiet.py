"""Import TensorFlow without the C++ notices that Jupyter shows in red, though none is an error.

Usage, first thing in a notebook::

    from labkit.grading.quiet import quiet_tensorflow
    quiet_tensorflow()
"""

from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ log lines; Python errors and warnings still show as usual."""
    # Level 3 hides all but fatal lines, such as the harmless NodeDef notice during fit().
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # The oneDNN notice comes while TensorFlow loads, before it reads that setting, so the
    # import runs with the error stream (file descriptor 2) sent to os.devnull.
    with open(os.devnull, "w") as devnull:
        saved = os.dup(2)
        os.dup2(devnull.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
