"""A small class's results for the page tests: two labs, the faults that tests/mistakes.py
makes, a lab not handed in, a check the grader could not grade and an errored row.

The messages and cause names are those the checks give (tests/test_mistakes.py grades the
mistakes for real and checks their cause names), so the pages are built as a batch builds
them, without the minutes of grading.

Usage: ``rows, results = pagedata.CLASS``
"""

from __future__ import annotations

from labkit.report.checkresults import BLOCKED, NOT_SUBMITTED, CheckResult
from labkit.report.gradebook import Row

CHECKS = (
    ("submission", "The module imports and defines every function", 1),
    ("preprocess", "preprocess() scales pixels to 0..1 in the input shape", 1),
    ("structure", "Layer types and activations, in order", 2),
    ("shapes", "Output shape after every layer", 1),
    ("params", "Parameter count", 1),
    ("compile", "Adam, sparse cross-entropy matching the output, accuracy metric", 2),
    ("accuracy", "Test accuracy after the grader's training run", 1),
)
POOLING = "a MaxPooling2D layer missing after the second Conv2D"
POOLING_HINT = (
    "A MaxPooling2D layer is missing after the second Conv2D: did you forget it? Expected "
    "Conv2D -> MaxPooling2D -> Conv2D -> MaxPooling2D -> Flatten -> Dense -> Dense."
)
LOGITS = "a softmax output with from_logits=True"
LOGITS_HINT = (
    "The last layer applies softmax, so it outputs probabilities, but the loss has "
    "from_logits=True and will apply softmax a second time. Either remove the softmax "
    "(output logits) or use from_logits=False."
)
SCALE = "pixels not scaled to 0..1"


def lab(
    name: str,
    faults: dict[str, tuple[str, str]] | None = None,
    blocked: dict[str, str] | None = None,
    ungraded: tuple[str, ...] = (),
    missing: bool = False,
) -> list[CheckResult]:
    """One lab's checks: ``faults`` by category (message, cause), ``blocked`` by category
    (the cause), the categories the grader could not grade, or a lab not handed in."""
    faults, blocked = faults or {}, blocked or {}
    if missing:
        said = (
            f"{NOT_SUBMITTED}: no {name}.py or {name}.ipynb was found at the top of the submission"
        )
        faults = {"submission": (said, NOT_SUBMITTED)}
        blocked = {category: NOT_SUBMITTED for category, _, _ in CHECKS[1:]}
    checks = []
    for category, description, points in CHECKS:
        check = CheckResult(name, category, description, points, True, "")
        if category in faults:
            message, cause = faults[category]
            check = CheckResult(
                name, category, description, points, False, message, causes=(cause,)
            )
        elif category in blocked:
            message = BLOCKED + blocked[category]
            check = CheckResult(
                name, category, description, points, False, message, causes=(blocked[category],)
            )
        elif category in ungraded:
            message = "could not grade: The grader's training run failed: it stalled"
            check = CheckResult(name, category, description, points, False, message, ungraded=True)
        checks.append(check)
    return checks


def missing_pooling(hint: str = POOLING_HINT) -> list[CheckResult]:
    return lab(
        "cv3_mnist_cnn",
        {"structure": (hint, POOLING)},
        {"shapes": POOLING, "params": POOLING},
    )


def softmax_logits() -> list[CheckResult]:
    return lab("cv4_cifar_cnn", {"compile": (LOGITS_HINT, LOGITS)})


RESULTS = {
    "ann": missing_pooling() + softmax_logits(),
    "ben": missing_pooling(POOLING_HINT.replace("did you forget it? ", ""))
    + lab("cv4_cifar_cnn", missing=True),
    "cat": lab("cv3_mnist_cnn")
    + lab(
        "cv4_cifar_cnn",
        {
            "preprocess": (
                "preprocess() values go up to 255; expected 0 to 1. Divide the pixels by 255.0.",
                SCALE,
            ),
            "compile": (LOGITS_HINT, LOGITS),
        },
    ),
    "dan": lab("cv3_mnist_cnn", ungraded=("accuracy",)) + lab("cv4_cifar_cnn"),
}


def row(student: str, status: str, reason: str = "") -> Row:
    checks = RESULTS.get(student, [])
    labs = {check.lab for check in checks}
    scores = {name: sum(c.points for c in checks if c.lab == name) for name in labs}
    total = sum(check.points for check in checks)
    most = sum(check.max_points for check in checks)
    return Row(student, scores, total, most, status, reason, 3.5)


ROWS = [
    row("ann", "graded"),
    row("ben", "partial", "not submitted: cv4_cifar_cnn"),
    row("cat", "graded"),
    row("dan", "could not grade", "could not grade: cv3_mnist_cnn: Test accuracy"),
    row("eve", "error", "eve.zip cannot be read as a zip file: hand in a zip, or a folder"),
]
LABS = ["cv3_mnist_cnn", "cv4_cifar_cnn"]
