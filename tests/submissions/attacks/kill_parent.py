"""Attack: kill the process that started it, and every process it is allowed to signal."""

import os
import signal

# Outside a PID namespace this would signal the grader's machine itself: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
for target in (os.getppid(), 1, 2, 3):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
os.kill(-1, signal.SIGKILL)
