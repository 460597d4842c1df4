"""A fault of the grader is never told as the student's: it is "could not grade".

A crash or stall of the grader's own training, a dataset that cannot be read, an exception
inside a check and a fork server that is gone each give a result of their own: no FAIL and
no hint about the student's code, exit status 3, ``could not grade`` in the results file, an
error in JUnit, and a gradebook row that a rerun grades again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from xml.etree import ElementTree

import keras
import pytest
from conftest import COURSE, REFERENCE, labkit_grade

from labkit.batch import classrun
from labkit.batch.worker import Done
from labkit.judge import checks
from labkit.report import checkresults
from labkit.report.gradebook import FINAL, UNGRADED
from labkit.sandbox import forkserver, runner, trainer
from labkit.sandbox.training import TrainingResult
from labkit.spec.failures import CheckFailed, GraderFault
from labkit.spec.limits import Limits

CV1 = COURSE.lab("cv1_mnist_intro")
TYPO_CHECK = '''

    @pytest.mark.check("typo", points=1)
    def test_typo(self, harvest: Harvest) -> None:
        """A check whose author mistyped a key"""
        {"accuracy": 1}["acuracy"]
'''


def test_an_exception_inside_a_check_is_the_graders_fault(stripes_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)
    grader = course / "graders" / "test_stripes.py"
    grader.write_text(grader.read_text() + TYPO_CHECK)
    results, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    finished = labkit_grade(
        *("--course", str(course), "--submission", str(course / "reference")),
        *("--results", str(results), "--junitxml", str(junit)),
    )
    assert finished.returncode == 3, finished.stdout[-3000:]
    found = json.loads(results.read_text())
    (typo,) = [test for test in found["tests"] if test["tags"][1] == "typo"]
    assert typo["tags"] == ["stripes", "typo", checkresults.COULD_NOT_GRADE]
    assert typo["score"] == 0 and typo["status"] == "failed"
    assert typo["output"].startswith("could not grade: the grader's check stopped with KeyError")
    assert "not in your code" in typo["output"]
    others = [test for test in found["tests"] if test is not typo]
    assert all(test["status"] == "passed" for test in others)
    assert "could not grade 1 check" in found["output"]
    assert found["extra_data"] == {
        checkresults.COULD_NOT_GRADE: ["stripes: A check whose author mistyped a key"]
    }
    assert "----  typo" in finished.stdout and "FAIL" not in finished.stdout
    case = ElementTree.parse(junit).find(".//testcase[@name='A check whose author mistyped a key']")
    assert case is not None and case.find("error") is not None and case.find("failure") is None


def test_a_dataset_that_cannot_be_read_costs_only_its_own_labs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist.npz").symlink_to(Path(os.environ["LABKIT_DATA"]) / "mnist.npz")
    (data / "cifar10.npz").write_bytes(b"not a zip file")
    results = tmp_path / "results.json"
    finished = labkit_grade(
        *("--submission", str(REFERENCE), "--results", str(results)),
        *("--lab", "cv1_mnist_intro", "--lab", "cv4_cifar_cnn"),
        timeout=900,
        LABKIT_DATA=str(data),
    )
    assert finished.returncode == 3, finished.stdout[-3000:] + finished.stderr[-3000:]
    found = json.loads(results.read_text())
    mnist = [test for test in found["tests"] if test["tags"][0] == "cv1_mnist_intro"]
    cifar = [test for test in found["tests"] if test["tags"][0] == "cv4_cifar_cnn"]
    assert mnist and all(test["status"] == "passed" for test in mnist)
    assert cifar and all(checkresults.COULD_NOT_GRADE in test["tags"] for test in cifar)
    assert "cifar10.npz is not a readable .npz file" in cifar[0]["output"]


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The lab's own model and one with four times its computation, compiled and saved."""
    folder = tmp_path_factory.mktemp("models")
    found = {}
    for name, units in (("lab", 128), ("four_times", 512)):
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28)),
                keras.layers.Flatten(),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        found[name] = folder / f"{name}.keras"
        model.save(found[name])
    return found


@pytest.mark.parametrize(
    ("code", "model", "fault", "said"),
    [
        (forkserver.EXIT_CRASHED, "lab", "grader", "training process failed (exit status 70)"),
        (None, "lab", "grader", "training process failed"),
        (-signal.SIGXCPU, "lab", "grader", "limits are too tight for this machine"),
        (-signal.SIGKILL, "lab", "grader", "limits are too tight for this machine"),
        (-signal.SIGXCPU, "four_times", "submission", "about 4.0 times the computation"),
        (-signal.SIGKILL, "four_times", "submission", "more than 4 GiB of memory"),
    ],
)
def test_a_failed_training_run_is_blamed_on_whoever_caused_it(
    saved_models, tmp_path, code, model, fault, said
):
    result = trainer.Trainer(None, Limits())._explain(
        code, saved_models[model], CV1, tmp_path / "output.txt"
    )
    blamed = result.grader_error if fault == "grader" else result.error
    assert said in blamed
    assert not (result.error if fault == "grader" else result.grader_error)


def test_a_grader_error_in_training_is_not_a_failed_check():
    with pytest.raises(GraderFault, match="training run failed: it stalled"):
        checks.training(TrainingResult(grader_error="it stalled"), CV1)
    with pytest.raises(CheckFailed, match="could not train your model: NaN"):
        checks.accuracy(TrainingResult(error="NaN"), CV1)


def test_a_fork_server_that_is_gone_is_the_graders_fault(tmp_path):
    with runner.start_server(tmp_path / "work", data=[CV1.dataset]) as server:
        fork_server = server.warm()
        fork_server.ready.wait(forkserver.STARTUP_SECONDS)
        assert fork_server._process is not None
        fork_server._process.kill()
        fork_server._process.wait()
        harvest = runner.run(
            CV1, REFERENCE / "cv1_mnist_intro.py", tmp_path / "work", Limits(), server
        )
    assert "stopped before it could run this lab" in harvest.grader_problem
    with pytest.raises(GraderFault):
        harvest.require("build_model")


def test_a_batch_row_that_could_not_be_graded_is_graded_again(tmp_path):
    results = checkresults.results_json(
        [
            checkresults.CheckResult("stripes", "structure", "Layers", 2, True),
            checkresults.CheckResult(
                "stripes", "training", "Training", 1, False, "could not grade: x", ungraded=True
            ),
        ],
        seconds=1.0,
    )
    row = classrun._row(Done("alice", results), ["stripes"], [])
    assert row.status == UNGRADED and "stripes: Training" in row.reason
    assert row.status not in FINAL
    (tmp_path / "results").mkdir()
    (tmp_path / "state").mkdir()
    checkresults.write_json(tmp_path / "results" / "alice.json", results)
    checkresults.write_json(tmp_path / "state" / "alice.json", {"hash": "h", "row": row.__dict__})
    assert classrun._kept_row(tmp_path, "alice", "h") is None
