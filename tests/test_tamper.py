"""Tamper evidence: a submission that replaces the grader's saving functions loses its lab."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import COURSE

from labkit.sandbox import harvest, isolation, runner, tamper
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

ROOT = Path(__file__).resolve().parents[1]
TAMPER = ROOT / "tests" / "submissions" / "tamper"
CV1 = COURSE.lab("cv1_mnist_intro")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[isolation.Server]:
    with runner.start_server(tmp_path_factory.mktemp("work")) as server:
        yield server


def harvested(server: isolation.Server, module: Path, lab: Lab = CV1) -> runner.Harvest:
    workdir = Path(tempfile.mkdtemp(dir=server.workdir))  # the server sees only its own folder
    return runner.run(lab, module, workdir, Limits(), server)


@pytest.mark.parametrize(
    ("module", "changed"),
    [
        ("replace_save.py", "keras.Model.save"),
        ("rewrite_code.py", "keras.src.layers.core.dense.Dense.get_config"),
        ("patch_json_dumps.py", "json.dumps"),
        ("patch_in_build_model.py", "numpy.savez"),
    ],
)
def test_patching_the_graders_libraries_fails_the_whole_lab(server, tmp_path, module, changed):
    result = harvested(server, TAMPER / module)
    causes = {result.fault(step) for step in ("import", *CV1.functions)}
    # One cause for every check, even preprocess, which ran before build_model() patched.
    assert len(causes) == 1, causes
    (cause,) = causes
    assert cause is not None
    assert cause.message.startswith(tamper.MESSAGE) and changed in cause.message, cause.message
    assert cause.short == tamper.MESSAGE
    assert result.problem == ""


@pytest.mark.parametrize("lab", sorted(COURSE.labs))
def test_reference_harvests_without_tripping_the_seal(server, tmp_path, lab):
    result = harvested(server, ROOT / "reference" / f"{lab}.py", COURSE.lab(lab))
    assert result.problem == ""
    for step in ("import", *COURSE.lab(lab).functions):
        assert result.step(step).status == harvest.OK, result.step(step).message


def test_equivalent_submission_harvests_without_tripping_the_seal(server, tmp_path):
    module = ROOT / "tests" / "submissions" / "equivalent" / "cv4_cifar_cnn.py"
    result = harvested(server, module, COURSE.lab("cv4_cifar_cnn"))
    for step in ("import", *COURSE.lab("cv4_cifar_cnn").functions):
        assert result.step(step).status == harvest.OK, result.step(step).message
