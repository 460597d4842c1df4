"""Tamper evidence: a submission that replaces the grader's saving functions loses its lab."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import COURSE

from labkit.sandbox import harvest, isolation, records, runner, tamper
from labkit.spec.failures import CheckFailed
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

ROOT = Path(__file__).resolve().parents[1]
TAMPER = ROOT / "tests" / "submissions" / "tamper"
ATTACKS = ROOT / "tests" / "submissions" / "attacks"
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


def test_rewritten_files_are_named_and_not_graded_without_the_sandbox(tmp_path):
    """With no collector to take each step's files, a rewritten file is caught by its digest."""
    with isolation.Server(tmp_path / "work", "off") as server:
        result = runner.run(
            CV1, ATTACKS / "forge_own_files.py", tmp_path / "work", Limits(), server
        )
    assert result.lost == {"preprocess.npy", "build_model.keras"}
    with pytest.raises(CheckFailed) as lost:
        result.file("preprocess.npy")
    assert str(lost.value).startswith(f"{tamper.FORGED}: preprocess.npy was rewritten after")
    assert result.step("compile_model").status == harvest.OK and not result.forged


def events(key: str, *steps: tuple[str, str], start: int = 0) -> list[str]:
    """The harvest's own event lines for ``steps``, each (step, status), signed with ``key``."""
    lines = []
    for number, (step, status) in enumerate(steps, start):
        event = {"seq": number, "step": step, "status": status, "message": "", "files": {}}
        lines.append(json.dumps({**event, "mac": records.signature(key, event)}))
    return lines


def test_the_record_stops_at_the_first_event_the_harvest_did_not_write():
    begun = events("k", ("import", "started"), ("import", "ok"))
    whole = begun + events("k", ("preprocess", "started"), ("preprocess", "ok"), start=2)
    assert records.read(whole, "k", CV1, collected=True).forged == ""
    unsigned = begun + events("not the key", ("preprocess", "started"), start=2)
    record = records.read(unsigned, "k", CV1, collected=True)
    assert record.forged == "a line between calls that the harvest did not write"
    assert set(record.steps) == {"import"}
    early = events("k", ("import", "started"), ("preprocess", "ok"))
    said = records.read(early, "k", CV1, collected=True).forged
    assert said == "'preprocess ok' on import, which the harvest never writes"
    skipped = begun + events("k", ("build_model", "started"), start=2)
    assert "'build_model started' between calls" in records.read(skipped, "k", CV1, True).forged
    finding = {"file": "x", "what": records.REWRITTEN, "step": "import"}
    line = json.dumps({records.COLLECTOR: finding})
    assert records.read([line], "k", CV1, collected=True).findings == [("x", "rewritten", "import")]
    assert "in the name of the grader" in records.read([line], "k", CV1, collected=False).forged


def test_the_harvests_own_failure_is_its_last_line_and_only_in_its_name():
    begun = events("k", ("import", "started"))
    crashed = {"seq": 1, "step": records.CRASHED, "status": "error", "message": "OSError: full"}
    crashed["files"] = {}
    signed = json.dumps({**crashed, "mac": records.signature("k", crashed)})
    record = records.read([*begun, signed, *events("k", ("import", "ok"), start=2)], "k", CV1, True)
    assert (record.crashed, record.forged, set(record.steps)) == ("OSError: full", "", {"import"})
    forged = records.read([*begun, *events("guess", (records.CRASHED, "error"))], "k", CV1, True)
    assert forged.crashed == "" and "did not write" in forged.forged


CRASHING_HARVEST = """
import sys
from pathlib import Path
import numpy as np
from labkit.sandbox import harvest
from labkit.spec.course import Course

def broken(*args):
    raise OSError("no space left on device")

harvest._harvest_steps = broken
folder = Path(sys.argv[1])
np.savez(folder / harvest.INPUTS)
lab = Course(Path(sys.argv[2])).lab("cv1_mnist_intro")
harvest.harvest(lab, folder / "cv1_mnist_intro.py", folder, folder, 1, key="k")
"""


def test_the_harvest_says_in_a_signed_line_when_its_own_code_fails(tmp_path):
    (tmp_path / "cv1_mnist_intro.py").write_text("")
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_HARVEST, str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "OSError" in done.stderr
    record = records.read(done.stdout.splitlines(), "k", CV1, collected=False)
    assert record.crashed == "OSError: no space left on device"


def test_code_that_exits_with_the_harvests_crash_status_is_told_as_its_own_exit(tmp_path):
    """Were it told as the grader's failure, a submission could turn its 0 into "could not
    grade" at will."""
    module = tmp_path / "cv1_mnist_intro.py"
    module.write_text("import os\n\nos._exit(70)\n")
    with isolation.Server(tmp_path / "work", "off") as server:
        result = runner.run(CV1, module, tmp_path / "work", Limits(), server)
    assert result.grader_problem == ""
    cause = result.fault("build_model")
    assert cause is not None and "exited with status 70" in cause.message


def test_a_labkit_folder_where_grading_runs_is_never_imported(tmp_path, monkeypatch):
    """A checkout graded in place may hold a ``labkit/`` of its own; the children ignore it."""
    planted = tmp_path / "checkout" / "labkit"
    planted.mkdir(parents=True)
    marker = tmp_path / "imported"
    (planted / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise SystemExit(9)\n"
    )
    monkeypatch.chdir(planted.parent)
    with isolation.Server(tmp_path / "work", "off") as server:
        result = runner.run(
            CV1, ROOT / "reference" / "cv1_mnist_intro.py", tmp_path / "work", Limits(), server
        )
    for step in ("import", *CV1.functions):
        assert result.step(step).status == harvest.OK, result.step(step).message
    assert not marker.exists()
