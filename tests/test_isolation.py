"""The hostile suite: each attack on the grader, run in the sandbox, costs only its own lab.

Every attack module in ``submissions/attacks`` reports what it managed as its import
error; inside the sandbox that is nothing. They need bubblewrap, and are skipped, with the
reason, where it cannot run.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import COURSE, EXERCISES, REFERENCE, ROOT, SUBMISSIONS, processes_with

from labkit.sandbox import cgroups, confine, harvest, isolation, runner, tamper
from labkit.spec.limits import Limits

ATTACKS = SUBMISSIONS / "attacks"
CV1 = COURSE.lab("cv1_mnist_intro")
SECRET = "LABKIT_TEST_SECRET"

pytestmark = pytest.mark.skipif(
    bool(isolation.unavailable_reason()),
    reason=f"{isolation.UNAVAILABLE}: {isolation.unavailable_reason()}",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[isolation.Server]:
    os.environ[SECRET] = "the grader's password"  # set before the server starts, as CI would
    _session_keyring()  # the grader has one, as CI tools that store tokens give it
    try:
        with isolation.Server(tmp_path_factory.mktemp("work"), "required") as server:
            yield server
    finally:
        del os.environ[SECRET]


def attack(server: isolation.Server, module: Path, **limits: float) -> runner.Harvest:
    workdir = Path(tempfile.mkdtemp(dir=server.workdir))
    return runner.run(CV1, module, workdir, Limits(**limits), server)


def reported(result: runner.Harvest) -> str:
    """What the attack module said it managed, from its import error."""
    step = result.step("import")
    assert step.status == harvest.ERROR, step
    assert "attack: " in step.message, step.message
    return step.message.split("attack: ", 1)[1]


def test_a_lab_sees_and_writes_only_its_own_folders(server):
    result = attack(server, ATTACKS / "forge_sibling.py")
    assert reported(result).startswith("wrote []; saw ['cv1_mnist_intro']")


def test_nothing_of_the_grader_is_writable(server):
    planted = [ROOT / "graders" / "conftest.py", ROOT / "labkit" / "attack.py"]
    result = attack(server, ATTACKS / "write_grader.py")
    assert reported(result).startswith("wrote []")
    assert not any(path.exists() for path in planted)


def test_the_reference_graders_and_secrets_are_out_of_reach(server):
    result = attack(server, ATTACKS / "read_reference.py")
    assert reported(result).startswith("read []; secrets []")
    reference = (REFERENCE / "cv4_cifar_cnn.py").read_text()
    assert reference.splitlines()[0] not in result.step("import").message


def test_there_is_no_network(server, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    module = tmp_path / "network.py"
    module.write_text((ATTACKS / "network.py").read_text().replace("PORT = 0", f"PORT = {port}"))
    received: list[bytes] = []

    def accept() -> None:
        try:
            connection, _ = listener.accept()
            received.append(connection.recv(100))
        except OSError:
            pass

    waiting = threading.Thread(target=accept)
    waiting.start()
    result = attack(server, module)
    listener.close()
    waiting.join()
    assert reported(result).startswith("connected []")
    assert received == []


def test_nothing_it_starts_outlives_its_lab(server):
    result = attack(server, ATTACKS / "escape.py")
    assert result.step("preprocess").status == harvest.OK
    time.sleep(0.5)
    assert not processes_with("labkit-escape-marker")


def test_killing_its_parent_costs_only_its_own_lab(server):
    def reference_cv3() -> runner.Harvest:
        workdir = Path(tempfile.mkdtemp(dir=server.workdir))
        lab = COURSE.lab("cv3_mnist_cnn")
        return runner.run(lab, REFERENCE / f"{lab.name}.py", workdir, Limits(), server)

    sibling = threading.Thread(target=lambda: outcomes.append(reference_cv3()))
    outcomes: list[runner.Harvest] = []
    sibling.start()
    attack(server, ATTACKS / "kill_parent.py")
    sibling.join()
    assert all(step.status == harvest.OK for step in outcomes[0].steps.values())
    assert server.warm().alive
    assert reference_cv3().step("compile_model").status == harvest.OK  # the server still serves


def test_a_server_first_started_by_a_passing_thread_outlives_it(tmp_path):
    """A batch worker's server starts with the first harvest that must run, in that harvest's
    thread, which ends with the run; bubblewrap's --die-with-parent follows the thread that
    started it, not the process."""
    with isolation.Server(tmp_path / "work", "required", data=[CV1.dataset]) as server:
        assert not server.started  # nothing ran yet, so nothing imported TensorFlow
        passing = threading.Thread(target=lambda: attack(server, REFERENCE / "cv1_mnist_intro.py"))
        passing.start()
        passing.join()
        assert server.started
        time.sleep(1)  # time for a server that dies with the thread to be gone
        assert server.warm().alive
        later = attack(server, REFERENCE / "cv1_mnist_intro.py")
        assert later.step("compile_model").status == harvest.OK, later.problem


@pytest.mark.skipif(
    not isolation.Cgroups.usable(),
    reason="no cgroup this user may create: memory is capped per process only",
)
def test_memory_is_capped_for_the_whole_tree(server):
    result = attack(server, ATTACKS / "memory_fanout.py", memory_bytes=3 * 2**30)
    if result.step("import").status == harvest.ERROR:
        alive = int(reported(result).split(" of ")[0])
        assert alive <= 2, reported(result)  # 3 GiB for the lab: never six 1 GiB blocks at once
    else:
        assert "killed" in result.problem, result.problem


def test_a_lab_cannot_raise_its_own_limits(server):
    result = attack(server, ATTACKS / "raise_limits.py")
    assert reported(result).startswith("changed []")


def test_the_output_folder_is_capped_in_bytes_and_files(server):
    result = attack(server, ATTACKS / "fill_disk.py")
    mebibytes, files = re.match(r"(\d+) MiB, (\d+) small files", reported(result)).groups()
    assert int(mebibytes) <= confine.OUTPUT_BYTES // 2**20
    assert int(files) < confine.OUTPUT_FILES
    kept = result.folder
    assert sum(path.stat().st_size for path in kept.iterdir()) <= runner.MAX_UNPACKED_BYTES


@pytest.mark.skipif(platform.machine() not in confine.KEYCTL_SYSCALLS, reason="no keyctl here")
def test_a_lab_has_a_session_keyring_of_its_own(server):
    result = attack(server, ATTACKS / "session_keyring.py")
    assert reported(result).split()[2] != str(_session_keyring())


def test_a_hostile_run_grades_every_other_lab_and_keeps_its_results(grade, tmp_path):
    """A forger and a results rewriter beside a correct lab and an untouched stub."""
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copyfile(ATTACKS / "forge_sibling.py", submission / "cv1_mnist_intro.py")
    shutil.copyfile(ATTACKS / "rewrite_results.py", submission / "cv2_fashion_mnist_intro.py")
    shutil.copyfile(REFERENCE / "cv3_mnist_cnn.py", submission / "cv3_mnist_cnn.py")
    shutil.copyfile(EXERCISES / "cv4_cifar_cnn.py", submission / "cv4_cifar_cnn.py")
    graded = grade(submission, "--isolation", "required")
    assert graded.score("cv1_mnist_intro")[0] == 0
    assert "wrote []" in graded.output("cv1_mnist_intro", "submission")
    assert graded.score("cv2_fashion_mnist_intro")[0] == 0
    assert graded.score("cv3_mnist_cnn") == (11, 11)
    assert graded.score("cv4_cifar_cnn") == (0, 14)
    assert graded.results["score"] == 11
    time.sleep(2)  # the rewriter, had it survived, writes five times a second
    assert json.loads(graded.path.read_text()) == graded.results


@pytest.mark.skipif(
    not isolation.Cgroups.usable() or cgroups.locate()[0].usage[0] not in cgroups.locate()[1],
    reason="no cgroup this user may create, or none that counts CPU time",
)
def test_a_tree_of_spinners_costs_only_its_own_lab(grade, tmp_path):
    """A hundred spinning processes in the last lab, while the grader trains the others."""
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copyfile(REFERENCE / "cv1_mnist_intro.py", submission / "cv1_mnist_intro.py")
    shutil.copyfile(REFERENCE / "cv3_mnist_cnn.py", submission / "cv3_mnist_cnn.py")
    shutil.copyfile(ATTACKS / "cpu_fanout.py", submission / "cv4_cifar_cnn.py")
    labs = [
        arg
        for lab in ("cv1_mnist_intro", "cv3_mnist_cnn", "cv4_cifar_cnn")
        for arg in ("--lab", lab)
    ]
    limits = ["--time-limit", "10", "--wall-limit", "300"]
    graded = grade(submission, "--isolation", "required", *labs, *limits)
    assert graded.score("cv1_mnist_intro") == (11, 11)
    assert graded.score("cv3_mnist_cnn") == (11, 11)
    assert graded.score("cv4_cifar_cnn") == (0, 14)
    said = graded.output("cv4_cifar_cnn", "submission")
    assert "used more than 10 s of CPU time, its processes together" in said, said


NESTED_GRADER = """
import json, sys
from pathlib import Path

for procs in sys.argv[4:]:
    Path(procs).write_text("0")  # the operator's cgroups, joined before anything starts
from labkit.sandbox import isolation, runner
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

workdir, module, memory = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
lab = Lab.from_json(json.loads(sys.stdin.read()))
with isolation.Server(workdir, "required", data=[lab.dataset]) as server:
    server.warm().ready.wait(300)
    # The operator's limit: what the grader and its server use, and 512 MiB more.
    used = int((memory / "memory.usage_in_bytes").read_text())
    (memory / "memory.limit_in_bytes").write_text(str(used + 2**29))
    result = runner.run(lab, module, workdir, Limits(), server)
    folders = {name: str(folder) for name, folder in server.cgroups.folders.items()}
print(json.dumps({"folders": folders, "said": [result.problem, result.grader_problem]}))
"""


@pytest.mark.skipif(
    not isolation.Cgroups.usable() or cgroups.locate()[0] is not cgroups.V1,
    reason="no cgroup v1 hierarchy this user may create cgroups in",
)
def test_a_labs_cgroup_is_nested_in_the_graders_own(tmp_path):
    """The grader runs in a cgroup an operator limited; its labs stay within that limit."""
    _, own = cgroups.locate()
    parents = {name: folder / f"labkit-test-operator-{os.getpid()}" for name, folder in own.items()}
    for folder in dict.fromkeys(parents.values()):
        folder.mkdir()
    try:
        procs = [str(folder / "cgroup.procs") for folder in dict.fromkeys(parents.values())]
        command = [sys.executable, "-c", NESTED_GRADER, str(tmp_path / "work")]
        command += [str(ATTACKS / "outgrow_grader.py"), str(parents["memory"]), *procs]
        done = subprocess.run(
            command, input=json.dumps(CV1.to_json()), capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.splitlines()[-1])
    finally:
        for folder in dict.fromkeys(parents.values()):
            _remove_cgroup(folder)
    for name, folder in report["folders"].items():
        assert Path(folder).parent == parents[name], (name, folder)
    assert set(report["folders"]) >= {"memory", "pids"}
    # 1 GiB is within the lab's own 4 GiB, not within what the operator left the grader:
    # the grader's fault, never the student's.
    problem, grader_problem = report["said"]
    assert problem == "" and "the system ran out of memory" in grader_problem, report["said"]


def test_values_too_large_to_read_back_cost_only_their_own_checks(grade, tmp_path):
    """Megabytes of figure description and class names, next to a classmate's lab."""
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copyfile(REFERENCE / "cv1_mnist_intro.py", submission / "cv1_mnist_intro.py")
    shutil.copyfile(ATTACKS / "huge_figure.py", submission / "cv2_fashion_mnist_intro.py")
    labs = ["--lab", "cv1_mnist_intro", "--lab", "cv2_fashion_mnist_intro"]
    graded = grade(submission, "--isolation", "required", *labs)
    assert graded.score("cv1_mnist_intro") == (11, 11)
    assert graded.failed("cv2_fashion_mnist_intro") == {"plot"}
    assert graded.score("cv2_fashion_mnist_intro") == (11, 13)
    said = graded.output("cv2_fashion_mnist_intro", "plot")
    assert "so the grader did not read it" in said and "more than the 256 KB" in said, said


def test_forging_its_own_records_earns_only_what_its_functions_return(grade, tmp_path):
    """One lab rewrites earlier steps' files in a later call; another forges every event."""
    submission = tmp_path / "submission"
    submission.mkdir()
    shutil.copyfile(ATTACKS / "forge_own_files.py", submission / "cv1_mnist_intro.py")
    shutil.copyfile(
        REFERENCE / "cv2_fashion_mnist_intro.py", submission / "cv2_fashion_mnist_intro.py"
    )
    shutil.copyfile(ATTACKS / "forge_all_records.py", submission / "cv3_mnist_cnn.py")
    labs = [
        arg
        for lab in ("cv1_mnist_intro", "cv2_fashion_mnist_intro", "cv3_mnist_cnn")
        for arg in ("--lab", lab)
    ]
    graded = grade(submission, "--isolation", "required", *labs)
    # Its own preprocess() and build_model() are wrong, whatever it saved over them.
    assert graded.failed("cv1_mnist_intro") == {"preprocess", "structure", "shapes", "params"}
    assert graded.score("cv1_mnist_intro") == (6, 11)
    said = graded.output("cv1_mnist_intro", "submission")
    assert said.startswith(tamper.FORGED), said
    assert "preprocess.npy was rewritten in compile_model()" in said
    assert "build_model.keras was rewritten in compile_model()" in said
    assert graded.score("cv2_fashion_mnist_intro") == (13, 13)
    assert graded.score("cv3_mnist_cnn") == (0, 11)
    said = graded.output("cv3_mnist_cnn", "submission")
    assert said.startswith(f"{tamper.FORGED}: a line on import that the harvest did not write")
    blocked = {check["output"] for check in graded.checks("cv3_mnist_cnn")} - {said}
    assert blocked == {f"blocked: {tamper.FORGED}"}


def _remove_cgroup(folder: Path) -> None:
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        try:
            folder.rmdir()
        except OSError:
            time.sleep(0.1)


def _session_keyring() -> int:
    """This process's session keyring, made if it has none."""
    keyctl = ctypes.CDLL(None, use_errno=True).syscall
    get_keyring_id, session = 0, -3
    return keyctl(confine.KEYCTL_SYSCALLS.get(platform.machine(), -1), get_keyring_id, session, 1)
