"""Tamper evidence: a submission that replaces the grader's saving functions loses its lab."""

from __future__ import annotations

import json
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
