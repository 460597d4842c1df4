"""Attack: fill the grader's disk through the lab's output folder.

It writes 2 GiB in files under the per-file cap, then 5,000 small files, and reports how
many bytes and files it got in.
"""

import os
from pathlib import Path

# Outside the sandbox this would fill the machine's disk: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
out = Path(__file__).resolve().parents[1] / "out"
written, files = 0, 0
block = b"x" * 2**20
for number in range(8):
    try:
        with open(out / f"big{number}.bin", "wb") as file:
            for _ in range(256):
                file.write(block)
                written += len(block)
    except OSError:
        break
for number in range(5000):
    try:
        (out / f"small{number}").write_bytes(b"x")
        files += 1
    except OSError:
        break
raise RuntimeError(f"attack: {written // 2**20} MiB, {files} small files")
