"""Attack: share out more memory than the lab may use among processes each under the limit.

Six children each take and touch 1 GiB, then hold it. The import error reports how many
are still alive, holding theirs, once all have tried.
"""

import os
import time

# Outside the sandbox this would take 6 GiB of the machine: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
children = []
for _ in range(6):
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        block = bytearray(2**30)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        os.write(writer, b"1")
        time.sleep(30)
        os._exit(0)
    os.close(writer)
    children.append((pid, reader))
for _, reader in children:
    os.read(reader, 1)  # "1" once it holds its block, or nothing once it was killed
time.sleep(1)
alive = sum(os.waitpid(pid, os.WNOHANG) == (0, 0) for pid, _ in children)
raise RuntimeError(f"attack: {alive} of 6 children hold 1 GiB")
