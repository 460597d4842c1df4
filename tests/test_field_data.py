"""Datasets reach the sandbox whatever their source, with LABKIT_DATA unset.

On a student's or a server's machine with internet, LABKIT_DATA is not set: the data sits
in Keras' own cache, or where a lab declares it. The grader resolves each dataset itself and
hands the sandboxed children a read-only copy, so a child never needs the network or a
writable cache. These tests build each source in a fresh HOME, in the layout and file names
its owner uses, and grade the reference inside the sandbox.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REFERENCE, ROOT

from labkit.sandbox import isolation

pytestmark = pytest.mark.skipif(
    bool(isolation.unavailable_reason()), reason="the sandbox cannot run on this machine"
)


def offline_arrays(name: str) -> dict[str, np.ndarray]:
    """The offline stand-in of a Keras dataset, from the folder this suite is given."""
    folder = os.environ.get("LABKIT_DATA")
    if not folder or not (Path(folder) / f"{name}.npz").is_file():
        pytest.skip(f"needs {name}.npz in LABKIT_DATA to build a Keras cache from")
    with np.load(Path(folder) / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file, gzipped, as Fashion-MNIST publishes them and Keras caches them."""
    magic = (0x08 << 8) | array.ndim  # unsigned bytes, then the number of dimensions
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=1))


def keras_cache_home(home: Path) -> Path:
    """A HOME whose Keras cache holds Fashion-MNIST as keras.datasets downloads it."""
    arrays = offline_arrays("fashion_mnist")
    folder = home / ".keras" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", arrays["y_train"])
    write_idx(folder / "train-images-idx3-ubyte.gz", arrays["x_train"])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", arrays["y_test"])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", arrays["x_test"])
    return home


def field_env(home: Path) -> dict[str, str]:
    """The environment of a machine with no offline data folder and no network here."""
    env = {key: value for key, value in os.environ.items() if key != "LABKIT_DATA"}
    env.pop("KERAS_HOME", None)
    return {**env, "HOME": str(home)}


def grade(env: dict[str, str], results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "labkit.cli", "grade", "--isolation", "required"),
            *("--results", str(results), *args),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_a_keras_dataset_in_keras_cache_reaches_the_sandbox(tmp_path):
    home = keras_cache_home(tmp_path / "home")
    results = tmp_path / "results.json"
    module = REFERENCE / "cv2_fashion_mnist_intro.py"
    finished = grade(field_env(home), results, "--submission", str(module))
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    found = json.loads(results.read_text())
    assert found["score"] == found["max_score"] == 13
    assert not list((home / ".keras" / "datasets").glob("*.npz"))  # nothing written there


def test_a_declared_file_reaches_the_sandbox(stripes_course, tmp_path):
    (tmp_path / "home").mkdir()
    results = tmp_path / "results.json"
    finished = grade(
        field_env(tmp_path / "home"),
        results,
        *("--course", str(stripes_course), "--submission", str(stripes_course / "reference")),
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    found = json.loads(results.read_text())
    assert found["score"] == found["max_score"]


def test_a_downloaded_file_in_labkits_cache_reaches_the_sandbox(stripes_course, tmp_path):
    """A dataset declared by URL, downloaded earlier: only the verified cached copy is left."""
    data = stripes_course / "data" / "stripes.npz"
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    course = tmp_path / "course"
    subprocess.run(["cp", "-r", str(stripes_course), str(course)], check=True)
    grader = course / "graders" / "test_stripes.py"
    declared = (
        'Dataset("stripes", path=Path(__file__).resolve().parents[1] / "data" / "stripes.npz")'
    )
    gone = (tmp_path / "gone.npz").as_uri()  # the URL no longer answers: the cache must serve
    text = grader.read_text()
    assert declared in text
    by_url = f'Dataset("stripes", url={gone!r}, sha256={digest!r})'
    grader.write_text(text.replace(declared, by_url))
    (course / "data" / "stripes.npz").unlink()
    cache = tmp_path / "home" / ".keras" / "datasets" / "labkit"
    cache.mkdir(parents=True)
    (cache / f"stripes-{digest[:16]}.npz").write_bytes(data.read_bytes())
    results = tmp_path / "results.json"
    finished = grade(
        field_env(tmp_path / "home"),
        results,
        *("--course", str(course), "--submission", str(course / "reference")),
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    found = json.loads(results.read_text())
    assert found["score"] == found["max_score"]
