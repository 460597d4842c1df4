"""Dataset loading: offline files first, Keras' download second, clear advice if neither works."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from labkit.spec import datasets


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
    with pytest.raises(datasets.DatasetUnavailable, match="Unknown dataset 'imagenet'") as error:
        datasets.load("imagenet")
    assert "cifar10, cifar100, fashion_mnist" in str(error.value)
    assert "Dataset(name, path=...)" in str(error.value)


def arrays(rows: int) -> dict[str, np.ndarray]:
    return {
        "x_train": np.arange(rows * 4, dtype=np.uint8).reshape(rows, 2, 2),
        "y_train": np.arange(rows, dtype=np.uint8) % 2,
        "x_test": np.zeros((3, 2, 2), np.uint8),
        "y_test": np.ones(3, np.uint8),
    }


def test_a_declared_file_loads(tmp_path):
    np.savez(tmp_path / "tiny.npz", **arrays(5))
    (x_train, y_train), (x_test, _) = datasets.load(
        datasets.Dataset("tiny", path=tmp_path / "tiny.npz")
    )
    assert x_train.shape == (5, 2, 2) and list(y_train) == [0, 1, 0, 1, 0] and len(x_test) == 3


def test_the_offline_folder_wins_over_a_declared_file(monkeypatch, tmp_path):
    (tmp_path / "offline").mkdir()
    np.savez(tmp_path / "offline" / "tiny.npz", **arrays(7))
    np.savez(tmp_path / "declared.npz", **arrays(5))
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "offline"))
    (x_train, _), _ = datasets.load(datasets.Dataset("tiny", path=tmp_path / "declared.npz"))
    assert len(x_train) == 7


def test_a_missing_declared_file_is_named(tmp_path):
    with pytest.raises(datasets.DatasetUnavailable, match=r"tiny\.npz does not exist"):
        datasets.load(datasets.Dataset("tiny", path=tmp_path / "tiny.npz"))


def test_a_url_is_downloaded_once_and_checked(monkeypatch, tmp_path):
    source = tmp_path / "published.npz"
    np.savez(source, **arrays(4))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    dataset = datasets.Dataset("tiny", url=source.as_uri(), sha256=digest)
    (x_train, _), _ = datasets.load(dataset)
    assert len(x_train) == 4 and dataset.cached.is_file()
    source.unlink()  # the cached copy serves from now on
    datasets._load_cached.cache_clear()
    assert len(datasets.load(dataset)[0][0]) == 4


def test_a_download_with_another_sha256_is_refused(monkeypatch, tmp_path):
    source = tmp_path / "published.npz"
    np.savez(source, **arrays(4))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    dataset = datasets.Dataset("tiny", url=source.as_uri(), sha256="0" * 64)
    with pytest.raises(datasets.DatasetUnavailable, match="not the declared 0000"):
        datasets.load(dataset)
    assert not dataset.cached.exists()


def test_a_url_without_its_sha256_is_a_declaration_error():
    with pytest.raises(ValueError, match="needs the file's sha256"):
        datasets.Dataset("tiny", url="https://example.org/tiny.npz")
