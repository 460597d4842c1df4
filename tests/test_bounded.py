"""The grader's own work on what a submission left behind stays bounded.

Oversized models are refused from their JSON description before Keras builds anything,
training runs in a worker with time and memory limits, and huge notebooks are not converted.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import COURSE, REFERENCE

from labkit.judge import architecture
from labkit.sandbox import forkserver, harvest, runner, screen, trainer, training
from labkit.sandbox.screen import ModelRefused
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

CV1 = COURSE.lab("cv1_mnist_intro")
CV4 = COURSE.lab("cv4_cifar_cnn")


def layer(kind: str, build_shape: list | None = None, **config) -> dict:
    entry = {"module": "keras.layers", "class_name": kind, "config": {"name": kind, **config}}
    if build_shape is not None:
        entry["build_config"] = {"input_shape": build_shape}
    return entry


def sequential(input_shape: tuple[int, ...], *layers: dict) -> dict:
    inputs = layer("InputLayer", batch_shape=[None, *input_shape])
    return {"module": "keras", "class_name": "Sequential", "config": {"layers": [inputs, *layers]}}


def saved(path: Path, config: dict) -> Path:
    """A .keras file with this config and no weights: enough for the grader to refuse it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3"}))
        archive.writestr(screen.CONFIG, json.dumps(config))
    return path


def refusal(path: Path, lab: Lab, **options) -> str:
    with pytest.raises(ModelRefused) as refused:
        screen.screen(path, lab, **options)
    return str(refused.value)


def conv(filters: int, build_shape: list | None = None, **config) -> dict:
    kernel = {"kernel_size": [3, 3], "activation": "relu"}
    return layer("Conv2D", build_shape, filters=filters, **kernel, **config)


def test_many_filters_with_same_padding_are_refused_before_building(tmp_path):
    """889k parameters at full resolution: about 40 minutes of the grader's training."""
    config = sequential(
        (32, 32, 3),
        conv(128, padding="same"),
        conv(256, padding="same"),
        conv(256, padding="same"),
        layer("GlobalAveragePooling2D"),
        layer("Dense", units=10),
    )
    message = refusal(saved(tmp_path / "big.keras", config), CV4)
    assert "200 times the computation of this lab's model" in message
    assert "did not build or train it" in message
    assert "found Conv2D -> Conv2D -> Conv2D -> GlobalAveragePooling2D -> Dense" in message


def test_a_huge_dense_layer_is_refused(tmp_path):
    config = sequential((28, 28), layer("Flatten"), layer("Dense", units=600_000))
    message = refusal(saved(tmp_path / "wide.keras", config), CV1)
    assert "Layer 2 (Dense) has 600,000 units, far more than this lab uses (at most 128)" in message


def test_hidden_sizes_count_in_nested_models_and_saved_build_shapes(tmp_path):
    inner = {
        "class_name": "Sequential",
        "config": {"layers": [layer("Dense", [None, 28, 28], units=28)] * 20},
    }
    message = refusal(saved(tmp_path / "nested.keras", sequential((28, 28), inner)), CV1)
    assert "more than 16 layers" in message
    # Keras builds a layer from its saved build shape on loading: one that claims a huge
    # input is refused, whatever the layer is called with.
    lying = sequential((28, 28), layer("Flatten"), layer("Dense", [None, 10**7], units=128))
    message = refusal(saved(tmp_path / "lying.keras", lying), CV1)
    assert "declares the input of layer 2 (Dense) as (None, 10000000)" in message
    assert "make it (None, 784)" in message


def test_a_config_declared_at_2_gib_is_refused_without_reading_it(tmp_path):
    path = saved(tmp_path / "huge.keras", sequential((28, 28), layer("Flatten")))
    data = bytearray(path.read_bytes())
    # The central directory's record of config.json: its uncompressed size sits at offset 24.
    record = data.index(b"PK\x01\x02")
    while data[record + 46 : record + 57] != b"config.json":
        record = data.index(b"PK\x01\x02", record + 4)
    data[record + 24 : record + 28] = struct.pack("<I", 2**31)
    path.write_bytes(bytes(data))
    assert "config.json is 2,048.0 MB" in refusal(path, CV1)
    with pytest.raises(architecture.CheckFailed, match="holds 2,147,483,648 bytes"):
        architecture.compile_settings(path)


def test_config_cap_is_checked_before_parsing(tmp_path):
    path = saved(tmp_path / "ok.keras", sequential((28, 28), layer("Flatten")))
    assert "config.json is" in refusal(path, CV1, max_config_bytes=100)


def test_reference_models_pass_the_screen(tmp_path):
    for lab in COURSE.labs.values():
        spec = importlib.util.spec_from_file_location(lab.name, REFERENCE / f"{lab.name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        module.compile_model(model)
        model.save(tmp_path / f"{lab.name}.keras")
        screen.screen(tmp_path / f"{lab.name}.keras", lab)


@pytest.fixture(scope="module")
def cv1_reference(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("cv1", REFERENCE / "cv1_mnist_intro.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    module.compile_model(model)
    path = tmp_path_factory.mktemp("cv1") / "compiled.keras"
    model.save(path)
    return path


@pytest.mark.skipif(not forkserver.FORKS, reason="training runs in-process here")
def test_a_training_child_gets_the_same_numbers(cv1_reference, tmp_path):
    compiled = tmp_path / "harvest" / cv1_reference.name
    compiled.parent.mkdir()
    shutil.copyfile(cv1_reference, compiled)  # where a harvest leaves it, inside the run's folder
    with runner.start_server(tmp_path, data=[CV1.dataset]) as server:
        through_worker = trainer.Trainer(server, Limits()).train(
            compiled, CV1, tmp_path / "training"
        )
    in_process = training.train(cv1_reference, CV1, verbose=0)
    assert through_worker.error == "" and through_worker.grader_error == ""
    assert through_worker.losses == in_process.losses
    assert through_worker.accuracy == in_process.accuracy
    assert through_worker.initial_loss == in_process.initial_loss
    # The bench's profile: each epoch's steps, within the fit's wall time; CPU time of its own.
    epochs = through_worker.epoch_seconds
    assert len(epochs) == CV1.training.epochs and min(epochs) > 0
    assert sum(epochs) <= through_worker.fit_seconds
    assert through_worker.fit_cpu_seconds > 0


@pytest.mark.skipif(not forkserver.FORKS, reason="training runs in-process here")
def test_a_training_limit_too_tight_for_the_labs_own_model_is_not_the_students_fault(grade):
    graded = grade(REFERENCE / "cv1_mnist_intro.py", "--training-limit", "1")
    checks = graded.checks("cv1_mnist_intro")
    ungraded = {test["tags"][1] for test in checks if "could not grade" in test["tags"]}
    assert ungraded == {"training", "accuracy"}  # the hidden accuracy check too
    assert all(test["status"] == "passed" for test in checks if test["tags"][1] not in ungraded)
    said = graded.output("cv1_mnist_intro", "training")
    assert "a model of this lab's size used more than 1 s of CPU time" in said
    assert "Raise --training-limit" in said
    assert graded.score("cv1_mnist_intro") == (8, 11)


def test_a_huge_notebook_is_refused_before_conversion(tmp_path):
    notebook = tmp_path / "cv1_mnist_intro.ipynb"
    cell = {"cell_type": "markdown", "metadata": {}, "source": "x" * (6 * 2**20)}
    notebook.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}))
    result = runner.run(CV1, notebook, tmp_path / "work", Limits())
    assert result.problem.startswith("cv1_mnist_intro.ipynb is 6.0 MB, more than the 5 MB")
    assert "Clear All Outputs" in result.problem
    assert not list((tmp_path / "work" / CV1.name / "in").iterdir())


def talked_down(resize: dict) -> dict:
    """A layer that scales the images up, then convolutions that say they see 8x8 images.

    At 128x128, the two convolutions need about 70 times the lab's computation; each layer
    after the first saves a build shape that claims a small input.
    """
    return sequential(
        (32, 32, 3),
        resize,
        conv(32, [None, 8, 8, 3], padding="same"),
        conv(64, [None, 8, 8, 32], padding="same"),
        layer("GlobalAveragePooling2D", [None, 8, 8, 64]),
        layer("Dense", [None, 64], units=10),
    )


def test_a_layer_the_screen_does_not_know_is_refused_as_unbounded(tmp_path):
    resize = layer("Resizing", height=128, width=128, interpolation="bilinear")
    message = refusal(saved(tmp_path / "resized.keras", talked_down(resize)), CV4)
    assert "layer 1 (Resizing)" in message and "does not know" in message
    assert "did not build or train the model" in message


def test_shapes_are_computed_not_read_from_saved_build_shapes(tmp_path):
    """A layer it knows, scaling by 4: the build shapes after it are refused as lies."""
    upsample = layer("UpSampling2D", size=[4, 4])
    message = refusal(saved(tmp_path / "upsampled.keras", talked_down(upsample)), CV4)
    assert "declares the input of layer 2 (Conv2D) as (None, 8, 8, 3)" in message
    assert "make it (None, 128, 128, 3)" in message
    honest = talked_down(upsample)
    for entry in honest["config"]["layers"]:
        entry.pop("build_config", None)
    message = refusal(saved(tmp_path / "honest.keras", honest), CV4)
    assert "70 times the computation of this lab's model" in message


def test_a_saved_tensor_shape_in_a_functional_model_counts_for_nothing(tmp_path):
    """Functional models save each call's input shape; the screen follows the layers instead."""

    def called(name: str, entry: dict, source: str | None, shape: list | None) -> dict:
        entry["config"]["name"] = name
        history = {"shape": shape, "keras_history": [source, 0, 0]}
        args = [{"class_name": "__keras_tensor__", "config": history}] if source else []
        return {**entry, "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]}

    def model(shapes: dict) -> dict:
        layers = [
            called("in", layer("InputLayer", batch_shape=[None, 32, 32, 3]), None, None),
            called("up", layer("UpSampling2D", size=[4, 4]), "in", [None, 32, 32, 3]),
            called("c1", conv(32, padding="same"), "up", shapes["up"]),
            called("c2", conv(64, padding="same"), "c1", shapes["c1"]),
            called("pool", layer("GlobalAveragePooling2D"), "c2", shapes["c2"]),
            called("out", layer("Dense", units=10), "pool", [None, 64]),
        ]
        config = {
            "layers": layers,
            "input_layers": [["in", 0, 0]],
            "output_layers": [["out", 0, 0]],
        }
        return {"class_name": "Functional", "config": config}

    lies = {"up": [None, 8, 8, 3], "c1": [None, 8, 8, 32], "c2": [None, 8, 8, 64]}
    message = refusal(saved(tmp_path / "lying.keras", model(lies)), CV4)
    assert "declares the output of 'up' as (None, 8, 8, 3)" in message
    unsaid = dict.fromkeys(lies)  # no saved shapes at all: the computed ones alone
    message = refusal(saved(tmp_path / "unsaid.keras", model(unsaid)), CV4)
    assert "70 times the computation" in message


CV2 = COURSE.lab("cv2_fashion_mnist_intro")


def harvested(folder: Path, lab: Lab, *ok: str) -> runner.Harvest:
    """A harvest whose steps ``ok`` succeeded, reading what ``folder`` holds."""
    steps = {name: runner.Step(harvest.OK) for name in ("import", *ok)}
    return runner.Harvest(lab, folder / f"{lab.name}.py", folder, steps=steps)


def test_what_a_child_left_is_read_back_only_within_what_it_can_need(tmp_path):
    """8 MiB of empty objects would take the grader about 200 MB to parse; it reads none."""
    flood = "[" + ",".join(["{}"] * (8 * 2**20 // 3)) + "]"
    for name in ("plot_samples.json", "CLASS_NAMES.json"):
        (tmp_path / name).write_text(flood)
    result = harvested(tmp_path, CV2, "plot_samples", "CLASS_NAMES")
    tracemalloc.start()
    try:
        for name in ("plot_samples", "CLASS_NAMES"):
            with pytest.raises(architecture.CheckFailed) as refused:
                result.result(name)
            assert "so the grader did not read it" in str(refused.value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert "CLASS_NAMES came to 8.0 MB, more than the 10 KB" in str(refused.value)


def test_an_array_is_read_back_only_within_the_labs_shapes(tmp_path):
    """A header that declares a billion numbers is refused before NumPy allocates them."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    with (tmp_path / "preprocess.npy").open("wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        file.write(b"\0" * 64)
    with pytest.raises(
        architecture.CheckFailed, match=re.escape("preprocess() came to 7,629.4 MB")
    ):
        harvested(tmp_path, CV1, "preprocess").result("preprocess")


def test_a_picture_that_decodes_huge_is_not_kept(tmp_path):
    outputs, kept = tmp_path / "out", tmp_path / "harvest"
    outputs.mkdir()
    kept.mkdir()
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
    (outputs / "plot_samples.png").write_bytes(png + struct.pack(">II", 100_000, 100_000))
    (outputs / "plot_history.png").write_bytes(png + struct.pack(">II", 720, 720))
    (outputs / "other.png").write_bytes(b"GIF89a" + b"\0" * 32)
    runner._keep(outputs, kept)
    assert sorted(path.name for path in kept.iterdir()) == ["plot_history.png"]
