"""The harvest cache: a miss for every input that decides a harvest, a hit for what only the
checks read, the same grade with it or without it, no way in from the sandbox, and a class
regraded after a grader change by re-judging, without running student code again."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
from conftest import COURSE, EXERCISES, REFERENCE, ROOT, SUBMISSIONS, by_student
from test_mistakes import batches

from labkit.batch import classrun
from labkit.batch.worker import Options, Task, Worker
from labkit.grading import cache, harvestcache
from labkit.grading.harvestcache import HarvestCache
from labkit.grading.plugin import CacheLog
from labkit.intake import sourcecode
from labkit.report import gradebook
from labkit.sandbox import runner
from labkit.sandbox.records import Step
from labkit.spec.course import Course
from labkit.spec.datasets import _load_cached
from labkit.spec.lab import Data, Lab
from labkit.spec.limits import Limits

CV1 = COURSE.lab("cv1_mnist_intro")
BUBBLEWRAP = SimpleNamespace(kind="bubblewrap", forks=True)  # what the key reads of a server


def module_folder(folder: Path) -> Path:
    """``folder`` holding cv1's reference module and a helper module beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE / "cv1_mnist_intro.py", folder)
    (folder / "helpers.py").write_text("SCALE = 255.0\n")
    return folder / "cv1_mnist_intro.py"


def key(
    module: Path,
    lab: Lab = CV1,
    limits: Limits | None = None,
    server: SimpleNamespace = BUBBLEWRAP,
    pictures: bool = False,
) -> str | None:
    prepared = runner.prepare(lab, module, module.parent / "run")
    return harvestcache.harvest_key(
        lab, module, limits or Limits(), server, pictures, prepared.inputs
    )


def with_training(lab: Lab, **changes) -> Lab:
    return dataclasses.replace(lab, training=dataclasses.replace(lab.training, **changes))


def fewer_images(lab: Lab) -> Lab:
    """The lab with its preprocess() handed half as many images: another API declaration."""
    preprocess = lab.function("preprocess")
    fewer = dataclasses.replace(preprocess, args=(Data("x_train", preprocess.args[0].count // 2),))
    api = tuple(fewer if function is preprocess else function for function in lab.api)
    return dataclasses.replace(lab, api=api)


def test_each_harvest_input_changed_alone_is_a_miss(tmp_path):
    module = module_folder(tmp_path / "submission")
    before = key(module)
    assert before is not None and before == key(module)  # the same inputs, the same key
    changed = {
        "API declaration": key(module, lab=fewer_images(CV1)),
        "class names": key(module, lab=dataclasses.replace(CV1, class_names=("a",) * 10)),
        "time limit": key(module, limits=Limits(cpu_seconds=30)),
        "memory limit": key(module, limits=Limits(memory_bytes=2**30)),
        "sandbox": key(module, server=SimpleNamespace(kind="", forks=True)),
        "figures drawn as images": key(module, pictures=True),
    }
    (module.parent / "helpers.py").write_text("SCALE = 256.0\n")
    changed["a module beside it"] = key(module)
    module.write_text(module.read_text() + "\n# one more line\n")
    changed["submission bytes"] = key(module)
    assert [what for what, found in changed.items() if found in (before, None)] == []
    assert len(set(changed.values())) == len(changed)


def test_what_only_the_checks_read_is_a_hit(tmp_path):
    """A threshold, points, a title or the layer table changed after the deadline re-judge
    the kept harvests: the harvest never reads them."""
    module = module_folder(tmp_path / "submission")
    before = key(module)
    for lab in (
        with_training(CV1, min_accuracy=0.99),
        with_training(CV1, epochs=CV1.training.epochs + 1),
        dataclasses.replace(CV1, points={"accuracy": 5}, title="Another title"),
        dataclasses.replace(CV1, layers=CV1.layers[:-1]),
    ):
        assert key(module, lab=lab) == before


def test_the_dataset_is_part_of_the_key(stripes_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)
    lab = Course(course).lab("stripes")
    module = tmp_path / "submission" / "stripes.py"
    module.parent.mkdir()
    shutil.copy(course / "reference" / "stripes.py", module)
    before = key(module, lab=lab)
    data = course / "data" / "stripes.npz"
    with np.load(data) as arrays:
        changed = {name: arrays[name].copy() for name in arrays.files}
    changed["x_train"][0, 0, 0] ^= 1  # one pixel of one image the grader's run reads
    np.savez(data, **changed)
    _load_cached.cache_clear()
    try:
        assert key(module, lab=lab) != before
    finally:
        _load_cached.cache_clear()


def test_labkits_harvest_code_is_part_of_the_key_and_its_checks_are_not(tmp_path, monkeypatch):
    module = module_folder(tmp_path / "submission")
    before = key(module)
    package = harvestcache.PACKAGE

    def edited(name: str, *files: str) -> str | None:
        copy = tmp_path / name / "labkit"
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for file in files:
            with (copy / file).open("a") as source:
                source.write("\n# changed\n")
        monkeypatch.setattr(harvestcache, "PACKAGE", copy)
        return key(module)

    assert edited("same") == before  # the same code elsewhere
    assert edited("harvest", "sandbox/harvest.py") != before
    assert edited("notebooks", "intake/notebooks.py") != before
    assert edited("checks", "judge/checks.py", "sandbox/screen.py", "grading/plugin.py") == before


def a_harvest(workdir: Path) -> runner.Harvest:
    """A harvest of cv1 as a child leaves it: its steps, a finding, and its files."""
    harvest = runner.prepare(CV1, REFERENCE / "cv1_mnist_intro.py", workdir)
    np.save(harvest.folder / "preprocess.npy", np.linspace(0, 1, 784, dtype=np.float32))
    (harvest.folder / "build_model.keras").write_bytes(b"PK\x05\x06" + bytes(18))
    harvest.steps = {"import": Step("ok"), "preprocess": Step("ok"), "build_model": Step("ok")}
    harvest.steps["compile_model"] = Step("error", "ValueError: no optimizer (line 30)")
    harvest.rewritten = {"extra.txt": "extra.txt was written outside the harvest's saving"}
    harvest.ran = True
    return harvest


def same_harvest(found: runner.Harvest, kept: runner.Harvest) -> bool:
    files = {path.name: path.read_bytes() for path in found.folder.iterdir()}
    return (found.steps, found.problem, found.forged, found.rewritten, found.lost) == (
        kept.steps,
        kept.problem,
        kept.forged,
        kept.rewritten,
        kept.lost,
    ) and files == {path.name: path.read_bytes() for path in kept.folder.iterdir()}


def test_a_kept_harvest_comes_back_whole(tmp_path):
    store = HarvestCache(tmp_path / "cache")
    kept = a_harvest(tmp_path / "first")
    store.put("ab" * 32, kept)
    found = store.get("ab" * 32, runner.prepare(CV1, kept.module_path, tmp_path / "second"))
    assert found is not None and same_harvest(found, kept)
    assert store.get("cd" * 32, runner.prepare(CV1, None, tmp_path / "third")) is None


def test_a_corrupt_entry_is_a_miss_and_is_written_anew(tmp_path):
    store = HarvestCache(tmp_path / "cache")
    kept = a_harvest(tmp_path / "first")
    store.put("ab" * 32, kept)
    (entry,) = (tmp_path / "cache").glob("*/*.npz")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    assert store.get("ab" * 32, runner.prepare(CV1, None, tmp_path / "second")) is None
    assert not entry.exists()
    store.put("ab" * 32, kept)
    found = store.get("ab" * 32, runner.prepare(CV1, None, tmp_path / "third"))
    assert found is not None and same_harvest(found, kept)


def test_an_entry_naming_a_file_outside_its_folder_is_a_miss(tmp_path):
    """Whoever damaged an entry, it writes nothing but the harvest's own files."""
    store = HarvestCache(tmp_path / "cache")
    store.put("ab" * 32, a_harvest(tmp_path / "first"))
    (entry,) = (tmp_path / "cache").glob("*/*.npz")
    with np.load(entry) as arrays:
        changed = {name: arrays[name] for name in arrays.files}
    fields = json.loads(changed["fields"].tobytes())
    fields["files"][0] = "../../escaped.npy"
    changed["fields"] = np.frombuffer(json.dumps(fields).encode(), dtype=np.uint8)
    np.savez(entry, **changed)
    assert store.get("ab" * 32, runner.prepare(CV1, None, tmp_path / "second")) is None
    assert not list(tmp_path.rglob("escaped.npy"))


def test_limits_faults_and_code_that_never_ran_are_never_kept(tmp_path):
    harvest = a_harvest(tmp_path)
    assert harvestcache.cacheable(harvest)
    for change in ({"limited": True}, {"grader_problem": "the server is gone"}, {"ran": False}):
        assert not harvestcache.cacheable(dataclasses.replace(harvest, **change))


def test_a_harvest_that_kept_far_more_than_its_lab_asks_for_is_not_kept(tmp_path, monkeypatch):
    harvest = a_harvest(tmp_path)
    kept = sum(path.stat().st_size for path in harvest.folder.iterdir())
    monkeypatch.setattr(harvestcache, "MAX_ENTRY_BYTES", kept)
    assert harvestcache.cacheable(harvest)
    (harvest.folder / "preprocess.npy").write_bytes(bytes(kept))
    assert not harvestcache.cacheable(harvest)


def test_the_least_recently_used_entries_go_first(tmp_path):
    harvest = a_harvest(tmp_path / "run")
    store = HarvestCache(tmp_path / "cache")
    store.put("00" * 32, harvest)
    (entry,) = (tmp_path / "cache").glob("*/*.npz")
    store = HarvestCache(tmp_path / "cache", max_bytes=3 * entry.stat().st_size)  # room for three
    for number in range(1, 6):
        store.put(f"{number:02d}" * 32, harvest)
        assert store.get("00" * 32, runner.prepare(CV1, None, tmp_path / f"{number}")) is not None
    kept = {path.stem[:2] for path in (tmp_path / "cache").glob("*/*.npz")}
    assert "00" in kept and "01" not in kept and len(kept) == 3


def test_a_submission_is_re_judged_only_when_no_lab_ran_its_code(tmp_path):
    log = tmp_path / "reused.json"
    assert not CacheLog.read(log).rejudged  # a run that wrote no log
    for harvests, ran, rejudged in (
        (["cv1", "cv2"], [], True),
        (["cv1"], ["cv2"], False),  # one lab's code ran: graded afresh
        ([], [], False),  # nothing kept, nothing ran: an unreadable notebook, say
    ):
        log.write_text(json.dumps({"training": [], "harvests": harvests, "ran": ran}))
        assert CacheLog.read(log).rejudged is rejudged


def test_a_worker_starts_its_fork_server_only_for_code_that_must_run(stripes_course, tmp_path):
    """The fork server's import of TensorFlow was most of a re-judge: a batch worker whose
    every lab is judged from kept harvests and training runs never starts one."""
    options = Options(course=stripes_course, cache=str(tmp_path / "cache"))
    (tmp_path / "alice").mkdir()
    shutil.copy(stripes_course / "reference" / "stripes.py", tmp_path / "alice")
    task = Task("alice", options, folder=tmp_path / "alice")
    for afresh in (True, False):
        worker = Worker(options)
        try:
            done = worker.grade(task)
            assert done.results is not None, done.problem
            assert done.results["score"] == done.results["max_score"]
            assert (done.rejudged, worker.server.started) == (not afresh, afresh)
        finally:
            worker.close()


# The same grade, cache or not: one class of every kind of submission graded three times.


def quick(course: Path) -> None:
    """Train on fewer images for one epoch: the grades compared, not their level, matter."""
    for grader in (course / "graders").glob("test_*.py"):
        text = re.sub(r"train_size=[\d_]+", "train_size=500", grader.read_text())
        text = re.sub(r"test_size=[\d_]+", "test_size=200", text)
        grader.write_text(re.sub(r"epochs=\d+", "epochs=1", text))


def attack(kept: Path) -> str:
    """cv1's reference with code that goes for the cache: it reads, damages and plants."""
    planted = kept / "pl" / ("pl" * 32 + ".npz")
    return (REFERENCE / "cv1_mnist_intro.py").read_text() + (
        "\n\ndef _attack():\n"
        "    import glob, os\n"
        f"    for path in glob.glob({str(kept)!r} + '/**', recursive=True):\n"
        "        if os.path.isfile(path):\n"
        "            try:\n"
        "                open(path, 'rb').read()\n"
        "            except OSError:\n"
        "                continue\n"
        "            raise SystemExit('read the cache: ' + path)\n"
        "    try:\n"
        f"        os.makedirs({str(planted.parent)!r}, exist_ok=True)\n"
        f"        open({str(planted)!r}, 'wb').write(b'PK')\n"
        "    except OSError:\n"
        "        pass\n"
        "\n\n_attack()\n"
    )


@pytest.fixture(scope="module")
def three_ways(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The reference, the stubs, tests/submissions/equivalent, every mistake and an attack on
    the cache, graded without the cache, with a cold one and with the same one warm."""
    root = tmp_path_factory.mktemp("three-ways")
    course = root / "course"
    for part in ("graders", "exercises", "reference", "templates"):
        shutil.copytree(ROOT / part, course / part)
    quick(course)
    classroom = root / "class"
    for student, folder in (
        ("reference", REFERENCE),
        ("stubs", EXERCISES),
        ("equivalent", SUBMISSIONS / "equivalent"),
    ):
        shutil.copytree(folder, classroom / student, ignore=shutil.ignore_patterns("__pycache__"))
    for number, batch in enumerate(batches(), 1):
        (classroom / f"mistakes{number}").mkdir()
        for wrong in batch:
            (classroom / f"mistakes{number}" / f"{wrong.lab}.py").write_text(wrong.apply(REFERENCE))
    kept = root / "kept"
    (classroom / "zoe").mkdir()  # graded last, when the others' harvests are kept
    (classroom / "zoe" / "cv1_mnist_intro.py").write_text(attack(kept))
    runs = {}
    for name, setting in (("off", cache.OFF), ("cold", kept), ("warm", kept)):
        options = Options(course=course, cache=str(setting))
        classrun.run(classroom, root / name, options, workers=2, force=True, progress=False)
        runs[name] = root / name
    students = sorted(path.name for path in classroom.iterdir())
    modules = len(list(classroom.glob("*/*.py")))
    return SimpleNamespace(runs=runs, kept=kept, students=students, modules=modules)


def test_the_same_grade_cold_warm_and_without_the_cache(three_ways):
    graded = {name: by_student(out) for name, out in three_ways.runs.items()}
    assert sorted(graded["off"]) == three_ways.students
    assert graded["cold"] == graded["warm"] == graded["off"]
    stubs = graded["off"]["stubs"]
    assert stubs["score"] < stubs["max_score"] == graded["off"]["reference"]["max_score"] == 49


def test_a_warm_cache_rejudges_every_submission(three_ways):
    how = {
        name: {row["student"]: row["grading"] for row in gradebook.read(out / "gradebook.csv")}
        for name, out in three_ways.runs.items()
    }
    everyone = three_ways.students
    assert how["off"] == how["cold"] == dict.fromkeys(everyone, gradebook.AFRESH)
    # No kept harvest was damaged or missing: each lab of each submission was judged again.
    assert how["warm"] == dict.fromkeys(everyone, gradebook.REJUDGED)


def test_a_hostile_submission_cannot_read_or_write_the_cache(three_ways):
    """zoe's cv1 reads, damages and plants entries in the real cache folder: it sees no such
    folder, so it scores as the reference does, and the cache holds only the grader's own."""
    graded = by_student(three_ways.runs["cold"])

    def cv1(student: str) -> list[dict]:
        return [test for test in graded[student]["tests"] if test["tags"][0] == CV1.name]

    assert cv1("zoe") == cv1("reference")
    assert not (three_ways.kept / "pl").exists()
    harvests = list(three_ways.kept.glob("*/*.npz"))
    assert len(harvests) == three_ways.modules  # one per lab module, each whole
    for entry in harvests:
        with np.load(entry) as arrays:
            json.loads(arrays["fields"].tobytes())


# A class regraded after a threshold change, on the one-lab stripes course.


def notebook(module: str) -> nbformat.NotebookNode:
    """A notebook of ``module``'s functions, each in a graded cell, its imports above them."""
    imports = "\n".join(line for line in module.splitlines() if line.startswith("import "))
    cells = [nbformat.v4.new_code_cell(imports)]
    for name, source in sourcecode.definitions(module).items():
        cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [f"graded:{name}"]}))
    return nbformat.v4.new_notebook(cells=cells)


WITNESS = "\nwith open({path!r}, 'a') as log:\n    log.write('ran\\n')\n"


def test_a_regrade_after_a_threshold_change_rejudges_and_uses_the_new_threshold(
    stripes_course, tmp_path, monkeypatch
):
    """The rerun regrades everyone, since the graders changed, but runs no student code: a
    submission that logs each run of its code, outside the sandbox, ran once. A changed API
    declaration runs it again."""
    monkeypatch.delenv(cache.CACHE_ENV)  # the batch's own default: out/cache
    course = tmp_path / "course"
    shutil.copytree(stripes_course, course)
    reference = (course / "reference" / "stripes.py").read_text()
    log = tmp_path / "runs.log"
    classroom = tmp_path / "class"
    witness = reference + WITNESS.format(path=str(log))  # logs each run of its code
    for student, source in (("alice", reference), ("wendy", witness)):
        (classroom / student).mkdir(parents=True)
        (classroom / student / "stripes.py").write_text(source)
    (classroom / "nora").mkdir()  # a notebook: its cells are found again, not re-read
    nbformat.write(notebook(reference), classroom / "nora" / "stripes.ipynb")
    out = tmp_path / "out"
    options = Options(course=course, isolation="off")
    first = classrun.run(classroom, out, options, workers=1, progress=False)
    assert [row.grading for row in first] == [gradebook.AFRESH] * 3
    assert log.read_text() == "ran\n"
    assert list((out / "cache").glob("*/*.npz"))
    grader = course / "graders" / "test_stripes.py"
    text = grader.read_text()
    assert "min_accuracy=0.75" in text
    grader.write_text(text.replace("min_accuracy=0.75", "min_accuracy=1.01"))

    again = classrun.run(classroom, out, options, workers=1, progress=False)
    assert log.read_text() == "ran\n"  # wendy's code did not run again
    rows = {row["student"]: row for row in gradebook.read(out / "gradebook.csv")}
    assert {name: row["grading"] for name, row in rows.items()} == dict.fromkeys(
        ("alice", "nora", "wendy"), gradebook.REJUDGED
    )
    for before, after in zip(first, again, strict=True):
        assert after.total < before.total == before.max_score  # the accuracy checks now fail
    results = json.loads((out / "results" / "alice.json").read_text())
    assert "needs 1.01" in " ".join(test["output"] for test in results["tests"])

    # labkit grade, asked as the batch grades (figures drawn for a feedback page, no sandbox),
    # re-judges from the batch's cache too, and says so in one quiet line each.
    command = [sys.executable, "-m", "labkit.cli", "grade", "--course", str(course)]
    command += ["--submission", str(classroom / "wendy"), "--cache", str(out / "cache")]
    command += ["--isolation", "off", "--feedback", str(tmp_path / "wendy.html")]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 1, finished.stdout[-3000:]  # the accuracy checks fail
    assert finished.stdout.splitlines()[-2:] == [
        "reused the earlier run of the submission's code for stripes",
        "reused the grader's earlier training run for stripes",
    ]
    assert log.read_text() == "ran\n"

    # A changed API declaration runs the code again: augment() is handed fewer images.
    text = grader.read_text()
    assert 'Data("x_train", 16)' in text
    grader.write_text(text.replace('Data("x_train", 16)', 'Data("x_train", 8)'))
    third = classrun.run(classroom, out, options, workers=1, progress=False)
    assert [row.grading for row in third] == [gradebook.AFRESH] * 3
    assert log.read_text() == "ran\nran\n"
    assert [row.total for row in third] == [row.total for row in again]
