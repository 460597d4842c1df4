"""Load a lab's dataset: offline from ``$LABKIT_DATA``, a declared file, or a download.

A dataset is any ``keras.datasets`` name, or a ``.npz`` file holding the four arrays
``x_train``, ``y_train``, ``x_test`` and ``y_test``, declared by a local path or by a URL and
its sha256. ``$LABKIT_DATA/<name>.npz`` wins over both, so a course can run offline.

A grading run resolves every dataset here, in the grader, and hands its children a folder
of ``.npz`` files (``local_file``, ``write_npz``): a child in the sandbox has no network and
no writable Keras cache, so it must never need either.

Usage: ``(x_train, y_train), (x_test, y_test) = datasets.load(Dataset("digits"))``
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "LABKIT_DATA"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
DOWNLOAD_SECONDS = 120

Split = tuple[np.ndarray, np.ndarray]
# Harvests of several labs may ask for one dataset at once; it is read from disk once.
_LOADING = threading.Lock()


class DatasetUnavailable(RuntimeError):
    """No source could provide a dataset; the message says what to do."""


@dataclass(frozen=True)
class Dataset:
    """Where a lab's data comes from.

    ``name`` alone is a ``keras.datasets`` module (``Dataset("imdb")``). With ``path`` or
    ``url`` (and ``sha256``, required with a URL) it is a ``.npz`` file of the four arrays.
    """

    name: str
    path: str = ""
    url: str = ""
    sha256: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", str(self.path) if self.path else "")
        if self.url and len(self.sha256) != 64:
            raise ValueError(
                f"dataset {self.name!r}: a URL needs the file's sha256 (64 hex digits), so a "
                "changed or damaged download is refused"
            )

    @property
    def cached(self) -> Path | None:
        """Where a downloaded copy is kept, verified once, for every later run."""
        if not self.url:
            return None
        home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
        return home / "datasets" / "labkit" / f"{self.name}-{self.sha256[:16]}.npz"

    def files(self) -> list[Path]:
        """The local files this dataset may be read from, existing or not."""
        folder = os.environ.get(DATA_ENV, "")
        candidates = [Path(folder) / f"{self.name}.npz"] if folder else []
        candidates += [Path(self.path)] if self.path else []
        return candidates + ([self.cached] if self.cached else [])


def load(dataset: Dataset | str) -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras' loaders do."""
    dataset = Dataset(dataset) if isinstance(dataset, str) else dataset
    with _LOADING:
        return _load_cached(dataset, os.environ.get(DATA_ENV, ""))


def local(dataset: Dataset | str) -> tuple[Split, Split] | None:
    """The dataset from a file already on this machine, or None: never a download."""
    dataset = Dataset(dataset) if isinstance(dataset, str) else dataset
    if _local_path(dataset) is None:
        return None
    return load(dataset)


def local_file(dataset: Dataset) -> Path | None:
    """The dataset's ``.npz`` file on this machine, checked; None when only Keras' own loader
    or a download can provide it.

    Reads nothing but NumPy files, so it is safe while TensorFlow is being imported.
    """
    path = _local_path(dataset)
    if path is not None:
        load(dataset)  # a file that is not a dataset is found out here, not in a child
    return path


def write_npz(dataset: Dataset, folder: Path) -> Path:
    """Load the dataset (Keras' cache, or a download) and write it as ``folder/<name>.npz``."""
    (x_train, y_train), (x_test, y_test) = load(dataset)
    path = folder / f"{dataset.name}.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def _local_path(dataset: Dataset) -> Path | None:
    found = next((path for path in dataset.files() if path.is_file()), None)
    if found is not None or not dataset.path:
        return found
    raise DatasetUnavailable(
        f"The {dataset.name!r} dataset's file {dataset.path} does not exist: create it, or "
        f"put {dataset.name}.npz (arrays {', '.join(ARRAYS)}) in the {DATA_ENV} folder."
    )


@functools.lru_cache(maxsize=8)
def _load_cached(dataset: Dataset, folder: str) -> tuple[Split, Split]:
    path = _local_path(dataset)
    if path is not None:
        return _read_npz(path)
    try:
        if dataset.url:
            return _read_npz(_download_file(dataset))
        return _download(dataset.name)
    except DatasetUnavailable:
        raise
    except Exception as error:
        expected = Path(folder) / f"{dataset.name}.npz" if folder else None
        raise DatasetUnavailable(_advice(dataset, expected, error)) from error


def _read_npz(path: Path) -> tuple[Split, Split]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ARRAYS if key not in data.files]
            if missing:
                raise DatasetUnavailable(
                    f"{path} lacks the arrays {', '.join(missing)}; a dataset file "
                    f"needs {', '.join(ARRAYS)}, as keras.datasets returns them."
                )
            x_train, y_train, x_test, y_test = (data[key] for key in ARRAYS)
    except (OSError, ValueError) as error:
        raise DatasetUnavailable(f"{path} is not a readable .npz file: {error}") from error
    return (x_train, y_train), (x_test, y_test)


def _download(name: str) -> tuple[Split, Split]:
    import keras

    module = getattr(keras.datasets, name, None)
    if module is None:
        known = sorted(n for n in dir(keras.datasets) if not n.startswith("_"))
        raise DatasetUnavailable(
            f"Unknown dataset {name!r}: keras.datasets has {', '.join(known)}. For another "
            f"dataset, put {name}.npz (arrays {', '.join(ARRAYS)}) in the {DATA_ENV} folder, "
            "or declare its file in the lab: Dataset(name, path=...) or "
            "Dataset(name, url=..., sha256=...)."
        )
    return module.load_data()


def _download_file(dataset: Dataset) -> Path:
    """Fetch the dataset's URL into its cache file, refusing a file whose sha256 differs."""
    target = dataset.cached
    assert target is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with (
        urllib.request.urlopen(dataset.url, timeout=DOWNLOAD_SECONDS) as response,
        partial.open("wb") as file,
    ):
        shutil.copyfileobj(response, file)
    digest = _sha256(partial)
    if digest != dataset.sha256.lower():
        partial.unlink()
        raise DatasetUnavailable(
            f"The {dataset.name!r} dataset downloaded from {dataset.url} has sha256 {digest}, "
            f"not the declared {dataset.sha256}: the file changed or was damaged on the way. "
            "Check the URL, or update the sha256 if the new file is the right one."
        )
    os.replace(partial, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def _advice(dataset: Dataset, local: Path | None, error: BaseException) -> str:
    where = f"{local} does not exist" if local is not None else f"{DATA_ENV} is not set"
    source = dataset.url or f"keras.datasets.{dataset.name}"
    return (
        f"Could not load the {dataset.name!r} dataset: {where}, and the download from "
        f"{source} failed ({type(error).__name__}: {error}). Either set {DATA_ENV} to a "
        f"folder holding {dataset.name}.npz (arrays {', '.join(ARRAYS)}), or connect to the "
        "internet once so that it can be downloaded and cached."
    )
