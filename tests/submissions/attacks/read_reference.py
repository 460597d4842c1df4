"""Attack: read the reference solution and the grader's secrets, and pass them on.

It reports what it could read: files, and environment variables that look like secrets.
"""

import os
import runpy
from pathlib import Path

import labkit

project = Path(labkit.__file__).resolve().parents[1]
read = []
for path in [
    project / "reference" / "cv4_cifar_cnn.py",
    project / "graders" / "test_cv1_mnist_intro.py",
    Path.home() / ".bash_history",
    Path("/etc/shadow"),
    Path("/root/.ssh/id_rsa"),
]:
    try:
        path.read_bytes()
        read.append(str(path))
    except OSError:
        pass
try:
    runpy.run_path(str(project / "reference" / "cv1_mnist_intro.py"))
    read.append("ran the reference")
except OSError:
    pass
secrets = sorted(name for name in os.environ if "SECRET" in name or "TOKEN" in name)
raise RuntimeError(f"attack: read {read}; secrets {secrets}")
