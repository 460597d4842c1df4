"""The similarity report: a planted copy among ten cv3 submissions is found, honest ones are not.

The ten: the reference, tests/submissions/equivalent, seven honest rewrites in
tests/submissions/similarity, and hugo, who copied ben's module, changed every name and
comment, and handed it in as a notebook whose other cells hold yet more code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from labkit import cli
from labkit.intake import classfolder
from labkit.report import similarity
from labkit.spec.course import Course

ROOT = Path(__file__).resolve().parents[1]
HONEST = ROOT / "tests" / "submissions" / "similarity"
LAB = "cv3_mnist_cnn"


def notebook(graded: dict[str, str], other: list[str]) -> str:
    """A lab notebook: a cell per graded function, tagged as the handouts tag them, and
    untagged cells around them."""
    cells = [nbformat.v4.new_markdown_cell("# Lab 3")]
    cells += [nbformat.v4.new_code_cell(source) for source in other]
    for function, source in graded.items():
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [f"graded:{function}"]
        cells.append(cell)
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells))


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    for student, source in (
        ("ref", ROOT / "reference"),
        ("eq", ROOT / "tests/submissions/equivalent"),
    ):
        (folder / student).mkdir()
        for lab in (LAB, "cv1_mnist_intro"):
            shutil.copy(source / f"{lab}.py", folder / student)
    for path in HONEST.glob(f"*_{LAB}.py"):
        shutil.copy(path, folder)
    # Two students hand in cv1's stub as it is: what everyone was given is no one's copy.
    for student in ("cleo", "dan"):
        shutil.copy(
            ROOT / "exercises" / "cv1_mnist_intro.py", folder / f"{student}_cv1_mnist_intro.py"
        )
    copied = (HONEST / "copied" / f"{LAB}.py").read_text()
    head, preprocess, block, build, compile_ = copied.split("\n\n\ndef ")
    graded = {
        "preprocess": "def " + preprocess,
        "build_model": f"def {block}\n\n\ndef {build}",
        "compile_model": "def " + compile_,
    }
    # Untagged cells never count: not even one that holds another student's whole module.
    other = [head, (HONEST / f"ana_{LAB}.py").read_text(), "model.fit(x, y, epochs=10)"]
    (folder / "hugo").mkdir()
    (folder / "hugo" / f"{LAB}.ipynb").write_text(notebook(graded, other))
    return folder


@pytest.fixture(scope="module")
def reported(classroom: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    code = cli.main(["similarity", str(classroom), "--out", str(out)])
    assert code == cli.EXIT_PASSED
    return out


def test_the_planted_copy_is_the_one_pair_found(reported):
    found = json.loads((reported / "similarity.json").read_text())
    assert found["compared"] == {
        "cv1_mnist_intro": 4,
        "cv2_fashion_mnist_intro": 0,
        LAB: 10,
        "cv4_cifar_cnn": 0,
    }
    assert [(pair["lab"], pair["students"]) for pair in found["pairs"]] == [(LAB, ["ben", "hugo"])]
    assert min(found["pairs"][0]["shares"]) > 0.9
    assert found["skipped"] == []


def test_honest_solutions_stay_well_below_the_threshold(classroom, tmp_path):
    """The margin the threshold was picked from: the most alike honest pair shares 0.28."""
    entries = classfolder.collect(classroom, [LAB], tmp_path)
    honest = [entry for entry in entries if entry.student != "hugo"]
    assert len(honest) == 9
    pairs = similarity.compare(honest, [LAB], Course.find(None), least=0.0).pairs
    assert len(pairs) > 10  # honest solutions of one lab do share code
    assert max(max(pair.shares) for pair in pairs) < 0.6 * similarity.REPORTED_SHARE


def test_the_page_shows_each_pair_side_by_side_with_the_shared_code_marked(reported):
    page = (reported / "similarity.html").read_text()
    assert "<h3>ben and hugo</h3>" in page
    assert "10 submissions compared; 1 pair reported." in page
    assert page.count("<mark>") >= 2
    assert "def down_sample(tensor, n_filters):" in page  # hugo's graded cells
    assert "model.fit" not in page  # and none of the others


def test_an_unreadable_notebook_is_listed_as_not_compared(tmp_path):
    (tmp_path / "class" / "ivan").mkdir(parents=True)
    (tmp_path / "class" / "ivan" / f"{LAB}.ipynb").write_text("{ not JSON")
    (tmp_path / "class" / "jo").mkdir()
    (tmp_path / "class" / "jo" / f"{LAB}.ipynb").write_text(notebook({}, ["x = 1"]))
    comparison = similarity.report(tmp_path / "class", tmp_path / "out", Course.find(None), [LAB])
    assert [(student, why.split(" (")[0]) for student, _, why in comparison.skipped] == [
        ("ivan", f"{LAB}.ipynb is not a readable notebook"),
        ("jo", "the notebook has no graded cells"),
    ]
    assert "ivan, cv3_mnist_cnn: " in (tmp_path / "out" / "similarity.html").read_text()


def test_code_copydetect_cannot_read_is_listed_and_the_rest_compared(
    classroom, tmp_path, monkeypatch
):
    from copydetect import detector

    real = detector.CodeFingerprint

    def fussy(file, k, win_size, boilerplate=None, **options):
        if "class Stump" in options["fp"].getvalue():
            raise IndexError("as a tokenizer bug would")
        return real(file, k, win_size, boilerplate, **options)

    monkeypatch.setattr(detector, "CodeFingerprint", fussy)
    odd = tmp_path / "class"
    shutil.copytree(classroom, odd)
    (odd / f"zed_{LAB}.py").write_text("class Stump:\n    pass\n")
    comparison = similarity.report(odd, tmp_path / "out", Course.find(None), [LAB])
    assert comparison.skipped == [("zed", LAB, "copydetect could not read the code (IndexError)")]
    assert comparison.compared == {LAB: 10}
    assert [pair.students for pair in comparison.pairs] == [("ben", "hugo")]
