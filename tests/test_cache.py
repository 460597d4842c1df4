"""The training cache: the same grade with it or without it, a miss for every input that
changes the numbers, a hit for what cannot, and no way in from the sandbox."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import COURSE, EXERCISES, REFERENCE, ROOT, SUBMISSIONS, by_student

from labkit.batch import classrun
from labkit.batch.worker import Options
from labkit.grading import cache
from labkit.grading.plugin import CACHE_LOG_ENV, lookup_line
from labkit.measure import bench
from labkit.sandbox import training
from labkit.sandbox.training import TrainingResult
from labkit.spec.course import Course
from labkit.spec.datasets import _load_cached
from labkit.spec.lab import Lab

CV1 = COURSE.lab("cv1_mnist_intro")
LABS = ("cv1_mnist_intro", "cv4_cifar_cnn")  # the quickest lab to train and the slowest


def saved(path: Path, model: keras.Model, **compile_args) -> Path:
    settings = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", **compile_args}
    model.compile(**settings)
    model.save(path)
    return path


def sequential(units: int = 128, names: tuple[str, str] = ("hidden", "logits")) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu", name=names[0]),
            keras.layers.Dense(10, name=names[1]),
        ]
    )


def functional() -> keras.Model:
    inputs = keras.Input(shape=(28, 28), name="pixels")
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(128, activation="relu", name="dense_a")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="dense_b")(x), name="mine")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "reference": saved(folder / "reference.keras", sequential()),
        "renamed": saved(folder / "renamed.keras", sequential(names=("a", "b"))),
        "functional": saved(folder / "functional.keras", functional()),
        "architecture": saved(folder / "architecture.keras", sequential(units=64)),
        "learning_rate": saved(
            folder / "learning_rate.keras",
            sequential(),
            optimizer=keras.optimizers.Adam(learning_rate=0.01),
        ),
        "loss": saved(
            folder / "loss.keras",
            sequential(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
    }


def with_training(lab: Lab, **changes) -> Lab:
    return dataclasses.replace(lab, training=dataclasses.replace(lab.training, **changes))


@pytest.mark.parametrize(
    ("model", "lab"),
    [
        ("architecture", CV1),
        ("learning_rate", CV1),
        ("loss", CV1),
        ("reference", with_training(CV1, epochs=CV1.training.epochs + 1)),
        ("reference", with_training(CV1, batch_size=CV1.training.batch_size * 2)),
        ("reference", with_training(CV1, train_size=CV1.training.train_size // 2)),
        ("reference", with_training(CV1, seed=CV1.training.seed + 1)),
        ("reference", COURSE.lab("cv3_mnist_cnn")),  # another input shape and recipe
    ],
    ids=["architecture", "learning rate", "loss", "epochs", "batch", "subset", "seed", "lab"],
)
def test_every_training_input_is_part_of_the_key(models, model, lab):
    assert cache.training_key(models[model], lab) != cache.training_key(models["reference"], CV1)


def test_the_processors_kernels_are_part_of_the_key(models, monkeypatch):
    """oneDNN's kernels, and so the trained numbers, differ with the instruction set and
    with oneDNN turned off: a cache shared by other machines never mixes their runs."""
    here = cache.training_key(models["reference"], CV1)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    cache._code_fingerprint.cache_clear()
    try:
        assert cache.training_key(models["reference"], CV1) != here
    finally:
        monkeypatch.undo()
        cache._code_fingerprint.cache_clear()
    assert cache.training_key(models["reference"], CV1) == here


def test_the_threshold_is_not_part_of_the_key(models):
    """A threshold changed after the deadline regrades from the cache: only checks read it."""
    stricter = with_training(CV1, min_accuracy=0.99)
    assert cache.training_key(models["reference"], stricter) == cache.training_key(
        models["reference"], CV1
    )


def test_the_data_is_part_of_the_key(stripes_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)

    lab = Course(course).lab("stripes")
    before = cache.data_fingerprint(lab)
    data = course / "data" / "stripes.npz"
    with np.load(data) as arrays:
        changed = {key: arrays[key].copy() for key in arrays.files}
    changed["y_train"][0] = (changed["y_train"][0] + 1) % 3
    np.savez(data, **changed)
    _load_cached.cache_clear()
    assert cache.data_fingerprint(lab) != before


def test_renamed_layers_are_a_hit(models):
    assert cache.training_key(models["renamed"], CV1) == cache.training_key(
        models["reference"], CV1
    )


def test_functional_or_sequential_share_a_key_only_where_the_numbers_agree(models):
    """A chain of the same layers written as Functional trains to the same numbers as the
    Sequential model in this Keras; if a Keras version made them differ, they must miss."""
    same_key = cache.training_key(models["functional"], CV1) == cache.training_key(
        models["reference"], CV1
    )
    first = training.train(models["reference"], CV1, verbose=0)
    second = training.train(models["functional"], CV1, verbose=0)
    same_numbers = (first.losses, first.accuracy, first.confusion) == (
        second.losses,
        second.accuracy,
        second.confusion,
    )
    assert same_numbers, f"keras {keras.__version__} trains them differently: they must miss"
    assert same_key


def test_a_corrupt_entry_is_a_miss_and_is_written_anew(tmp_path):
    store = cache.Cache(tmp_path)
    result = TrainingResult(initial_loss=2.3, losses=[1.0, 0.5], accuracy=0.9)
    store.put("ab" * 32, result)
    (entry,) = tmp_path.glob("*/*.json")
    entry.write_text("{ not json")
    assert store.get("ab" * 32) is None and not entry.exists()
    store.put("ab" * 32, result)
    assert store.get("ab" * 32).to_json() == result.to_json()  # NaN fields: compared as text


def test_the_cache_log_counts_each_caches_hits():
    log = "".join(
        f"{lookup_line(kind, hit, lab)}\n"
        for kind, hit, lab in (
            ("training", True, "cv1_mnist_intro"),
            ("training", False, "cv3_mnist_cnn"),
            ("harvest", True, "cv3_mnist_cnn"),
            ("training", True, "cv4_cifar_cnn"),
        )
    )
    assert bench.hit_rates(log) == (
        "harvest cache 1 hits of 1 (100%), training cache 2 hits of 3 (67%)"
    )
    assert bench.hit_rates("") == "no cache lookups"


def test_faults_and_limits_are_never_kept():
    assert not cache.cacheable(TrainingResult(grader_error="the server is gone"))
    assert not cache.cacheable(TrainingResult(error="used more than 600 s", limited=True))
    assert cache.cacheable(TrainingResult(error="the loss is NaN"))  # the model's own doing


def test_the_least_recently_used_entries_go_first(tmp_path):
    result = TrainingResult(losses=[0.1] * 10)
    store = cache.Cache(tmp_path, max_bytes=3 * len(result.to_json()))  # room for three
    for number in range(6):
        store.put(f"{number:02d}" * 32, result)
        store.get("00" * 32)  # kept in use
    entries = list(tmp_path.glob("*/*.json"))
    kept = {path.stem[:2] for path in entries}
    assert "00" in kept and "01" not in kept
    assert len(entries) == 3


def test_a_class_gets_the_same_grades_cold_warm_and_without_the_cache(tmp_path, monkeypatch):
    classroom = tmp_path / "class"
    for student, folder in (
        ("reference", REFERENCE),
        ("stubs", EXERCISES),
        ("equivalent", SUBMISSIONS / "equivalent"),
    ):
        shutil.copytree(folder, classroom / student)
    kept = tmp_path / "kept"
    runs, logs, harvests = {}, {}, {}
    for name, setting in (("cold", kept), ("warm", kept), ("off", cache.OFF)):
        log = tmp_path / f"{name}.log"
        monkeypatch.setenv(CACHE_LOG_ENV, str(log))  # the batch's workers inherit it
        options = Options(course=ROOT, cache=str(setting), labs=LABS)
        classrun.run(classroom, tmp_path / name, options, workers=2, force=True, progress=False)
        runs[name] = by_student(tmp_path / name)
        lines = log.read_text().splitlines() if log.exists() else []
        logs[name] = sorted(line for line in lines if line.startswith("training "))
        harvests[name] = {line.split()[1] for line in lines if line.startswith("harvest ")}
    assert runs["cold"] == runs["warm"] == runs["off"]
    assert harvests == {"cold": {"miss"}, "warm": {"hit"}, "off": set()}
    # The stubs train nothing; the others' runs are each looked up once, and found when warm.
    trained = sorted([*LABS, *LABS])  # the reference's and the equivalent's
    assert sorted(line.split()[2] for line in logs["cold"]) == trained
    assert logs["warm"] == [f"training hit {lab}" for lab in trained]
    assert {f"training miss {lab}" for lab in LABS} <= set(logs["cold"])
    assert logs["off"] == []
    assert runs["cold"]["reference"]["score"] == runs["cold"]["reference"]["max_score"] == 25
    # The reference's two runs, and the equivalent's where its model is not the same one.
    assert 2 <= len(list(kept.glob("*/*.json"))) <= 4


def test_a_hostile_submission_cannot_read_or_plant_an_entry(tmp_path):
    """The cache is the grader's: a lab's child sees neither the folder nor its files."""
    kept = tmp_path / "kept"
    secret = kept / "se" / ("se" * 32 + ".json")
    secret.parent.mkdir(parents=True)
    secret.write_text('{"losses": [0.0], "accuracy": 1.0}')
    planted = kept / "pl" / ("pl" * 32 + ".json")
    source = (REFERENCE / "cv1_mnist_intro.py").read_text()
    attack = source + (
        "\n\ndef _attack():\n"
        "    import os\n"
        f"    for path in ({str(secret)!r},):\n"
        "        try:\n"
        "            print('READ', open(path).read())\n"
        "            raise SystemExit('read the cache')\n"
        "        except OSError:\n"
        "            pass\n"
        "    try:\n"
        f"        os.makedirs({str(planted.parent)!r}, exist_ok=True)\n"
        f"        open({str(planted)!r}, 'w').write('{{}}')\n"
        "    except OSError:\n"
        "        pass\n"
        "\n\n_attack()\n"
    )
    submission = tmp_path / "class" / "mallory"
    submission.mkdir(parents=True)
    (submission / "cv1_mnist_intro.py").write_text(attack)
    options = Options(course=ROOT, cache=str(kept), labs=("cv1_mnist_intro",))
    classrun.run(submission.parent, tmp_path / "out", options, workers=1, progress=False)
    results = json.loads((tmp_path / "out" / "results" / "mallory.json").read_text())
    assert results["score"] == results["max_score"]  # the attack found nothing, cost nothing
    assert not planted.exists()


def test_a_cache_where_entries_cannot_be_marked_as_used_is_still_read(tmp_path, monkeypatch):
    """A read-only cache folder: its entries serve, though none can be marked as used."""
    kept = cache.Cache(tmp_path / "cache")
    kept.put("ab" * 32, TrainingResult(losses=[2.3, 1.1], accuracy=0.9))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(Path, "touch", refuse)
    monkeypatch.setattr("os.utime", refuse)
    found = kept.get("ab" * 32)
    assert found is not None and found.losses == [2.3, 1.1]
