"""Attack: use more memory than the grader's own cgroup allows, from a lab's cgroup outside it.

It takes and touches 1 GiB, within the lab's own limit, then works as the reference does. Its
import error, if it gets that far, says it held the memory.
"""

import os

# Outside the sandbox this would take 1 GiB of the machine: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
block = bytearray(2**30)
for offset in range(0, len(block), 4096):
    block[offset] = 1
raise RuntimeError("attack: held 1 GiB")
