"""Attack: plant code where the next grading run would import it.

A conftest.py in graders/, a .pth file in site-packages, a module in labkit itself, a file
in the /dev that the run's children share.
"""

import site
import sysconfig
from pathlib import Path

import labkit

project = Path(labkit.__file__).resolve().parents[1]
targets = [
    project / "graders" / "conftest.py",
    Path(sysconfig.get_paths()["purelib"]) / "labkit_attack.pth",
    *(Path(folder) / "labkit_attack.pth" for folder in site.getsitepackages()),
    Path(labkit.__file__).parent / "attack.py",
    Path("/dev/labkit-attack"),  # /dev is shared by every child of the run
]
written = []
for target in targets:
    try:
        target.write_text("import os\n")
        written.append(str(target))
    except OSError:
        pass
raise RuntimeError(f"attack: wrote {written}")
