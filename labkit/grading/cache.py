"""The grader's training runs, kept by the hash of exactly what decides their numbers.

The grader trains a fresh copy of the submitted model with a fixed seed, fixed threads and
deterministic ops, so its result depends only on its inputs: the model's architecture, the
optimizer, the loss, the lab's recipe, the data it trains and tests on, and the versions of
the code that trains. The key is a hash of those, in a canonical form that leaves out what
cannot change a number (layer and model names, how Keras serialised a plain chain of layers:
Sequential or Functional). A regrade after a fix elsewhere then reuses the training run.

The cache is read and written by the grader only, never inside the sandbox; a child can
neither read nor plant an entry. Writes are atomic, so concurrent workers and Dask tasks
may share a folder; an entry that is corrupt or unreadable is a miss and is written anew;
the folder is kept under a size cap by evicting the entries least recently used.

Usage::

    cache = Cache.from_setting(os.environ.get(CACHE_ENV))   # None when it is off
    key = training_key(compiled_path, lab)
    found = cache.get(key)  # or None; cache.put(key, result) after training
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import sys
import weakref
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from labkit.report.files import Shelf
from labkit.sandbox import screen
from labkit.sandbox.training import TrainingResult
from labkit.spec import datasets
from labkit.spec.lab import Lab

CACHE_ENV = "LABKIT_CACHE"  # a folder, or "off"
OFF = "off"
MAX_BYTES = 64 * 2**20  # an entry is a few kilobytes: thousands of training runs
SUFFIX = ".json"  # a training run's entry; the folder's other kinds have suffixes of their own
VERSION = "1"  # of the key's layout: a change here misses every older entry
# Keys that only name things: in a layer's or a model's own config, never deeper, where a
# dtype policy's "name" is its dtype.
NAMES = ("name",)
# Keys anywhere that say how Keras wrote the file, not what it computes.
SERIALISATION = ("shared_object_id", "build_config", "inbound_nodes", "module")
# The code whose change may change a training run's numbers.
TRAINING_CODE = ("sandbox/training.py", "sandbox/screen.py", "spec/lab.py", "spec/datasets.py")
# Each loaded dataset's fingerprints, by the id of its training images: a weak reference to
# them, and the digest of each pair of subset sizes hashed so far.
_FINGERPRINTS: dict[int, tuple[weakref.ref[Any], dict[tuple[int, int], str]]] = {}


@dataclass(frozen=True)
class Cache:
    """A folder of training results, one small JSON file per key."""

    folder: Path
    max_bytes: int = MAX_BYTES

    @classmethod
    def from_setting(cls, setting: str | None, default: Path | None = None) -> Cache | None:
        """The cache a ``--cache``/``LABKIT_CACHE`` setting names: a folder, "off", or unset
        for ``default`` (the user's cache folder when that is None too)."""
        if setting == OFF:
            return None
        if setting:
            return cls(Path(setting))
        if default is not None:
            return cls(default)
        import platformdirs

        return cls(Path(platformdirs.user_cache_dir("labkit")) / "training")

    def get(self, key: str) -> TrainingResult | None:
        """The result kept under ``key``, or None; a corrupt entry is removed."""
        data = self._shelf.read(key)
        if data is None:
            return None
        try:
            found = TrainingResult.from_json(data.decode("utf-8"))
        except (ValueError, TypeError):
            self._shelf.drop(key)
            return None
        if found.grader_error:  # never written; whoever wrote it is not this grader
            self._shelf.drop(key)
            return None
        return found

    def put(self, key: str, result: TrainingResult) -> None:
        """Keep ``result`` under ``key``, whole or not at all, then keep under the cap."""
        self._shelf.write(key, result.to_json().encode())

    @property
    def _shelf(self) -> Shelf:
        return Shelf(self.folder, SUFFIX, self.max_bytes)


def cacheable(result: TrainingResult) -> bool:
    """Whether a result is the training run's own, and so the same every time: not a
    grader fault, and not a limit's verdict, which depends on the machine."""
    return not result.grader_error and not result.limited


def training_key(compiled_path: Path, lab: Lab) -> str:
    """The hash of everything that decides the grader's training run of this model."""
    config = screen.read_config(compiled_path)
    compiled = config.get("compile_config") or {}
    inputs = {
        "version": VERSION,
        "architecture": canonical_architecture(config),
        "optimizer": _unnamed(compiled.get("optimizer")),
        "loss": _unnamed(compiled.get("loss")),
        "recipe": _recipe(lab),
        "data": data_fingerprint(lab),
        "code": _code_fingerprint(),
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_architecture(config: dict[str, Any]) -> Any:
    """The model's layers in order, without names or serialisation details.

    A Sequential model and a Functional one that is a plain chain of the same layers give
    the same form. Any other graph keeps its config whole, names included: a renamed layer
    there is a miss, never a wrong hit.
    """
    layers = _chain(config)
    if layers is None:
        return _without(config, SERIALISATION)
    inner = config.get("config", {})
    return {
        "trainable": inner.get("trainable", True),
        "dtype": _policy(inner.get("dtype")),
        "layers": [_canonical_layer(layer) for layer in layers],
    }


def data_fingerprint(lab: Lab) -> str:
    """A hash of the arrays the grader's run reads: its training and test subsets, and the
    test images kept back for hidden checks."""
    (x_train, y_train), (x_test, y_test) = datasets.load(lab.dataset)
    train, test = lab.training.train_size, 2 * lab.training.test_size
    # Hashed once per loaded copy of the dataset, as a batch worker asks twice per lab for
    # every submission. The copy is told by identity: a dataset loaded anew is hashed anew.
    copy, kept = _FINGERPRINTS.get(id(x_train), (None, {}))
    if copy is None or copy() is not x_train:
        kept = {}
        _FINGERPRINTS[id(x_train)] = (weakref.ref(x_train), kept)
    if (train, test) not in kept:
        digest = hashlib.sha256()
        for array in (x_train[:train], y_train[:train], x_test[:test], y_test[:test]):
            digest.update(str((array.shape, array.dtype.str)).encode())
            digest.update(array.tobytes())
        kept[(train, test)] = digest.hexdigest()
    return kept[(train, test)]


def _chain(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The layers of a Sequential model, or of a Functional one that is a plain chain."""
    kind = config.get("class_name")
    layers = config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        return None
    if kind == "Sequential":
        return layers
    if kind not in ("Functional", "Model"):
        return None
    previous = None
    for layer in layers:
        nodes = layer.get("inbound_nodes") or []
        sources = [_history(node) for node in nodes]
        if previous is None and sources:
            return None  # the first layer must be the input
        if previous is not None and sources != [previous]:
            return None
        previous = layer.get("name")
    return layers


def _history(node: Any) -> str | None:
    """The one layer a node reads from, or None when it reads from more or from none."""
    args = node.get("args") if isinstance(node, dict) else None
    if not isinstance(args, list) or len(args) != 1 or node.get("kwargs"):
        return None
    history = args[0].get("config", {}).get("keras_history") if isinstance(args[0], dict) else None
    return history[0] if isinstance(history, list) and history[1:] == [0, 0] else None


def _policy(dtype: Any) -> Any:
    """A model's dtype policy by name; a Functional model stores none: the default one."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy":
        return dtype.get("config", {}).get("name")
    return _without(dtype, SERIALISATION)


def _canonical_layer(layer: dict[str, Any]) -> dict[str, Any]:
    unnamed = _unnamed(layer)
    return {key: unnamed.get(key) for key in ("class_name", "registered_name", "config")}


def _unnamed(entry: Any) -> Any:
    """A serialised layer, optimizer or loss: its class and config, without its own name."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        return _without(entry, SERIALISATION)
    config = {key: value for key, value in entry["config"].items() if key not in NAMES}
    return _without({**entry, "config": config}, SERIALISATION)


def _without(value: Any, keys: tuple[str, ...]) -> Any:
    """``value`` with ``keys`` left out of every mapping in it, at any depth."""
    if isinstance(value, dict):
        return {key: _without(item, keys) for key, item in value.items() if key not in keys}
    if isinstance(value, list):
        return [_without(item, keys) for item in value]
    return value


def _recipe(lab: Lab) -> dict[str, Any]:
    """What of the lab decides the run: not its threshold, which only the checks read."""
    training = {
        key: value for key, value in lab.to_json()["training"].items() if key != "min_accuracy"
    }
    classes = lab.layers[-1].output_shape[-1]  # the confusion matrix's size
    return {"training": training, "input_shape": list(lab.input_shape), "classes": classes}


@functools.cache  # the same for every key of a process: read once
def _code_fingerprint() -> dict[str, str]:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in TRAINING_CODE:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return {
        "labkit": digest.hexdigest(),
        "keras": installed_version("keras"),
        "tensorflow": installed_version("tensorflow"),
        "numpy": installed_version("numpy"),
        "python": sys.version.split()[0],
        "processor": _processor(),
    }


@functools.cache
def installed_version(module: str) -> str:
    """The version of the installed package that provides ``module``, from its metadata.

    Importing TensorFlow for its ``__version__`` takes seconds, which a batch worker that
    only re-judges never spends otherwise.
    """
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:  # installed under another name: tensorflow-cpu
        pass
    for distribution in metadata.packages_distributions().get(module, []):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(distribution)
    return "not installed"


def _processor() -> str:
    """A hash of what picks TensorFlow's CPU kernels: oneDNN takes other paths, with other
    roundings, on processors with other instruction sets, or when it is turned off."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line for line in info if line.startswith("flags")), "")
    except OSError:  # not Linux: the platform's own name of the processor
        flags = platform.processor()
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    described = [platform.machine(), " ".join(sorted(flags.split())), onednn]
    return hashlib.sha256("\n".join(described).encode()).hexdigest()
