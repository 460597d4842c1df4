"""Dataset loading: offline files first, Keras' download second, clear advice if neither works."""

from __future__ import annotations

import numpy as np
import pytest

from labkit import datasets


@pytest.fixture(autouse=True)
def fresh_cache():
    datasets._load_cached.cache_clear()
    yield
    datasets._load_cached.cache_clear()


@pytest.mark.parametrize(
    ("name", "image_shape", "label_shape"),
    [("mnist", (28, 28), ()), ("fashion_mnist", (28, 28), ()), ("cifar10", (32, 32, 3), (1,))],
)
def test_loads_the_same_arrays_as_keras(name, image_shape, label_shape):
    (x_train, y_train), (x_test, y_test) = datasets.load(name)
    assert x_train.shape[1:] == image_shape and x_test.shape[1:] == image_shape
    assert y_train.shape == (len(x_train), *label_shape)
    assert y_test.shape == (len(x_test), *label_shape)
    assert x_train.dtype == np.uint8 and x_train.max() > 200
    assert set(np.unique(y_train)) == set(range(10))


def test_no_data_anywhere_says_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))

    def offline(name):
        raise OSError("Name or service not known")

    monkeypatch.setattr(datasets, "_download", offline)
    with pytest.raises(datasets.DatasetUnavailable) as error:
        datasets.load("mnist")
    message = str(error.value)
    assert str(tmp_path / "mnist.npz") in message
    assert "set LABKIT_DATA" in message and "Name or service not known" in message


def test_file_without_the_four_arrays_is_named(monkeypatch, tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((1, 28, 28), np.uint8))
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    with pytest.raises(datasets.DatasetUnavailable, match="lacks the arrays y_train, x_test"):
        datasets.load("mnist")


def test_corrupt_file_is_reported(monkeypatch, tmp_path):
    (tmp_path / "cifar10.npz").write_bytes(b"not a zip file")
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    with pytest.raises(datasets.DatasetUnavailable, match=r"not a readable \.npz"):
        datasets.load("cifar10")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10"):
        datasets.load("imagenet")
