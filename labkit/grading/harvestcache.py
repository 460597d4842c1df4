"""The harvests of submissions' code, kept by the hash of exactly what decides them.

A harvest (``labkit.sandbox.runner``) runs a lab module in the sandbox and keeps what its
functions returned. What it gives depends only on what the child is given and how: the
submission's files, the lab's API declaration, the data, labkit's harvest code and the
libraries that save values, the limits, the sandbox, and whether figures are drawn as
images. The key is a hash of those and of nothing the checks alone read (a threshold, a
message, points), so that a regrade after such a change re-judges the kept harvest without
running the submission's code again.

Kept beside the training runs (``labkit.grading.cache``: the same folder, the same atomic
writes, a damaged entry is a miss and is written anew, least recently used first out), one
``.npz`` file per key: the harvest's steps and findings as JSON, and the bytes of each file
it kept. Only data: nothing a child produced is ever unpickled, and the files are read back
by the checks exactly as they read a fresh harvest's (screened, ``allow_pickle=False``).
Only the grader reads and writes the cache, never inside the sandbox.

Usage::

    store = HarvestCache(folder)
    key = harvest_key(lab, module, limits, server, pictures, prepared.inputs)
    found = store.get(key, prepared)  # the prepared harvest, filled in; or None
    store.put(key, harvest)           # after a harvest that ``cacheable`` accepts
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labkit.grading.cache import data_fingerprint, installed_version
from labkit.report.files import Shelf
from labkit.sandbox import isolation, runner
from labkit.sandbox.records import Step
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

SUFFIX = ".npz"
# A lab's harvest keeps its model and a few arrays and figures: up to about 2 MB for the
# CIFAR-10 CNN. 2 GiB holds a class of a few hundred students' four labs.
MAX_BYTES = 2 * 2**30
# A harvest that kept more than this is harvested again each time rather than kept: only a
# submission that returns far more than its lab asks for comes near it.
MAX_ENTRY_BYTES = 64 * 2**20
VERSION = "1"  # of the key's and the entry's layout: a change here misses every older entry
# labkit's code that decides what a harvest gives: all that runs the submission or reads
# what it left (the fork server imports all of the sandbox into the child), except what
# only the grader's own training or the checks run.
HARVEST_CODE = ("sandbox", "intake", "spec")
NOT_HARVEST_CODE = ("sandbox/trainer.py", "sandbox/screen.py", "spec/course.py")
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HarvestCache:
    """A folder of harvests, one ``.npz`` file per key."""

    folder: Path
    max_bytes: int = MAX_BYTES

    def get(self, key: str, prepared: runner.Harvest) -> runner.Harvest | None:
        """``prepared`` (``runner.prepare``) filled in with the harvest kept under ``key``,
        its files written into its folder; None when there is none. A damaged entry is
        removed."""
        data = self._shelf.read(key)
        if data is None:
            return None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as entry:
                found = _Entry.read(entry)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile):
            self._shelf.drop(key)
            return None
        found.fill(prepared)
        return prepared

    def put(self, key: str, harvest: runner.Harvest) -> None:
        """Keep ``harvest`` under ``key``, whole or not at all, then keep under the cap."""
        entry = io.BytesIO()
        np.savez_compressed(entry, **_Entry.of(harvest).arrays())
        self._shelf.write(key, entry.getvalue())

    @property
    def _shelf(self) -> Shelf:
        return Shelf(self.folder, SUFFIX, self.max_bytes)


def cacheable(harvest: runner.Harvest) -> bool:
    """Whether a harvest is the code's own doing, and so the same every time: the code ran,
    the grader did not fail, and no limit or signal stopped it (a verdict of this machine);
    and whether it is small enough to keep."""
    if not harvest.ran or harvest.grader_problem or harvest.limited:
        return False
    kept = sum(path.stat().st_size for path in harvest.folder.iterdir())
    return kept <= MAX_ENTRY_BYTES


def harvest_key(
    lab: Lab,
    module: Path,
    limits: Limits,
    server: isolation.Server,
    pictures: bool,
    inputs: dict[str, np.ndarray],
) -> str | None:
    """The hash of everything that decides the harvest of ``module`` for ``lab``; None when
    its files cannot be read, and so the harvest must run to say why."""
    try:
        submission = [[path.name, _digest(path)] for path in runner.submitted_files(module)]
    except OSError:
        return None
    key = {
        "version": VERSION,
        "submission": submission,
        "lab": declaration(lab),
        # The training cache's fingerprint of the lab's dataset (the subsets the grader's run
        # reads), and the arrays handed over. Notebook code may load the rest of the dataset,
        # or another lab's, which it has no reason to: those are left out.
        "data": [data_fingerprint(lab), _arrays_digest(inputs)],
        "code": code_fingerprint(PACKAGE),
        # A harvest stopped by a limit is never kept, but one that ended within generous
        # limits may not under tighter ones. The training limit is the training's.
        "limits": [limits.cpu_seconds, limits.memory_bytes, limits.wall_seconds],
        # The sandbox decides what the code can reach and how the grader collects its files;
        # cgroups only count and cap, which decides nothing but a limit's verdict.
        "sandbox": [server.kind, server.forks],
        "pictures": pictures,  # figures also drawn as images, for feedback pages
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def declaration(lab: Lab) -> dict[str, Any]:
    """What of the lab's declaration the harvest reads: its name (the module's), the dataset
    (by name: its content is the data's fingerprint), the class names, and its API: each
    function's arguments and what it returns.

    The rest (the layer table, the recipe and threshold, points, title) only the checks and
    the grader's training read.
    """
    return {
        "name": lab.name,
        "dataset": lab.dataset.name,
        "class_names": list(lab.class_names),
        "api": [function.to_json() for function in lab.api],
    }


@functools.cache  # the same for every key of a process: read once
def code_fingerprint(package: Path) -> dict[str, str]:
    """A hash of labkit's harvest code in ``package``, and the versions of the libraries
    that save what a harvest returns."""
    digest = hashlib.sha256()
    for part in HARVEST_CODE:
        for path in sorted((package / part).rglob("*.py")):
            name = path.relative_to(package).as_posix()
            if name not in NOT_HARVEST_CODE:
                digest.update(name.encode() + b"\0" + path.read_bytes())
    return {
        "labkit": digest.hexdigest(),
        "keras": installed_version("keras"),
        "tensorflow": installed_version("tensorflow"),
        "numpy": installed_version("numpy"),
        "matplotlib": installed_version("matplotlib"),
        "python": sys.version.split()[0],
    }


def _digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(str((name, array.shape, array.dtype.str)).encode() + array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class _Entry:
    """A harvest as the cache keeps it: what its steps said and what its files hold."""

    steps: dict[str, list[str]]
    problem: str
    forged: str
    rewritten: dict[str, str]
    lost: list[str]
    files: dict[str, bytes]

    @classmethod
    def of(cls, harvest: runner.Harvest) -> _Entry:
        files = {path.name: path.read_bytes() for path in sorted(harvest.folder.iterdir())}
        return cls(
            {name: [step.status, step.message] for name, step in harvest.steps.items()},
            harvest.problem,
            harvest.forged,
            dict(harvest.rewritten),
            sorted(harvest.lost),
            files,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The entry as arrays of bytes: the JSON of its fields, then each file's bytes."""
        fields = {
            "version": VERSION,
            "steps": self.steps,
            "problem": self.problem,
            "forged": self.forged,
            "rewritten": self.rewritten,
            "lost": self.lost,
            "files": list(self.files),
        }
        arrays = {"fields": _bytes(json.dumps(fields).encode())}
        for index, data in enumerate(self.files.values()):
            arrays[f"file{index}"] = _bytes(data)
        return arrays

    @classmethod
    def read(cls, entry: Any) -> _Entry:
        """The entry in an opened ``.npz``; raises ValueError when it is not one this
        version wrote whole."""
        fields = json.loads(_plain(entry["fields"]).decode())
        if fields["version"] != VERSION:
            raise ValueError("an older entry")
        names = fields["files"]
        if not all(isinstance(name, str) and _plain_name(name) for name in names):
            raise ValueError("a file name that is not a plain one")
        steps = fields["steps"]
        if not all(isinstance(step, list) and len(step) == 2 for step in steps.values()):
            raise ValueError("a step without its status and message")
        steps = {str(name): [str(part) for part in step] for name, step in steps.items()}
        return cls(
            steps,
            str(fields["problem"]),
            str(fields["forged"]),
            {str(name): str(said) for name, said in fields["rewritten"].items()},
            [str(name) for name in fields["lost"]],
            {name: _plain(entry[f"file{index}"]) for index, name in enumerate(names)},
        )

    def fill(self, harvest: runner.Harvest) -> None:
        """Give ``harvest``, freshly prepared, these steps, findings and files."""
        harvest.steps = {name: Step(*step) for name, step in self.steps.items()}
        harvest.problem, harvest.forged = self.problem, self.forged
        harvest.rewritten, harvest.lost = dict(self.rewritten), set(self.lost)
        for name, data in self.files.items():
            (harvest.folder / name).write_bytes(data)


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _plain(array: np.ndarray) -> bytes:
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError("not an array of bytes")
    return array.tobytes()


def _plain_name(name: str) -> bool:
    """A file name with no folder in it, as a harvest's files are named."""
    return bool(name) and Path(name).name == name and name not in (".", "..") and "\\" not in name
