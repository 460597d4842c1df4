"""Grading a class: every layout, broken and hostile work, resuming, and Dask.

The class grades the one-lab ``stripes`` course of tests/course, so that a submission takes
seconds; the batch grades each one exactly as ``labkit grade`` does.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import browser
import pytest
from conftest import labkit_grade

from labkit import cli
from labkit.batch import classrun, pool
from labkit.batch.worker import Options
from labkit.intake import classfolder
from labkit.report import feedback, gradebook
from labkit.spec.course import Course
from labkit.spec.limits import Limits

HOSTILE_EXIT = "import os\nos._exit(3)\n"


@pytest.fixture(scope="module")
def options(stripes_course: Path) -> Options:
    return Options(course=stripes_course)


@pytest.fixture(scope="module")
def classroom(stripes_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class folder with every layout and every kind of bad input."""
    folder = tmp_path_factory.mktemp("class")
    reference = (stripes_course / "reference" / "stripes.py").read_text()
    stub = (stripes_course / "exercises" / "stripes.py").read_text()
    wrong_augment = reference.replace("images[:, :, ::-1]", "images[:, ::-1, :]")

    def student_folder(name: str, files: dict[str, str]) -> None:
        (folder / name).mkdir()
        for file, text in files.items():
            (folder / name / file).write_text(text)

    student_folder("alice", {"stripes.py": reference})
    student_folder("bob", {"stripes.py": stub})
    (folder / "carol_1234_5678_stripes.py").write_text(reference)  # an LMS download
    with zipfile.ZipFile(folder / "dave.zip", "w") as archive:
        archive.writestr("dave/stripes.py", wrong_augment)
    (folder / "erin.zip").write_text("not a zip")
    with zipfile.ZipFile(folder / "frank.zip", "w") as archive:
        archive.writestr("../../escaped.py", reference)
    student_folder("gina", {"notes.txt": "I will hand it in tomorrow"})
    (folder / "hank_1_2_stripes.py").write_text(reference)
    (folder / "hank_1_3_stripes.py").write_text(stub)
    student_folder("ivan", {"stripes.ipynb": "{ this is not JSON"})
    student_folder("kim", {"stripes.py": HOSTILE_EXIT})
    student_folder("=cmd", {"stripes.py": reference})
    return folder


@pytest.fixture(scope="module")
def graded(classroom: Path, options: Options, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    classrun.run(classroom, out, options, workers=2, progress=False)
    return out


def rows(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in gradebook.read(out / "gradebook.csv")}


def test_every_student_gets_a_row_with_a_status(graded):
    found = rows(graded)
    assert {name: (row["status"], row["total"]) for name, row in found.items()} == {
        "alice": ("graded", "13"),
        "bob": ("graded", "0"),
        "carol": ("graded", "13"),
        "dave": ("graded", "12"),
        "erin": ("error", "0"),
        "frank": ("error", "0"),
        "gina": ("error", "0"),
        "hank": ("error", "0"),
        "ivan": ("graded", "0"),
        "kim": ("graded", "0"),
        "'=cmd": ("error", "0"),  # quoted, so that a spreadsheet shows it and runs nothing
    }
    assert "cannot be read" in found["erin"]["reason"]
    assert "unsafe paths" in found["frank"]["reason"]
    assert "no lab files" in found["gina"]["reason"]
    assert "two files for stripes" in found["hank"]["reason"]
    assert "not a safe file name" in found["'=cmd"]["reason"]
    assert float(found["alice"]["seconds"]) > 0
    assert not (graded.parent / "escaped.py").exists()


def test_results_match_what_labkit_grade_writes(graded):
    dave = json.loads((graded / "results" / "dave.json").read_text())
    failed = [test["tags"][1] for test in dave["tests"] if test["status"] == "failed"]
    assert failed == ["augment"]
    ivan = json.loads((graded / "results" / "ivan.json").read_text())
    assert "is not a readable notebook" in ivan["tests"][0]["output"]
    kim = json.loads((graded / "results" / "kim.json").read_text())
    assert "exited with status 3" in kim["tests"][0]["output"]
    assert not (graded / "results" / "erin.json").exists()


def test_feedback_pages_hold_the_plots(graded):
    alice = (graded / "feedback" / "alice.html").read_text()
    assert "The grader&#x27;s training run of your model" in alice
    assert "Confusion matrix on the test set" in alice
    assert alice.count('src="data:image/png;base64,') == 2
    assert "13/13" in alice
    bob = (graded / "feedback" / "bob.html").read_text()
    assert "augment() is still a TODO" in bob and "data:image/png" not in bob


def test_the_summary_names_each_mistake_and_who_could_not_be_graded(graded):
    summary = (graded / "summary.html").read_text()
    assert "<p>11 submissions: 6 graded, 0 partial, 0 could not grade, 5 error.</p>" in summary
    labs = summary[summary.index("<h2>Labs") : summary.index("<h2>Mistakes")]
    # All six handed stripes in; alice and carol have full marks; the median of 13, 13, 12
    # and three zeros is 6.
    assert "<td>6 of 6</td>" in labs and '<td class="number">2</td>' in labs
    assert "6/13" in labs
    mistakes = summary[summary.index("<h2>Mistakes") : summary.index("<h2>Could not be graded")]
    assert "augment() must mirror each image left to right" in mistakes  # dave's
    assert "build_model() is still a TODO" in mistakes  # bob's, one of his four
    # Each of bob's TODOs fails the submission check; each blocks only the checks it needs.
    augment = mistakes[mistakes.index("augment() is still a TODO") :]
    assert "stripes; fails submission, augment</span>" in augment
    assert "blocked" not in mistakes  # what a fault blocks is not a mistake of its own
    who = summary[summary.index("<h2>Could not be graded") :]
    assert "unsafe paths" in who and "no lab files" in who


def test_a_rerun_grades_only_what_changed(graded, classroom, options, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    kept = (out / "state" / "alice.json").stat().st_mtime_ns
    (out / "results" / "carol.json").unlink()  # as if interrupted before carol finished
    classrun.run(classroom, out, options, workers=1, progress=False)
    assert (out / "state" / "alice.json").stat().st_mtime_ns == kept
    assert (out / "results" / "carol.json").is_file()
    assert rows(out) == rows(graded) | {"carol": rows(out)["carol"]}


def test_a_rerun_with_other_labs_limits_or_sandbox_grades_again(options, stripes_course):
    """A kept row stands only for the same grading: the cache's place decides no grade."""
    version = classrun.grader_version(Course(stripes_course), options)
    for changed, same in (
        (replace(options, limits=Limits(cpu_seconds=60.0)), False),
        (replace(options, isolation="off"), False),
        (replace(options, labs=("stripes", "another")), False),
        (replace(options, labs=("stripes",)), True),  # the course's one lab, named
        (replace(options, cache="off"), True),
    ):
        assert (classrun.grader_version(Course(stripes_course), changed) == version) is same


def test_only_regrades_the_named_students_and_keeps_the_other_rows(
    graded, classroom, stripes_course, options, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    changed = tmp_path / "class"
    shutil.copytree(classroom, changed)
    reference = (stripes_course / "reference" / "stripes.py").read_text()
    with zipfile.ZipFile(changed / "dave.zip", "w") as archive:  # now full marks, if graded
        archive.writestr("dave/stripes.py", reference)
    alice = (out / "state" / "alice.json").stat().st_mtime_ns
    carol = (out / "state" / "carol.json").stat().st_mtime_ns
    classrun.run(changed, out, options, workers=1, progress=False, only=["alice"])
    assert (out / "state" / "alice.json").stat().st_mtime_ns != alice  # unchanged, yet regraded
    assert (out / "state" / "carol.json").stat().st_mtime_ns == carol
    regraded, before = rows(out), rows(graded)
    assert regraded.pop("alice")["total"] == before.pop("alice")["total"] == "13"
    assert regraded == before  # dave's changed work is not graded: his row stands


def test_only_an_unknown_student_is_a_usage_error_naming_close_ids(
    classroom, stripes_course, tmp_path
):
    finished = grade_batch(
        classroom, "--out", tmp_path / "out", "--course", stripes_course, "--only", "alicee"
    )
    assert finished.returncode == 2
    assert "no submission for alicee (did you mean alice?)" in finished.stderr
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_an_interrupted_batch_keeps_what_finished(classroom, options, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pages = []

    def interrupt_after_one(*args):
        if pages:
            raise KeyboardInterrupt
        pages.append(args[0])
        return "<html></html>"

    monkeypatch.setattr(feedback, "page", interrupt_after_one)
    with pytest.raises(KeyboardInterrupt):
        classrun.run(classroom, out, options, workers=1, progress=False)
    finished = rows(out)
    assert pages[0] in finished and finished[pages[0]]["status"] == "graded"
    assert (out / "results" / f"{pages[0]}.json").is_file()


def test_dask_grades_as_the_local_pool_does(classroom, options, graded, tmp_path):
    small = tmp_path / "class"
    small.mkdir()
    for name in ("alice", "bob", "erin.zip"):
        source = classroom / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, small / name)
    out = tmp_path / "out"
    classrun.run(small, out, options, workers=2, dask="local", progress=False)
    for name, row in rows(out).items():
        assert {**row, "seconds": ""} == {**rows(graded)[name], "seconds": ""}
    for name in ("alice", "bob"):
        mine = json.loads((out / "results" / f"{name}.json").read_text())
        theirs = json.loads((graded / "results" / f"{name}.json").read_text())
        assert {**mine, "execution_time": 0} == {**theirs, "execution_time": 0}
        page = (out / "feedback" / f"{name}.html").read_text()
        assert page == (graded / "feedback" / f"{name}.html").read_text()


def test_two_runs_on_one_dask_scheduler_keep_their_own_grades(stripes_course, options, tmp_path):
    """Two classes, each with an alice, graded at once by one cluster: no grade crosses over."""
    from distributed import LocalCluster

    files = {
        "right": (stripes_course / "reference" / "stripes.py").read_text(),
        "stub": (stripes_course / "exercises" / "stripes.py").read_text(),
    }
    for name, text in files.items():
        (tmp_path / name / "alice").mkdir(parents=True)
        (tmp_path / name / "alice" / "stripes.py").write_text(text)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        ThreadPoolExecutor(max_workers=2) as runs,
    ):
        started = {
            name: runs.submit(
                classrun.run,
                tmp_path / name,
                tmp_path / f"{name}-out",
                options,
                dask=cluster.scheduler_address,
                progress=False,
            )
            for name in files
        }
        totals = {name: [row.total for row in run.result()] for name, run in started.items()}
    assert totals == {"right": [13.0], "stub": [0.0]}
    for name, total in (("right", 13), ("stub", 0)):
        assert rows(tmp_path / f"{name}-out")["alice"]["total"] == str(total)
        results = json.loads((tmp_path / f"{name}-out" / "results" / "alice.json").read_text())
        assert results["score"] == total


@browser.needs_browser
@pytest.mark.parametrize(
    ("page", "images"), [("feedback/alice.html", 2), ("feedback/bob.html", 0), ("summary.html", 0)]
)
def test_pages_read_on_a_laptop(graded, page, images):
    """Each page loads its images, raises no error and fits a laptop's width, in Chromium."""
    seen = browser.look(graded / page, f"batch-{Path(page).stem}")
    assert seen.width == browser.WIDTH
    assert seen.scroll_width <= seen.width, "the page scrolls sideways"
    assert len(seen.images) == images and all(width > 100 for width in seen.images)
    assert seen.errors == []
    assert browser.size(seen.screenshot) == (browser.WIDTH, browser.HEIGHT)
    assert not browser.is_blank(seen.screenshot)


def grade_batch(*args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "labkit.cli", "grade-batch", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_command_reports_the_batch(classroom, stripes_course, tmp_path):
    small = tmp_path / "class"
    small.mkdir()
    shutil.copy(classroom / "erin.zip", small)
    shutil.copytree(classroom / "gina", small / "gina")
    out = tmp_path / "out"
    finished = grade_batch(small, "--out", out, "--course", stripes_course)
    assert finished.returncode == 0, finished.stderr
    counts = "2 submissions: 0 graded, 0 partial, 0 could not grade, 2 error"
    assert f"{counts}. Gradebook:" in finished.stdout
    assert f"<p>{counts}.</p>" in (out / "summary.html").read_text()  # the same, from one function
    assert "to grade again (run the same command): erin, gina" in finished.stdout
    assert set(rows(out)) == {"erin", "gina"}


def test_a_roster_exports_the_batch_for_the_lms_and_names_who_is_missing(
    classroom, stripes_course, tmp_path
):
    small = tmp_path / "class"
    small.mkdir()
    shutil.copy(classroom / "erin.zip", small)
    roster = tmp_path / "roster.csv"
    roster.write_text("student,sis_user_id,section,email\nerin,S5,A,erin@uni.example\nzoe,S9,A,\n")
    out = tmp_path / "out"
    finished = grade_batch(small, "--out", out, "--course", stripes_course, "--roster", roster)
    assert finished.returncode == 0, finished.stderr
    assert f"for the LMS: {out / 'canvas.csv'}" in finished.stdout
    assert "  zoe: in the roster, but not in the class folder: left out" in finished.stdout
    assert "  erin: not graded (error): left out, to be graded again" in finished.stdout
    canvas = (out / "canvas.csv").read_text().splitlines()
    assert canvas == [
        "Student,ID,SIS User ID,SIS Login ID,Section,Stripes: three directions",
        "Points Possible,,,,,13",
    ]


def test_the_batch_reports_similar_code_when_asked(
    classroom, stripes_course, tmp_path, monkeypatch, capsys
):
    small = tmp_path / "class"
    small.mkdir()
    shutil.copy(classroom / "erin.zip", small)
    for student in ("lee", "max"):  # the stub, as it was handed out: no one's copy
        (small / student).mkdir()
        shutil.copy(stripes_course / "exercises" / "stripes.py", small / student)
    # The grading itself is tested above; here only what --similarity adds to it.
    monkeypatch.setattr(classrun, "run", lambda *args, **kwargs: [])
    out = tmp_path / "out"
    arguments = [small, "--out", out, "--course", stripes_course, "--similarity"]
    assert cli.main(["grade-batch", *map(str, arguments)]) == 0
    assert "similar code in stripes: none (2 submissions compared)" in capsys.readouterr().out
    found = json.loads((out / "similarity.json").read_text())
    assert found["pairs"] == []
    assert found["skipped"][0]["student"] == "erin"


def test_a_bad_roster_stops_the_batch_before_it_grades(classroom, stripes_course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nErin,erin@uni.example\n")
    out = tmp_path / "out"
    finished = grade_batch(classroom, "--out", out, "--course", stripes_course, "--roster", roster)
    assert finished.returncode == 2
    assert "the header row must name the column 'student'" in finished.stderr
    assert not (out / "gradebook.csv").exists()


def test_a_missing_class_folder_is_a_usage_error(stripes_course, tmp_path):
    finished = grade_batch(
        tmp_path / "nowhere", "--out", tmp_path / "out", "--course", stripes_course
    )
    assert finished.returncode == 2
    assert "is not a folder of submissions" in finished.stderr


# A batch that outlives its students: a worker that dies, a zip bomb, and no process left.

KILL_SWITCH = "LABKIT_TEST_KILLS"  # only where a test sets it does the grader below kill
# In a copy of the stripes course, graders/conftest.py: it kills the process that grades a
# submission marked for it, as the kernel's OOM killer kills a batch worker. No submission
# can reach its worker from the sandbox; this stands in for one that gets it killed.
KILLER = f"""
import os
import signal
from pathlib import Path


def pytest_configure(config):
    module = Path(config.getoption("submission") or "-") / "stripes.py"
    if not os.environ.get("{KILL_SWITCH}") or not module.is_file():
        return
    if "# kill the worker with SIGKILL" in module.read_text():
        os.kill(os.getpid(), signal.SIGKILL)
    if "# kill the worker with os._exit" in module.read_text():
        os._exit(3)
    if "# hang the worker" in module.read_text():
        import time
        time.sleep(3600)
"""
SLEEPER = "import time\ntime.sleep(120)\n"  # still harvesting when its batch is stopped


@pytest.fixture(scope="module")
def deadly_course(stripes_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deadly") / "course"
    shutil.copytree(stripes_course, root)
    (root / "graders" / "conftest.py").write_text(KILLER)
    return root


def make_class(folder: Path, students: dict[str, str]) -> Path:
    """A class folder of one-module student folders, by student: the module's text."""
    for student, text in students.items():
        (folder / student).mkdir(parents=True)
        (folder / student / "stripes.py").write_text(text)
    return folder


def zip_bomb(path: Path, members: int, size: int) -> None:
    """A zip of ``members`` copies of ``size`` compressible bytes, each deflated only once."""
    data = b"#" * size
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    crc = zlib.crc32(data)
    local, central = bytearray(), bytearray()
    for number in range(members):
        name = f"bomb/m{number:04}.py".encode()
        offset = len(local)
        fields = (20, 0, 8, 0, 0x21, crc, len(packed), size, len(name))
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + name + packed
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset)
        central += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, members, members, len(central), len(local), 0
    )
    path.write_bytes(bytes(local + central + end))


def test_zip_bombs_are_refused_from_the_directory(stripes_course, options, tmp_path, monkeypatch):
    """The issue's bomb, 1,000 members of 5 MiB in a 5 MB zip, and one of 5,000 members: each is
    refused from what the zip says of itself, before any member is read, in little memory."""
    classroom = tmp_path / "class"
    classroom.mkdir()
    zip_bomb(classroom / "zed.zip", 1000, 5 * 2**20)
    zip_bomb(classroom / "yves.zip", 5000, 10)
    stub = (stripes_course / "exercises" / "stripes.py").read_text()
    with zipfile.ZipFile(classroom / "xena.zip", "w") as archive:
        archive.writestr("xena/stripes.py", stub)
    assert (classroom / "zed.zip").stat().st_size < 6 * 2**20
    with zipfile.ZipFile(classroom / "zed.zip") as archive:  # a zip that tools read as such
        assert len(archive.infolist()) == 1000
        assert archive.open("bomb/m0999.py").read(8) == b"########"
    read = zipfile.ZipFile.open
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: opened.append(a) or read(*a, **k))
    tracemalloc.start()
    try:
        entries = classfolder.collect(classroom, ["stripes"], tmp_path / "staging")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    found = {entry.student: entry for entry in entries}
    assert found["zed"].problem.startswith(
        "the zip's .py and .ipynb files come to 5,000 MB, more than the 64 MB allowed"
    )
    assert found["yves"].problem.startswith("the zip holds 5,000 members, more than the 1,000")
    assert "zip only the folder of lab files" in found["yves"].problem
    assert len(opened) == 1 and found["xena"].problem == ""  # xena's one member, no other
    assert not (tmp_path / "staging" / "zed").exists()
    # A gradebook for everyone, the bombs as errors that say what to do, and nothing left of
    # what zed's earlier, harmless zip was given.
    out = tmp_path / "out"
    stale = [
        out / "results" / "zed.json",
        out / "feedback" / "zed.html",
        out / "state" / "zed.json",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    classrun.run(classroom, out, options, workers=1, progress=False)
    assert not any(path.exists() for path in stale)
    assert {name: row["status"] for name, row in rows(out).items()} == {
        "xena": "graded",
        "yves": "error",
        "zed": "error",
    }
    assert "hand in only the lab modules and notebooks" in rows(out)["zed"]["reason"]
    assert not list(out.glob(".staging-*"))  # the staged copies go with the batch


def test_a_dead_worker_costs_only_its_own_row_and_is_graded_again(
    deadly_course, tmp_path, monkeypatch
):
    reference = (deadly_course / "reference" / "stripes.py").read_text()
    classroom = make_class(
        tmp_path / "class",
        {"alice": reference, "mallory": reference + "\n# kill the worker with os._exit\n"},
    )
    out = tmp_path / "out"
    # What an earlier grading of mallory's earlier submission left.
    for stale in ("results/mallory.json", "feedback/mallory.html", "artifacts/mallory/x.png"):
        (out / stale).parent.mkdir(parents=True, exist_ok=True)
        (out / stale).write_text("{}")
    options = Options(course=deadly_course)
    monkeypatch.setenv(KILL_SWITCH, "1")
    classrun.run(classroom, out, options, workers=2, progress=False)
    found = rows(out)
    assert found["alice"]["status"] == "graded" and found["alice"]["total"] == "13"
    assert found["mallory"]["status"] == "error"
    assert (
        "worker process grading this submission exited with status 3"
        in (found["mallory"]["reason"])
    )
    assert "the others were not affected" in found["mallory"]["reason"]
    assert not (out / "results" / "mallory.json").exists()
    assert not (out / "feedback" / "mallory.html").exists()
    assert not (out / "artifacts" / "mallory").exists()
    # The error is not kept: the same command grades mallory again, and only mallory.
    monkeypatch.delenv(KILL_SWITCH)
    kept = (out / "state" / "alice.json").stat().st_mtime_ns
    classrun.run(classroom, out, options, workers=2, progress=False)
    assert (out / "state" / "alice.json").stat().st_mtime_ns == kept
    assert rows(out)["mallory"]["status"] == "graded" and rows(out)["mallory"]["total"] == "13"
    assert (out / "feedback" / "mallory.html").is_file()


def test_a_hung_worker_is_stopped_at_its_deadline(deadly_course, tmp_path, monkeypatch):
    """A grader stuck outside any sandboxed process (here, in a conftest) is no lab's limit;
    the pool stops its worker once it is past the longest its labs' limits allow, and the
    row says the grader did not finish, not that the student failed."""
    reference = (deadly_course / "reference" / "stripes.py").read_text()
    classroom = make_class(tmp_path / "class", {"hugo": reference + "\n# hang the worker\n"})
    monkeypatch.setenv(KILL_SWITCH, "1")
    monkeypatch.setattr(pool, "task_seconds", lambda options: 20.0)
    started = time.monotonic()
    classrun.run(classroom, tmp_path / "out", Options(course=deadly_course), 1, progress=False)
    assert time.monotonic() - started < 120  # not the hour it sleeps
    hugo = rows(tmp_path / "out")["hugo"]
    assert hugo["status"] == "error"
    assert "the grader did not finish grading this submission in 20 s" in hugo["reason"]


def solo(submission: Path, course: Path, results: Path) -> dict[str, object]:
    """What ``labkit grade`` writes for this submission alone, without its run's time."""
    labkit_grade(
        *("--submission", str(submission), "--course", str(course), "--results", str(results))
    )
    return {**json.loads(results.read_text()), "execution_time": 0}


def test_two_hostile_students_leave_the_others_their_solo_grades(
    deadly_course, stripes_course, tmp_path, monkeypatch
):
    """A batch of eight with a student who gets the worker grading them killed and one who
    hands in a zip bomb: the six others get what they get alone."""
    reference = (stripes_course / "reference" / "stripes.py").read_text()
    texts = {
        "alice": reference,
        "bob": (stripes_course / "exercises" / "stripes.py").read_text(),
        "dave": reference.replace("images[:, :, ::-1]", "images[:, ::-1, :]"),
        "kim": HOSTILE_EXIT,
        "mallory": reference + "\n# kill the worker with SIGKILL\n",
    }
    classroom = make_class(tmp_path / "class", texts)
    (classroom / "carol_1234_5678_stripes.py").write_text(reference)
    (classroom / "ivan").mkdir()
    (classroom / "ivan" / "stripes.ipynb").write_text("{ this is not JSON")
    zip_bomb(classroom / "zed.zip", 1000, 5 * 2**20)
    monkeypatch.setenv(KILL_SWITCH, "1")
    out = tmp_path / "out"
    classrun.run(classroom, out, Options(course=deadly_course), workers=2, progress=False)
    found = rows(out)
    assert {name: row["status"] for name, row in found.items()} == {
        **dict.fromkeys(["alice", "bob", "carol", "dave", "ivan", "kim"], "graded"),
        "mallory": "error",
        "zed": "error",
    }
    assert (
        "was killed by SIGKILL (as when the machine runs out of memory)"
        in (found["mallory"]["reason"])
    )
    # Alone, each in a folder of its own, graded by the course without the killer.
    alone = {"alice": classroom / "alice", "bob": classroom / "bob", "ivan": classroom / "ivan"}
    alone |= {"dave": classroom / "dave", "kim": classroom / "kim"}
    with ThreadPoolExecutor(max_workers=2) as runs:
        solos = {
            name: runs.submit(solo, path, stripes_course, tmp_path / f"{name}.json")
            for name, path in alone.items()
        }
        expected = {name: run.result() for name, run in solos.items()}
    expected["carol"] = expected["alice"]
    for name, theirs in expected.items():
        mine = json.loads((out / "results" / f"{name}.json").read_text())
        assert {**mine, "execution_time": 0} == theirs, name


# Run with itself as the subreaper of all it starts, so that a process the batch left behind
# comes to it rather than to init; it prints what it saw running and what was left.
SUBREAPER = """
import ctypes, json, os, signal, subprocess, sys, threading, time
from pathlib import Path

ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
mode, classroom, out, course = sys.argv[1:]


def descendants():
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = (int(fields[1]), command)
    found, frontier = {}, {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, _) in parents.items() if parent in frontier}
        frontier -= set(found)
        found |= {pid: parents[pid][1] for pid in frontier}
    return found


seen = set()
watching = True


def watch():
    while watching:
        seen.update(descendants().values())
        time.sleep(0.2)


threading.Thread(target=watch, daemon=True).start()
if mode == "kill":
    command = [sys.executable, "-m", "labkit.cli", "grade-batch", classroom, "--out", out]
    coordinator = subprocess.Popen([*command, "--course", course, "--workers", "2"])
    gradebook = Path(out, "gradebook.csv")
    deadline = time.monotonic() + 300
    while "alice" not in (gradebook.read_text() if gradebook.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.kill(coordinator.pid, signal.SIGKILL)
    coordinator.wait()
else:
    from labkit.batch import classrun
    from labkit.batch.worker import Options
    from labkit.report import feedback

    if mode == "interrupt":
        def page(*args):
            raise KeyboardInterrupt
        feedback.page = page
    try:
        classrun.run(Path(classroom), Path(out), Options(Path(course)), 2, progress=False)
    except KeyboardInterrupt:
        pass
deadline = time.monotonic() + 60
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    left = [
        command for command in descendants().values()
        # multiprocessing's own helper ends with this, the process that started it
        if mode == "kill" or "resource_tracker" not in command
    ]
    if not left or time.monotonic() > deadline:
        break
    time.sleep(0.2)
watching = False
print(json.dumps({"seen": sorted(seen), "left": left}), flush=True)
for pid in descendants():  # what a failed batch left: not for the tests that follow
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a subreaper is Linux's")
@pytest.mark.parametrize("mode", ["finish", "interrupt", "kill"])
def test_nothing_the_batch_started_outlives_it(mode, deadly_course, tmp_path, monkeypatch):
    """Workers and their fork servers end with the batch: when it finishes (with a worker
    killed on the way), on Ctrl-C with a worker mid-task, and when its coordinator is killed,
    as the OOM killer may, which once left them idle for ten minutes."""
    reference = (deadly_course / "reference" / "stripes.py").read_text()
    other = {
        "finish": reference + "\n# kill the worker with SIGKILL\n",
        "interrupt": SLEEPER,
        "kill": SLEEPER,
    }[mode]
    classroom = make_class(tmp_path / "class", {"alice": reference, "zoe": other})
    out = tmp_path / "out"
    monkeypatch.setenv(KILL_SWITCH, "1")
    temporary = tmp_path / "tmp"  # where the batch's processes keep their temporary files
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    command = [sys.executable, "-c", SUBREAPER, mode, classroom, out, deadly_course]
    said, errors = tmp_path / "stdout", tmp_path / "stderr"
    started = time.monotonic()
    with said.open("w") as stdout, errors.open("w") as stderr:  # files: no pipe to hold open
        code = subprocess.run(list(map(str, command)), stdout=stdout, stderr=stderr).returncode
    assert code == 0, errors.read_text()[-3000:]
    report = json.loads(said.read_text().splitlines()[-1])
    assert report["left"] == []
    seen = " ".join(report["seen"])  # workers and fork servers, or the sandboxes they are in
    assert "multiprocessing" in seen and ("forkserver" in seen or "bwrap" in seen), seen
    assert time.monotonic() - started < 100  # the sleeper's 120 s were cut short
    if mode != "interrupt":  # there, alice's feedback page was where Ctrl-C came
        assert rows(out)["alice"]["total"] == "13"  # written as it finished, whatever came next
    if mode == "finish":
        assert rows(out)["zoe"]["status"] == "error"
    if mode != "kill":  # a killed coordinator cannot clean up; everything else does
        assert list(temporary.iterdir()) == []
