"""The harvest child: whatever a submission does, the grader gets a verdict back."""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path

from conftest import COURSE

from labkit.sandbox import forkserver, harvest, isolation, runner
from labkit.spec.lab import Lab
from labkit.spec.limits import Limits

CV1 = COURSE.lab("cv1_mnist_intro")
WORKING_PREPROCESS = "def preprocess(images):\n    return images / 255.0\n"


def run(tmp_path: Path, source: str, **limits: float) -> runner.Harvest:
    module = tmp_path / "cv1_mnist_intro.py"
    module.write_text(source)
    return runner.run(CV1, module, tmp_path / "work", Limits(**limits))


def test_os_exit_keeps_what_ran_before_it(tmp_path):
    result = run(
        tmp_path, WORKING_PREPROCESS + "def build_model():\n    import os\n    os._exit(0)\n"
    )
    assert result.step("preprocess").status == harvest.OK
    assert "stopped while running it" in result.step("build_model").message
    assert "remove any exit()" in result.problem


def test_closing_the_graders_channel_is_the_submissions_doing(tmp_path):
    """Closing file descriptor 3, where the child reports, costs the step that closed it."""
    closes = WORKING_PREPROCESS + "def build_model():\n    import os\n    os.close(3)\n"
    result = run(tmp_path, closes)
    assert result.step("preprocess").status == harvest.OK
    assert result.step("build_model").status != harvest.OK
    assert result.grader_problem == ""
    assert "closed" in result.problem and "file descriptor 3" in result.problem


def test_sys_exit_inside_a_function_costs_only_that_step(tmp_path):
    result = run(tmp_path, WORKING_PREPROCESS + "def build_model():\n    raise SystemExit(3)\n")
    assert "called sys.exit(3)" in result.step("build_model").message
    assert result.problem == ""


def test_endless_loop_is_cut_at_the_cpu_time_limit(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, "while True:\n    pass\n", cpu_seconds=8)
    assert time.monotonic() - started < 30
    assert "used more than 8 s of CPU time" in result.problem
    assert "never ran" in result.step("preprocess").message
    assert not result.grader_problem


def test_a_process_that_waits_forever_is_cut_at_the_wall_clock_backstop(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, "import time\ntime.sleep(3600)\n", wall_seconds=4)
    assert time.monotonic() - started < 30
    assert "still running after 4 s" in result.problem and "sleep()" in result.problem
    assert not result.grader_problem


def test_errors_point_at_the_students_line(tmp_path):
    result = run(tmp_path, "def preprocess(images):\n    return images / undefined_name\n")
    message = result.step("preprocess").message
    assert "NameError" in message and "line 2 of cv1_mnist_intro.py" in message


def test_missing_module_is_not_submitted(tmp_path):
    result = runner.run(CV1, None, tmp_path, Limits())
    assert result.problem == "not submitted"


def test_grader_keeps_its_own_copy_of_the_inputs(tmp_path):
    source = (
        "import numpy as np\n"
        "np.savez('../inputs.npz', preprocess_images=np.zeros((64, 28, 28), np.uint8))\n"
        + WORKING_PREPROCESS
    )
    result = run(tmp_path, source)
    assert result.inputs["x_train_64"].max() > 0


def test_keras_datasets_read_the_graders_copy(tmp_path):
    """Notebook code loads data with keras.datasets; the child serves it without a download."""
    source = (
        "from tensorflow import keras\n"
        "(train_images, _), _ = keras.datasets.mnist.load_data()\n"
        "def preprocess(images):\n"
        "    assert images.shape[1:] == train_images.shape[1:]\n"
        "    return images / 255.0\n"
    )
    result = run(tmp_path, source)
    assert result.step("import").status == harvest.OK, result.step("import").message
    assert result.step("preprocess").status == harvest.OK


def test_without_fork_each_child_starts_afresh(tmp_path):
    """macOS and Windows get no fork server; the same verdicts come from fresh processes."""
    module = tmp_path / "cv1_mnist_intro.py"
    module.write_text(WORKING_PREPROCESS + "def build_model():\n    raise SystemExit(3)\n")
    with isolation.Server(tmp_path / "work", forks=False) as server:
        result = runner.run(CV1, module, tmp_path / "work", Limits(), server)
    assert result.step("preprocess").status == harvest.OK
    assert "called sys.exit(3)" in result.step("build_model").message
    assert result.problem == ""


def test_messages_from_student_code_are_short_and_plain(tmp_path):
    """An error that carries 100 KB of a file, colour codes and carriage returns is cut down."""
    noisy = Path(__file__).parent / "submissions" / "tamper" / "noisy_error.py"
    result = runner.run(CV1, noisy, tmp_path / "work", Limits())
    message = result.step("preprocess").message
    assert len(message) <= runner.MAX_MESSAGE
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", message), repr(message)
    assert message.startswith("ValueError: red")
    assert " … " in message and message.endswith("of noisy_error.py)")
    cause = result.fault("preprocess")
    assert cause is not None and len(cause.message) < runner.MAX_MESSAGE + 50


def test_clean_message_keeps_lines_and_tabs():
    assert runner.clean_message("a\r\nb\tc") == "a\nb\tc"
    assert runner.clean_message("\x1b[1;31mred\x1b[0m\rover\x00\x85") == "redover"
    assert runner.clean_message("x" * 500) == "x" * 500


def test_only_regular_files_within_caps_are_kept(tmp_path, monkeypatch):
    """What the child left is copied out as plain files; links and oversized zips are not."""
    outputs, kept = tmp_path / "out", tmp_path / "harvest"
    outputs.mkdir()
    kept.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the grader's own file")
    (outputs / "preprocess.npy").write_bytes(b"plain")
    (outputs / "model.keras").symlink_to(secret)
    os.mkfifo(outputs / "compiled.keras")  # reading it would block the grader
    with zipfile.ZipFile(outputs / "plot_samples.npz", "w") as archive:
        archive.writestr("images.npy", b"x" * 4096)
    monkeypatch.setattr(runner, "MAX_UNPACKED_BYTES", 1024)
    runner._keep(outputs, kept)
    assert sorted(path.name for path in kept.iterdir()) == ["preprocess.npy"]


def test_a_zip_declaring_too_many_entries_is_dropped_unread(tmp_path, monkeypatch):
    outputs, kept = tmp_path / "out", tmp_path / "harvest"
    outputs.mkdir()
    kept.mkdir()
    with zipfile.ZipFile(outputs / "model.keras", "w") as archive:
        for number in range(20):
            archive.writestr(f"{number}.txt", b"")
    monkeypatch.setattr(runner, "MAX_ZIP_ENTRIES", 10)
    runner._keep(outputs, kept)
    assert not list(kept.iterdir())


def test_a_flood_of_empty_event_lines_is_cut_off():
    """Each line counts against a child's events, empty or not, so a flood stops early."""
    events, writer = os.pipe()
    replies, reply_writer = os.pipe()
    os.set_blocking(reply_writer, False)
    forked = forkserver.Forked("1", events)
    os.write(writer, b"\n" * 5000)
    os.close(writer)
    while forked.events >= 0:
        forked.relay(reply_writer)
    os.close(reply_writer)
    with os.fdopen(replies, "rb") as relayed:
        assert len(relayed.read().splitlines()) == forkserver.MAX_EVENT_LINES


def test_a_lab_survives_the_trip_to_a_child_as_json():
    """Children get the lab's spec in their request: they cannot import the graders."""
    for lab in COURSE.labs.values():
        assert Lab.from_json(json.loads(json.dumps(lab.to_json()))) == lab
