"""What the architecture checks read of each model, kept by the hash of the model's description.

The structure, shape and parameter checks read a built model's layers, input shape and
parameter count (``labkit.judge.architecture.Architecture``). Building the model takes Keras,
and Keras takes TensorFlow: seconds to import, and a tenth of a second per model. Those
values depend only on the model's ``config.json``, the Keras that builds it and labkit's code
that reads it, so a class re-judged after a grader change builds no model, and a batch worker
that only re-judges never imports TensorFlow. The checks themselves always run.

Like the other kinds of the grading cache, it is written and read by the grader only, in the
same folder; a damaged entry is a miss and is written anew.

Usage::

    store = ArchitectureCache(folder)
    key = architecture_key(path)
    found = store.get(key)  # or None; store.put(key, architecture.read(model))
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.grading.cache import installed_version
from labkit.judge.architecture import Architecture
from labkit.report.files import Shelf
from labkit.sandbox import screen

# JSON, but not named .json: the training runs' entries are, and each kind is evicted by
# its own suffix.
SUFFIX = ".architecture"
MAX_BYTES = 64 * 2**20  # an entry is about a kilobyte
VERSION = "1"  # of the key's layout: a change here misses every older entry
# The code that builds a model from its file and reads what the checks see of it.
READING_CODE = ("judge/architecture.py", "sandbox/screen.py")
SHARED = "shared_object_id"


@dataclass(frozen=True)
class ArchitectureCache:
    """A folder of architectures, one small JSON file per key."""

    folder: Path
    max_bytes: int = MAX_BYTES

    def get(self, key: str) -> Architecture | None:
        """The architecture kept under ``key``, or None; a damaged entry is removed."""
        data = self._shelf.read(key)
        if data is None:
            return None
        try:
            return Architecture.from_json(data.decode("utf-8"))
        except (ValueError, KeyError, TypeError):
            self._shelf.drop(key)
            return None

    def put(self, key: str, found: Architecture) -> None:
        """Keep ``found`` under ``key``, whole or not at all, then keep under the cap."""
        self._shelf.write(key, found.to_json().encode())

    @property
    def _shelf(self) -> Shelf:
        return Shelf(self.folder, SUFFIX, self.max_bytes)


def architecture_key(path: Path) -> str:
    """The hash of what decides a model file's architecture: its whole ``config.json`` (read
    within the screen's cap), the versions of Keras and TensorFlow, and labkit's reading code.

    Raises ValueError or OSError, as ``screen.read_config`` does, for a file it cannot read.
    """
    key = {
        "version": VERSION,
        "config": _numbered_shares(screen.read_config(path), {}),
        "code": _code_fingerprint(),
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _numbered_shares(value: Any, numbers: dict[Any, int]) -> Any:
    """``value`` with each ``shared_object_id`` numbered in order of first appearance.

    Keras writes the id() of an object that several layers share, which differs from one
    process to the next; what decides the model is only which entries share one.
    """
    if isinstance(value, dict):
        return {
            key: numbers.setdefault(item, len(numbers))
            if key == SHARED and isinstance(item, int | str)
            else _numbered_shares(item, numbers)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_numbered_shares(item, numbers) for item in value]
    return value


@functools.cache  # the same for every key of a process: read once
def _code_fingerprint() -> dict[str, str]:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in READING_CODE:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return {
        "labkit": digest.hexdigest(),
        "keras": installed_version("keras"),
        "tensorflow": installed_version("tensorflow"),
    }
