"""The architecture cache: what the checks read of a model, kept by its description alone.

A miss for anything that changes the model, a hit for the same model saved by another
process, the same values back as the model gives, and a batch worker that re-judges a
submission without importing TensorFlow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import pytest
from keras import layers

from labkit.grading import architecturecache, cache
from labkit.grading.architecturecache import ArchitectureCache, architecture_key
from labkit.judge import architecture
from labkit.sandbox import screen
from labkit.sandbox.training import TrainingResult


def cv3(units: int = 64, built: bool = True) -> keras.Model:
    body = [
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(units, activation="relu"),
        layers.Dense(10),
    ]
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), *body] if built else body)


def saved(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def with_config(path: Path, target: Path, change) -> Path:
    """A copy of the model file at ``path`` with its config.json passed through ``change``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == screen.CONFIG:
                data = json.dumps(change(json.loads(data))).encode()
            copy.writestr(member, data)
    return target


def renumbered(value, offset: int):
    """Every shared_object_id moved by ``offset``: what another process writes."""
    if isinstance(value, dict):
        return {
            key: item + offset if key == "shared_object_id" else renumbered(item, offset)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [renumbered(item, offset) for item in value]
    return value


def test_the_same_model_saved_by_another_process_is_a_hit(tmp_path):
    path = saved(cv3(), tmp_path / "build_model.keras")
    config = screen.read_config(path)
    assert "shared_object_id" in json.dumps(config)  # Keras writes the ids of shared objects
    elsewhere = with_config(path, tmp_path / "elsewhere.keras", lambda c: renumbered(c, 12345))
    assert architecture_key(elsewhere) == architecture_key(path)


@pytest.mark.parametrize(
    "change",
    [
        lambda config: {
            **config,
            "config": {**config["config"], "layers": config["config"]["layers"][:-1]},
        },
        lambda config: json.loads(json.dumps(config).replace('"units": 64', '"units": 65')),
    ],
    ids=["a layer fewer", "other units"],
)
def test_a_changed_model_is_a_miss(tmp_path, change):
    path = saved(cv3(), tmp_path / "build_model.keras")
    other = with_config(path, tmp_path / "other.keras", change)
    assert architecture_key(other) != architecture_key(path)


def test_new_reading_code_is_a_miss(tmp_path, monkeypatch):
    path = saved(cv3(), tmp_path / "build_model.keras")
    before = architecture_key(path)
    monkeypatch.setattr(architecturecache, "_code_fingerprint", lambda: {"labkit": "changed"})
    assert architecture_key(path) != before


@pytest.mark.parametrize("built", [True, False], ids=["built", "never built"])
def test_a_kept_architecture_comes_back_as_the_model_gives_it(tmp_path, built):
    path = saved(cv3(built=built), tmp_path / "build_model.keras")
    found = architecture.read(screen.load(path, weights=False))
    assert (found.params is None) is not built
    store = ArchitectureCache(tmp_path / "cache")
    store.put(architecture_key(path), found)
    assert store.get(architecture_key(path)) == found
    assert store.get("ab" * 32) is None


def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path):
    path = saved(cv3(), tmp_path / "build_model.keras")
    store = ArchitectureCache(tmp_path / "cache")
    key = architecture_key(path)
    store.put(key, architecture.read(screen.load(path, weights=False)))
    (entry,) = (tmp_path / "cache").glob("*/*" + architecturecache.SUFFIX)
    entry.write_text('{"layers": [{"kind": "Dense"}]}')
    assert store.get(key) is None
    assert not entry.exists()


def test_each_kind_in_the_shared_folder_keeps_to_its_own_cap(tmp_path):
    """Training runs, harvests, architectures and plots share one folder: evicting one kind
    never takes another's entries."""
    path = saved(cv3(), tmp_path / "build_model.keras")
    folder = tmp_path / "cache"
    found = architecture.read(screen.load(path, weights=False))
    ArchitectureCache(folder).put(architecture_key(path), found)
    cache.Cache(folder, max_bytes=1).put("ab" * 32, TrainingResult(losses=[2.3, 1.1]))
    assert not list(folder.glob("*/*" + cache.SUFFIX))  # over its cap alone
    assert ArchitectureCache(folder).get(architecture_key(path)) == found


REJUDGE = """
import json, sys
from pathlib import Path
from labkit.batch.worker import Options, Task, Worker

course, folder, cache = map(Path, sys.argv[1:])
options = Options(course=course, cache=str(cache))
worker = Worker(options)
done = worker.grade(Task("alice", options, folder=folder))
worker.close()
print(json.dumps({
    "score": [done.results["score"], done.results["max_score"]],
    "rejudged": done.rejudged,
    "tensorflow": "tensorflow" in sys.modules,
}))
"""


def test_a_worker_that_only_rejudges_never_imports_tensorflow(stripes_course, tmp_path):
    """Importing TensorFlow was most of a worker's start: a re-judge reads every value it
    needs from the cache, its checks run on them, and it never builds a model."""
    (tmp_path / "alice").mkdir()
    shutil.copy(stripes_course / "reference" / "stripes.py", tmp_path / "alice")
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", REJUDGE, stripes_course, tmp_path / "alice", tmp_path / "cache"],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    first, again = runs
    assert first["score"] == again["score"] and first["score"][0] == first["score"][1]
    assert (first["rejudged"], first["tensorflow"]) == (False, True)
    assert (again["rejudged"], again["tensorflow"]) == (True, False)
