"""`nox -s calibrate` in its quick mode: one lab, one seed, the reference and its mistakes."""

from __future__ import annotations

import shutil

from conftest import COURSE

from labkit.measure import calibrate


def test_quick_calibration_prints_both_margins(capsys):
    assert calibrate.main(["--seeds", "1", "--lab", "cv1_mnist_intro"]) == 0
    printed = capsys.readouterr().out
    assert "cv1_mnist_intro: 5,000 images x 3 epochs" in printed
    reference = next(line for line in printed.splitlines() if "reference" in line)
    assert float(reference.split()[1]) >= COURSE.lab("cv1_mnist_intro").training.min_accuracy
    assert "non-finite training (must fail accuracy)" in printed
    assert "compile_model forgets to return (must fail accuracy)" in printed
    assert "worst reference seed +" in printed
    assert "best mistake that must fail: +" in printed


def test_a_threshold_above_the_reference_fails_calibration(tmp_path, capsys):
    """A course whose grader asks too much: its threshold changes in the grader alone."""
    for folder in ("graders", "reference"):
        (tmp_path / folder).mkdir()
    grader = (COURSE.graders / "test_cv1_mnist_intro.py").read_text()
    strict = grader.replace("min_accuracy=0.83", "min_accuracy=0.99")
    assert strict != grader
    (tmp_path / "graders" / "test_cv1_mnist_intro.py").write_text(strict)
    shutil.copy(COURSE.reference / "cv1_mnist_intro.py", tmp_path / "reference")
    options = ["--course", str(tmp_path), "--mistakes", str(tmp_path / "none.py")]
    assert calibrate.main(["--seeds", "1", "--lab", "cv1_mnist_intro", *options]) == 1
    assert "reference below its threshold in: cv1_mnist_intro" in capsys.readouterr().err
