"""Deliberately wrong submissions lose points in the category that names their mistake.

Each mistake is one edit to a reference solution, so the rest of the lab stays correct
and any other failing category would be a grader bug.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REFERENCE, SUBMISSIONS
from mistakes import MISTAKES, Mistake

from labkit.report import checkresults


def batches() -> list[list[Mistake]]:
    """Group the mistakes so that each grading run holds at most one per lab."""
    grouped: list[list[Mistake]] = []
    for wrong in MISTAKES:
        free = next((batch for batch in grouped if all(m.lab != wrong.lab for m in batch)), None)
        if free is None:
            grouped.append(free := [])
        free.append(wrong)
    return grouped


def write(batch: list[Mistake], folder: Path) -> None:
    folder.mkdir()
    for wrong in batch:
        (folder / f"{wrong.lab}.py").write_text(wrong.apply(REFERENCE))


@pytest.mark.parametrize(
    "batch", batches(), ids=lambda batch: "+".join(m.name.split()[0] for m in batch)
)
def test_mistakes_fail_their_category(grade, pytester, batch):
    write(batch, pytester.path / "submission")
    graded = grade(pytester.path / "submission", *(f"--lab={m.lab}" for m in batch))
    wrong_verdicts = []
    for wrong in batch:
        failed = graded.failed(wrong.lab)
        missing = wrong.fails - failed
        unexpected = failed - wrong.fails - wrong.may_also_fail
        if missing or unexpected:
            wrong_verdicts.append(
                f"{wrong.lab} / {wrong.name}: should fail {sorted(wrong.fails)}, "
                f"failed {sorted(failed)}"
            )
        # One fault, named as the class summary counts it, and told once: every check the
        # mistake fails is that fault's own or one it blocks.
        faults = checkresults.faults(checkresults.results_from_json(graded.results))
        told = [(f.check.category, f.check.causes, [b.category for b in f.blocked]) for f in faults]
        mine = [fault for fault in faults if fault.check.lab == wrong.lab]
        covered = (
            {mine[0].check.category, *(b.category for b in mine[0].blocked)} if mine else set()
        )
        if not mine or mine[0].check.causes != (wrong.cause,) or not wrong.fails <= covered:
            wrong_verdicts.append(f"{wrong.lab} / {wrong.name}: for {wrong.cause!r}, told {told}")
    assert not wrong_verdicts, "\n".join(wrong_verdicts)


def test_each_mistake_has_a_cause_of_its_own():
    causes = [wrong.cause for wrong in MISTAKES]
    assert all(causes) and len(set(causes)) == len(causes)


def test_seed_mismatch_message_explains_the_fix(grade, pytester):
    seed_mistake = next(m for m in MISTAKES if "from_logits" in m.name)
    write([seed_mistake], pytester.path / "submission")
    graded = grade(pytester.path / "submission", "--lab", seed_mistake.lab)
    message = graded.output(seed_mistake.lab, "compile")
    assert "softmax" in message and "from_logits=True" in message


def test_hostile_submissions_cost_only_their_own_points(grade):
    graded = grade(SUBMISSIONS / "hostile", "--time-limit", "25", "--memory-limit", "3")
    assert graded.results["max_score"] == 49
    assert "sys.exit('bye')" in graded.output("cv1_mnist_intro", "submission")
    # The endless loop is cut off by the time limit; what ran before it still counts.
    # Said once, where it happened; the checks that needed build_model() are blocked by it.
    stopped = "The module's process stopped early, in build_model(): used more than 25 s of CPU"
    assert stopped in graded.output("cv2_fashion_mnist_intro", "submission")
    assert graded.output("cv2_fashion_mnist_intro", "structure") == (
        "blocked: the module's process stopped early"
    )
    assert "preprocess" not in graded.failed("cv2_fashion_mnist_intro")
    assert "MemoryError" in graded.output("cv3_mnist_cnn", "structure")
    assert "preprocess" not in graded.failed("cv3_mnist_cnn")
    # Patching Keras, NumPy and labkit in the child changes nothing in the grader.
    cifar = graded.failed("cv4_cifar_cnn")
    assert {"preprocess", "structure", "shapes", "params", "compile", "plot"} <= cifar
    # The grader's own declaration stands; the shapes and params the wrong layers cost are
    # told as their consequences.
    assert "Expected Conv2D -> MaxPooling2D -> Conv2D" in graded.output(
        "cv4_cifar_cnn", "structure"
    )
    assert graded.output("cv4_cifar_cnn", "params").startswith("blocked: ")
    # os._exit() in plot_history() is told where it happened, once.
    assert "stopped early, in plot_history(): the process ended early" in graded.output(
        "cv4_cifar_cnn", "submission"
    )
    assert "blocked: the module's process stopped early" in graded.output("cv4_cifar_cnn", "plot")
    assert graded.results["score"] <= 5
