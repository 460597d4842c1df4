"""Attack: take the processors with a hundred spinning processes, each in its own session.

Each stays within the CPU limit every process of the lab has; together they would spend it a
hundred times over, and starve a classmate's lab graded at the same time. The lab's own
process waits for them, using no CPU at all.
"""

import os

# Outside the sandbox this would take the machine: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
SPINNERS = 100
for _ in range(SPINNERS):
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
raise RuntimeError("attack: every spinner ran to its own CPU limit")
