"""Where bubblewrap cannot run and the grader is root: each child as an unprivileged user.

The attacks run under ``--isolation user`` and each costs only its own lab. They need root
and a Python that other users may read (not one under /root), and are skipped, with the
reason, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import COURSE, REFERENCE, SUBMISSIONS, processes_with

from labkit.sandbox import harvest, isolation, runner, unprivileged
from labkit.spec.limits import Limits

ATTACKS = SUBMISSIONS / "attacks"
CV1 = COURSE.lab("cv1_mnist_intro")
CV3 = COURSE.lab("cv3_mnist_cnn")

pytestmark = pytest.mark.skipif(
    bool(unprivileged.unavailable_reason()),
    reason=f"no unprivileged user: {unprivileged.unavailable_reason()}",
)


@pytest.fixture(scope="module")
def server() -> Iterator[isolation.Server]:
    workdir = Path(tempfile.mkdtemp(prefix="labkit-test-user-"))  # /tmp: others may pass
    try:
        with isolation.Server(workdir, "user", data=[CV1.dataset, CV3.dataset]) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def grader_files() -> Iterator[tuple[Path, Path]]:
    """A course folder and a results folder, root's alone, as run_autograder leaves them."""
    top = Path(tempfile.mkdtemp(prefix="labkit-test-grader-"))
    source, results = top / "source", top / "results"
    shutil.copytree(REFERENCE, source / "reference")
    shutil.copytree(COURSE.graders, source / "graders")
    results.mkdir()
    (results / "output.txt").write_text("the grader's log")
    for folder in (top, source, results):
        folder.chmod(0o700)
    top.chmod(0o755)
    yield source, results
    shutil.rmtree(top, ignore_errors=True)


def attack(server: isolation.Server, module: Path, lab=CV1) -> runner.Harvest:
    workdir = Path(tempfile.mkdtemp(dir=server.workdir))
    return runner.run(lab, module, workdir, Limits(), server)


def reported(result: runner.Harvest) -> str:
    step = result.step("import")
    assert step.status == harvest.ERROR, step
    assert "attack: " in step.message, step.message
    return step.message.split("attack: ", 1)[1]


def test_required_falls_back_to_the_unprivileged_user_and_says_so(monkeypatch):
    monkeypatch.setattr(isolation, "unavailable_reason", lambda: "no namespaces here")
    assert isolation.sandbox("required") == isolation.USER
    assert not isolation.refusal("required")
    assert isolation.notice("required") == (
        "isolation: unprivileged user, since bubblewrap cannot run here (no namespaces here)"
    )
    assert isolation.main(["required"]) == 0


def test_the_reference_scores_as_an_unprivileged_user(server):
    result = attack(server, REFERENCE / "cv1_mnist_intro.py")
    assert all(step.status == harvest.OK for step in result.steps.values()), result.steps
    assert not result.problem and not result.grader_problem


def test_the_grader_files_results_and_other_labs_are_out_of_reach(server, grader_files):
    source, results = grader_files
    module = Path(tempfile.mkdtemp(dir=server.workdir)) / "cv1_mnist_intro.py"
    module.write_text(
        (ATTACKS / "as_user.py")
        .read_text()
        .replace('SOURCE = "/autograder/source"', f'SOURCE = "{source}"')
        .replace('RESULTS = "/autograder/results"', f'RESULTS = "{results}"')
    )
    sibling = []
    thread = threading.Thread(
        target=lambda: sibling.append(attack(server, REFERENCE / "cv3_mnist_cnn.py", CV3))
    )
    thread.start()
    said = reported(attack(server, module))
    thread.join()
    uid = int(said.split("; uid ")[1].split(";")[0])
    assert said.startswith("read []; wrote []; saw []; root False;"), said
    assert uid in unprivileged.uid_range() and "groups []" in said
    assert not (results / "results.json").exists()
    assert all(step.status == harvest.OK for step in sibling[0].steps.values())


def test_a_child_has_no_capability_and_no_way_to_gain_one(server, tmp_path):
    module = tmp_path / "cv1_mnist_intro.py"
    module.write_text(
        "status = open('/proc/self/status').read()\n"
        "fields = dict(line.split(':\\t', 1) for line in status.splitlines() if ':\\t' in line)\n"
        "raise RuntimeError('attack: ' + ' '.join(\n"
        "    fields[k].strip() for k in ('CapEff', 'CapPrm', 'NoNewPrivs', 'Uid')))\n"
    )
    said = reported(attack(server, module)).split(" (line")[0]
    effective, permitted, no_new_privs, *uids = said.split()
    assert int(effective, 16) == int(permitted, 16) == 0
    assert no_new_privs == "1"
    assert len(set(uids)) == 1 and int(uids[0]) in unprivileged.uid_range()


def test_nothing_of_the_grader_is_writable(server):
    result = attack(server, ATTACKS / "write_grader.py")
    assert reported(result).startswith("wrote []")


def test_nothing_it_starts_outlives_its_lab(server):
    result = attack(server, ATTACKS / "escape.py")
    assert result.step("preprocess").status == harvest.OK
    time.sleep(0.5)
    assert not processes_with("labkit-escape-marker")


def test_killing_all_it_may_costs_only_its_own_lab(server):
    sibling = []
    thread = threading.Thread(
        target=lambda: sibling.append(attack(server, REFERENCE / "cv3_mnist_cnn.py", CV3))
    )
    thread.start()
    attack(server, ATTACKS / "kill_all.py")  # Linux spares the caller of kill(-1) itself
    thread.join()
    assert all(step.status == harvest.OK for step in sibling[0].steps.values())
    assert server.warm().alive
    assert attack(server, REFERENCE / "cv1_mnist_intro.py").step("compile_model").status == "ok"


def test_each_child_has_a_user_no_other_child_has(server):
    users = unprivileged.Users.claim()  # another grading process on the same machine
    try:
        assert not set(users.uids) & set(server.users.uids)
    finally:
        users.release()


def test_without_cgroups_the_fallback_still_grades(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "CGROUP_ROOT", tmp_path / "no-cgroups")
    workdir = Path(tempfile.mkdtemp(prefix="labkit-test-user-"))
    try:
        with isolation.Server(workdir, "user", data=[CV1.dataset]) as server:
            assert not server.cgroups.folders
            result = attack(server, REFERENCE / "cv1_mnist_intro.py")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert all(step.status == harvest.OK for step in result.steps.values()), result.steps


def test_a_work_folder_others_cannot_enter_is_refused(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    with pytest.raises(isolation.IsolationUnavailable, match="cannot pass through"):
        isolation.Server(closed / "work", "user")
    assert os.stat(closed).st_mode & 0o777 == 0o700  # left as it was
