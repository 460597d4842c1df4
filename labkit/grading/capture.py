"""Capture everything a block writes to stdout and stderr, TensorFlow's C++ logs included.

Grading prints only the score table; pytest's and TensorFlow's own output is kept aside and
shown only when grading stops before any check ran.

Usage::

    with captured_output() as captured:
        code = pytest.main(args)
    print(captured.text)
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class _Captured:
    """What a block wrote to stdout and stderr, readable once the block has ended."""

    text = ""


@contextlib.contextmanager
def captured_output() -> Iterator[_Captured]:
    """Send everything written to stdout and stderr, TensorFlow's C++ logs included, aside."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    captured = _Captured()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
