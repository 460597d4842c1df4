"""Hostile classmates: attacks on what the grader reads and says.

Each attack is handed in beside a correct lab, or graded as a class's stubs, and must cost
only its own points, with its own output saying what went wrong:

1. a notebook made to be slow or huge to convert;
2. a model whose layer class name is terminal escape codes drawing a fake full score;
3. a notebook that is a link to the reference or to a system file;
4. a student repository whose conftest.py and pytest configuration make every check pass.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import xmlschema
from conftest import COURSE, EXERCISES, GRADERS, REFERENCE, SUBMISSIONS, Graded, labkit_grade

from labkit.intake import notebooks

ATTACKS = SUBMISSIONS / "attacks"
SCHEMA = Path(__file__).resolve().parent / "data" / "junit-10.xsd"
# What a terminal would act on, and what XML 1.0 forbids: none may reach a reader.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
CV1, CV2, CV3 = "cv1_mnist_intro", "cv2_fashion_mnist_intro", "cv3_mnist_cnn"


def notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells; the last one is the graded build_model."""
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    cells[-1].metadata["tags"] = ["graded:build_model"]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def beside_the_reference(folder: Path) -> Path:
    """``folder``, made, holding the correct cv3 lab that every attack must leave untouched."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE / f"{CV3}.py", folder)
    return folder


def outputs(graded: Graded, lab: str) -> str:
    return "\n".join(test["output"] for test in graded.checks(lab))


def full_marks(graded: Graded, lab: str) -> bool:
    scored, total = graded.score(lab)
    return scored == total > 0


def labkit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return labkit_grade(*args, cwd=cwd, timeout=600, **env)


# 1. Notebook conversion is bounded. Each payload's size took seconds before the fix and grew
# with its square (100 KB of colons took 253 s, 2 MiB of statements 256 s and 1.95 GiB); the
# timing itself is tested in test_sourcecode.py.


def test_notebooks_made_to_be_slow_to_convert_cost_only_their_own_lab(grade, tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "CONVERSION_CPU_SECONDS", 2)  # a lab notebook takes 0.3
    folder = beside_the_reference(tmp_path / "submission")
    # Explaining "name 'x' is not defined" backtracked over every colon of this cell.
    notebook(folder / f"{CV1}.ipynb", "x" + ":x" * 15_000, "def build_model():\n    return x")
    # 100,000 statements on one line: over the conversion's CPU budget.
    notebook(
        folder / f"{CV2}.ipynb", "a = 1\n" + "a=a;" * 100_000, "def build_model():\n    return a"
    )
    graded = grade(folder, "--lab", CV1, "--lab", CV2, "--lab", CV3)
    assert graded.score(CV1)[0] == 0
    assert 'Python cannot read cell 1, which starts "x:x:x' in outputs(graded, CV1)
    assert graded.score(CV2)[0] == 0
    assert f"{CV2}.ipynb could not be read" in outputs(graded, CV2)
    assert "s of CPU time" in outputs(graded, CV2)
    assert full_marks(graded, CV3)


def test_a_notebook_over_the_conversion_limits_could_not_be_read(tmp_path, monkeypatch):
    path = notebook(tmp_path / f"{CV1}.ipynb", "a = 1\n" + "a=a;" * 100_000, "a")
    monkeypatch.setattr(notebooks, "CONVERSION_WALL_SECONDS", 0.01)
    with pytest.raises(notebooks.NotebookUnreadable, match="could not be read"):
        notebooks.convert(path, COURSE.lab(CV1))


# 2. Terminal escapes: every text a reader gets is cleaned where checks are judged.


def test_terminal_escapes_in_a_class_name_reach_no_reader(tmp_path):
    folder = beside_the_reference(tmp_path / "submission")
    shutil.copy(ATTACKS / "terminal_escapes.py", folder / f"{CV1}.py")
    results, xml = tmp_path / "results.json", tmp_path / "junit.xml"
    summary = tmp_path / "summary.md"
    finished = labkit(
        *("--course", str(GRADERS.parent), "--submission", str(folder)),
        *("--lab", CV1, "--lab", CV3),
        *("--results", str(results), "--junitxml", str(xml)),
        cwd=tmp_path,
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert finished.returncode == 1, finished.stdout[-3000:] + finished.stderr[-3000:]
    table = finished.stdout
    for text in (table, finished.stderr, results.read_text(), xml.read_text(), summary.read_text()):
        assert not CONTROL.search(text), repr(CONTROL.search(text))
    # The real score shows, and the fake one only as text under the check it failed.
    found = json.loads(results.read_text())
    cv1 = [test for test in found["tests"] if test["tags"][0] == CV1]
    assert 0 < sum(test["score"] for test in cv1) < sum(test["max_score"] for test in cv1)
    structure = next(test["output"] for test in cv1 if test["tags"][1] == "structure")
    # The screen refuses a layer class it does not know, and quotes its (cleaned) name.
    assert "checks passed" in structure and "a layer it does not know" in structure
    assert "failed check to fix first" in table and "checks passed" not in table.splitlines()[-2]
    assert re.search(r"^cv3_mnist_cnn .* 11/11$", table, re.MULTILINE)
    xmlschema.XMLSchema(SCHEMA).validate(str(xml))


# 3. A notebook that is a link is refused, and no error quotes a file's content.


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="no /etc/passwd to link to")
def test_a_notebook_that_is_a_link_is_refused_and_never_quoted(grade, tmp_path):
    folder = beside_the_reference(tmp_path / "submission")
    secret = REFERENCE / "cv4_cifar_cnn.py"
    (folder / f"{CV1}.ipynb").symlink_to(secret)
    (folder / f"{CV2}.ipynb").symlink_to("/etc/passwd")
    graded = grade(folder, "--lab", CV1, "--lab", CV2, "--lab", CV3)
    written = graded.path.read_text()
    for path in (secret, Path("/etc/passwd")):
        start = path.read_text()[:12]
        assert start not in written and json.dumps(start)[1:-1] not in written
    assert "root:x" not in written
    for lab in (CV1, CV2):
        assert graded.score(lab)[0] == 0
        assert f"{lab}.ipynb is not a plain file" in outputs(graded, lab)
        assert "not a link to it" in outputs(graded, lab)
    assert full_marks(graded, CV3)


def test_a_broken_notebook_is_described_without_quoting_it(tmp_path):
    path = tmp_path / f"{CV1}.ipynb"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(notebooks.NotebookUnreadable) as raised:
        notebooks.read(path)
    assert "root" not in str(raised.value)
    assert "not JSON, at line 1, column 1" in str(raised.value)


# 4. A student's repository configures nothing of a grading run.

FORCE_PASS = """
import pytest
from pathlib import Path

Path(__file__).with_name("{name}.loaded").write_text("loaded")


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: before labkit's plugin sees it
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"  # every check passes, whatever it found
    call.excinfo = None
    return report
"""


def student_repository(root: Path) -> Path:
    """A copy of the student release's layout, with every way to configure pytest from it."""
    shutil.copytree(GRADERS, root / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXERCISES, root / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "conftest.py").write_text(FORCE_PASS.format(name="conftest"))
    (root / "forcepass.py").write_text(FORCE_PASS.format(name="forcepass"))
    options = "pythonpath = .\naddopts = -p forcepass\n"
    (root / "pytest.ini").write_text(f"[pytest]\n{options}")
    (root / "tox.ini").write_text(f"[pytest]\n{options}")
    (root / "setup.cfg").write_text(f"[tool:pytest]\n{options}")
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\naddopts = ["-p", "forcepass"]\n'
    )
    (root / "graders" / "pytest.ini").write_text(f"[pytest]\n{options}")
    for name in ("sitecustomize.py", "usercustomize.py"):
        (root / name).write_text(f"open({str(root / name)!r} + '.loaded', 'w').close()\n")
    (root / "attack.pth").write_text(f"import os; open({str(root / 'pth.loaded')!r}, 'w')\n")
    return root


def test_a_repository_that_makes_every_check_pass_grades_its_stubs_as_zero(tmp_path):
    root = student_repository(tmp_path / "repo")
    results = tmp_path / "results.json"
    finished = labkit("--results", str(results), cwd=root, PYTEST_ADDOPTS="-p forcepass")
    assert finished.returncode == 1, finished.stdout[-3000:] + finished.stderr[-3000:]
    found = json.loads(results.read_text())
    assert found["score"] == 0 < found["max_score"]
    assert not list(root.glob("*.loaded")), "something of the repository was loaded"
    assert "is still a TODO" in finished.stdout
