"""`nox -s calibrate` in its quick mode: one lab, one seed, the reference and its mistakes."""

from __future__ import annotations

import dataclasses

from labkit import calibrate, labs


def test_quick_calibration_prints_both_margins(capsys):
    assert calibrate.main(["--seeds", "1", "--lab", "cv1_mnist_intro"]) == 0
    printed = capsys.readouterr().out
    assert "cv1_mnist_intro: 5,000 images x 3 epochs" in printed
    reference = next(line for line in printed.splitlines() if "reference" in line)
    assert float(reference.split()[1]) >= labs.get("cv1_mnist_intro").training.min_accuracy
    assert "non-finite training (must fail accuracy)" in printed
    assert "compile_model forgets to return (must fail accuracy)" in printed
    assert "worst reference seed +" in printed
    assert "best mistake that must fail: +" in printed


def test_a_threshold_above_the_reference_fails_calibration(monkeypatch, tmp_path, capsys):
    lab = labs.get("cv1_mnist_intro")
    strict = dataclasses.replace(lab, training=dataclasses.replace(lab.training, min_accuracy=0.99))
    monkeypatch.setitem(labs.LABS, lab.name, strict)
    no_mistakes = ["--mistakes", str(tmp_path / "none.py")]
    assert calibrate.main(["--seeds", "1", "--lab", lab.name, *no_mistakes]) == 1
    assert "reference below its threshold in: cv1_mnist_intro" in capsys.readouterr().err
