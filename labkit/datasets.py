"""Load the labs' datasets, offline from ``$LABKIT_DATA`` or through ``keras.datasets``.

Usage: ``(x_train, y_train), (x_test, y_test) = datasets.load("mnist")``
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

DATA_ENV = "LABKIT_DATA"
NAMES = ("mnist", "fashion_mnist", "cifar10")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")

Split = tuple[np.ndarray, np.ndarray]
# Harvests of several labs may ask for one dataset at once; it is read from disk once.
_LOADING = threading.Lock()


class DatasetUnavailable(RuntimeError):
    """Neither the local folder nor Keras' download could provide a dataset."""


def load(name: str) -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, like Keras does."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(NAMES)}")
    with _LOADING:
        return _load_cached(name, os.environ.get(DATA_ENV, ""))


def local(name: str) -> tuple[Split, Split] | None:
    """The dataset from ``$LABKIT_DATA``, or None when that folder does not hold it."""
    folder = os.environ.get(DATA_ENV, "")
    if _local_path(name, folder) is None:
        return None
    with _LOADING:
        return _load_cached(name, folder)


def _local_path(name: str, folder: str) -> Path | None:
    path = Path(folder) / f"{name}.npz" if folder else None
    return path if path is not None and path.is_file() else None


@functools.lru_cache(maxsize=len(NAMES))
def _load_cached(name: str, folder: str) -> tuple[Split, Split]:
    path = _local_path(name, folder)
    if path is not None:
        return _read_npz(path)
    try:
        return _download(name)
    except Exception as error:
        expected = Path(folder) / f"{name}.npz" if folder else None
        raise DatasetUnavailable(_advice(name, expected, error)) from error


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

    return getattr(keras.datasets, name).load_data()


def _advice(name: str, local: Path | None, error: BaseException) -> str:
    where = f"{local} does not exist" if local is not None else f"{DATA_ENV} is not set"
    return (
        f"Could not load the {name!r} dataset: {where}, and Keras could not download it "
        f"({type(error).__name__}: {error}). Either set {DATA_ENV} to a folder holding "
        f"{name}.npz (arrays {', '.join(ARRAYS)}), or connect to the internet once so "
        f"Keras can download and cache it."
    )
