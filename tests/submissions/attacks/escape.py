"""Attack: leave a process behind, in a session of its own, that outlives grading.

The grandchild carries a marker in its command line for the test to look for.
"""

import os
import subprocess
import sys

MARKER = "labkit-escape-marker"

if os.fork() == 0:
    os.setsid()
    subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", MARKER],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os._exit(0)
os.wait()


def preprocess(images):
    return images / 255.0
