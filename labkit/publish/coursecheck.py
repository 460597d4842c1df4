"""Check a course against itself: its labs' declarations, their files, and their scores.

A lab's declaration (``LAB = Lab(...)`` in ``graders/test_<lab>.py``) gives each layer's
output shape and parameter count, as a handout's table does. A slip there (54,000 parameters
where the shapes give 54,090) used to surface only when the reference failed its params
check. Here each declaration is checked on its own terms, layer by layer, each layer's input
being the output the layer before it declares (the lab's ``input_shape`` for the first):

- ``Dense``: the output keeps the input's leading dimensions and ends in the units;
  parameters are (inputs + 1) x units.
- ``Conv2D``: (height, width, channels) in and out; some square kernel k gives the
  parameters as (k x k x channels + 1) x filters; at stride 1 each side is then in - k + 1
  (padding ``'valid'``) or unchanged (``'same'``). A strided, dilated or non-square
  convolution is reported: check such a layer by hand.
- ``MaxPooling2D``, ``AveragePooling2D``: no parameters; the channels stay and each side is
  divided by a pool size of 2 or more, rounded down (``'valid'``) or up (``'same'``).
- ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``: no parameters; one value per channel.
- ``Flatten``: no parameters; the product of the input's dimensions.
- ``Dropout``: no parameters; the input's shape.
- ``BatchNormalization``: the input's shape; 4 parameters per channel.

Counts include the biases. A count without them (54,000 where 600 inputs and 90 units give
54,090) is the commonest slip, so it is reported as one rather than read as
``use_bias=False``: a layer without biases is reported too, and is to be checked by hand.
Any other kind of layer is skipped: its declared output is taken as it stands and passed on.

Each lab's name must also be its grader's (``test_<lab>.py``), and the lab must have
``exercises/<lab>.py``, ``reference/<lab>.py`` and ``templates/<lab>.ipynb.j2``. Every
problem names the grader's file and the line of the ``Layer(...)`` or ``name=`` to change.

Then the course is graded as ``labkit grade`` grades it, in a process of its own: the
reference must score full marks in every lab and the stubs in ``exercises/`` in none.

Usage: ``labkit check-course [--course DIR] [--no-grade]``, or in code
``for finding in findings(Course.find(), grade=False): print(finding)``
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labkit.report import checkresults
from labkit.spec.course import Course, CourseError, declaration, grader_files, misnamed
from labkit.spec.lab import Lab, Layer

Shape = tuple[int, ...]
LAB_FIELDS = tuple(field.name for field in dataclasses.fields(Lab))


@dataclass(frozen=True)
class Finding:
    """One inconsistency, and where the author goes to fix it."""

    where: str  # "graders/test_<lab>.py:27", or a file the grading ran on
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def findings(course: Course, grade: bool = True) -> Iterator[Finding]:
    """Every inconsistency in the course: its declarations first, then (if ``grade``) scores."""
    for path in grader_files(course.graders):
        yield from grader_findings(course, path)
    if grade:
        yield from score_findings(course, course.reference, full_marks=True)
        yield from score_findings(course, course.exercises, full_marks=False)


def verdict(found: list[Finding], graded: bool) -> str:
    """The last line of ``labkit check-course``."""
    if len(found) == 1:
        return "the course is not consistent: 1 problem above; fix it and check again"
    if found:
        return (
            f"the course is not consistent: {len(found)} problems above; fix them and check again"
        )
    if not graded:
        return "the declarations are consistent (reference and stubs not graded: --no-grade)"
    return (
        "the course is consistent: declarations, files, full marks for the reference and "
        "not for the stubs"
    )


# The declarations


def grader_findings(course: Course, path: Path) -> list[Finding]:
    """What is wrong with the lab one grader declares, each at its line in the grader."""
    shown = path.relative_to(course.root).as_posix()
    try:
        found = declaration(path)
    except CourseError as error:
        return [Finding(f"{shown}:{_failing_line(error, path)}", str(error))]
    if found is None:
        return []  # a test module that declares no lab
    lab = found[0]
    lines = declaration_lines(path.read_text(encoding="utf-8"))
    problems = [(lines.name, message) for message in naming_problems(course, path, lab)]
    problems += [(lines.layer(index), message) for index, message in chain_problems(lab)]
    return [Finding(f"{shown}:{line}", message) for line, message in problems]


def naming_problems(course: Course, path: Path, lab: Lab) -> list[str]:
    """The lab's name against its grader's file name, and the lab's other three files."""
    problems = [problem] if (problem := misnamed(path, lab)) else []
    files = (
        (course.exercises / f"{lab.name}.py", "the stub students fill in"),
        (course.reference / f"{lab.name}.py", "the solution, which must score full marks"),
        (course.templates / f"{lab.name}.ipynb.j2", "the notebook handout's template"),
    )
    for file, what in files:
        if not file.is_file():
            shown = file.relative_to(course.root).as_posix()
            problems.append(f"the lab {lab.name!r} has no {shown}: add it, {what}")
    return problems


def chain_problems(lab: Lab) -> list[tuple[int, str]]:
    """Each layer's problems, by layer index, its input being the previous layer's output."""
    problems = []
    inputs = lab.input_shape
    for index, layer in enumerate(lab.layers):
        problems += [(index, message) for message in layer_problems(inputs, layer)]
        inputs = layer.output_shape
    return problems


def layer_problems(inputs: Shape, layer: Layer) -> list[str]:
    """What in one declared layer disagrees with its kind's arithmetic on ``inputs``."""
    rule = RULES.get(layer.kind)
    if rule is None:
        return []  # a kind whose arithmetic is not known here: taken as declared
    if not inputs or not layer.output_shape or min((*inputs, *layer.output_shape)) < 1:
        return [
            f"{_label(layer)} after {inputs}: a shape needs one or more dimensions, each at "
            "least 1; declare it as model.summary() shows it, without the batch size"
        ]
    return rule(inputs, layer)


def _dense(inputs: Shape, layer: Layer) -> list[str]:
    units = layer.output_shape[-1]
    expected = (*inputs[:-1], units)
    problems = []
    if layer.output_shape != expected:
        problems.append(
            f"{_label(layer)} after {inputs}: Dense keeps the leading dimensions and sets the "
            f"last to its {units:,} units, which gives {expected}; declare that, or put a "
            "Flatten before it"
        )
    weights = inputs[-1]
    expected = (weights + 1) * units
    if layer.params != expected:
        slip = (
            f", and {layer.params:,} leaves out the {units:,} biases"
            if layer.params == weights * units
            else ""
        )
        problems.append(
            f"{_label(layer)} declares {layer.params:,} parameters; {weights:,} inputs and "
            f"{units:,} units give {expected:,} (({weights:,} + 1) x {units:,}){slip}: "
            f"declare {expected:,}, or correct the input shape {inputs} it gets"
        )
    return problems


def _conv2d(inputs: Shape, layer: Layer) -> list[str]:
    if len(inputs) != 3 or len(layer.output_shape) != 3:
        return [
            f"{_label(layer)} after {inputs}: Conv2D takes and gives (height, width, "
            "channels); declare three dimensions for both"
        ]
    channels, filters = inputs[-1], layer.output_shape[-1]
    side = kernel_side(layer.params, channels, filters)
    if side is None:
        return [_conv2d_count_problem(layer, channels, filters)]
    valid = (inputs[0] - side + 1, inputs[1] - side + 1, filters)
    same = (inputs[0], inputs[1], filters)
    if layer.output_shape in (valid, same):
        return []
    return [
        f"{_label(layer)} after {inputs}: its {side}x{side} kernel (the one its "
        f"{layer.params:,} parameters give) makes {valid} with padding 'valid' or {same} with "
        "'same', at stride 1; declare one of those, or the parameters of the kernel you meant"
    ]


def kernel_side(params: int, channels: int, filters: int, bias: bool = True) -> int | None:
    """The side k of the square kernel for which (k x k x channels + 1) x filters, or without
    the + 1 when not ``bias``, is ``params``; None when there is no such k."""
    if params % filters:
        return None
    weights = params // filters - (1 if bias else 0)
    if weights <= 0 or weights % channels:
        return None
    side = math.isqrt(weights // channels)
    return side if side * side == weights // channels else None


def _conv2d_count_problem(layer: Layer, channels: int, filters: int) -> str:
    """Why a Conv2D's count fits no kernel: its biases left out, else the nearest kernels."""
    stated = f"{_label(layer)} declares {layer.params:,} parameters"
    unbiased = kernel_side(layer.params, channels, filters, bias=False)
    if unbiased is not None:
        expected = (unbiased * unbiased * channels + 1) * filters
        return (
            f"{stated}, the weights of a {unbiased}x{unbiased} kernel without its {filters:,} "
            f"biases: declare {expected:,}"
        )
    return (
        f"{stated}, which no square kernel gives: {filters:,} filters at input depth "
        f"{channels:,} take (k x k x {channels:,} + 1) x {filters:,}, "
        f"{_kernel_counts(layer.params, channels, filters)}; declare the one the reference uses"
    )


def _kernel_counts(params: int, channels: int, filters: int) -> str:
    """The counts of the kernels nearest to what ``params`` would need, for the message."""
    needed = max(params / filters - 1, 1) / channels
    nearest = max(1, round(math.sqrt(needed)))
    sides = sorted({max(1, nearest - 1), nearest, nearest + 1})
    return ", ".join(f"{(k * k * channels + 1) * filters:,} for {k}x{k}" for k in sides)


def _pooling(inputs: Shape, layer: Layer) -> list[str]:
    problems = _no_weights(layer)
    if len(inputs) != 3:
        problems.append(
            f"{_label(layer)} after {inputs}: 2-D pooling takes (height, width, channels); "
            "correct the shape before it"
        )
    elif not _pooled(inputs, layer.output_shape):
        halved = (inputs[0] // 2, inputs[1] // 2, inputs[2])
        problems.append(
            f"{_label(layer)} after {inputs}: pooling keeps the {inputs[2]:,} channels and "
            "divides height and width by its pool size, rounding down (up with padding "
            f"'same'); the default 2x2 gives {halved}: declare that, or the pooling you meant"
        )
    return problems


def _pooled(inputs: Shape, output: Shape) -> bool:
    """Whether some pool size of 2 or more, with stride equal to it, turns ``inputs`` into
    ``output``: each side on its own, and the channels unchanged."""
    if len(output) != 3 or output[2] != inputs[2]:
        return False
    return all(
        any(size in (side // pool, -(-side // pool)) for pool in range(2, side + 2))
        for side, size in zip(inputs[:2], output[:2], strict=True)
    )


def _global_pooling(inputs: Shape, layer: Layer) -> list[str]:
    expected = (inputs[-1],)
    if len(inputs) == 3 and layer.output_shape == expected:
        return _no_weights(layer)
    return [
        *_no_weights(layer),
        f"{_label(layer)} after {inputs}: global pooling takes (height, width, channels) and "
        f"gives one value per channel; declare {expected}",
    ]


def _flatten(inputs: Shape, layer: Layer) -> list[str]:
    expected = (math.prod(inputs),)
    if layer.output_shape == expected:
        return _no_weights(layer)
    product = " x ".join(map(str, inputs))
    return [
        *_no_weights(layer),
        f"{_label(layer)} after {inputs}: Flatten gives {product} = {expected[0]:,} values; "
        f"declare {expected}",
    ]


def _dropout(inputs: Shape, layer: Layer) -> list[str]:
    return _no_weights(layer) + _same_shape(inputs, layer)


def _batch_normalization(inputs: Shape, layer: Layer) -> list[str]:
    problems = _same_shape(inputs, layer)
    expected = 4 * inputs[-1]
    if layer.params != expected:
        problems.append(
            f"{_label(layer)} declares {layer.params:,} parameters; its {inputs[-1]:,} "
            f"channels give {expected:,} (a scale, an offset, a mean and a variance each): "
            f"declare {expected:,}"
        )
    return problems


def _same_shape(inputs: Shape, layer: Layer) -> list[str]:
    if layer.output_shape == inputs:
        return []
    return [
        f"{_label(layer)} after {inputs}: {layer.kind} keeps its input's shape; declare {inputs}"
    ]


def _no_weights(layer: Layer) -> list[str]:
    if layer.params == 0:
        return []
    return [f"{_label(layer)} has no weights: declare 0 parameters, not {layer.params:,}"]


def _label(layer: Layer) -> str:
    """A layer as the grader's table writes it: ``Dense (64,)``."""
    return f"{layer.kind} {layer.output_shape}"


RULES: dict[str, Callable[[Shape, Layer], list[str]]] = {
    "Dense": _dense,
    "Conv2D": _conv2d,
    "MaxPooling2D": _pooling,
    "AveragePooling2D": _pooling,
    "GlobalAveragePooling2D": _global_pooling,
    "GlobalMaxPooling2D": _global_pooling,
    "Flatten": _flatten,
    "Dropout": _dropout,
    "BatchNormalization": _batch_normalization,
}


@dataclass(frozen=True)
class DeclarationLines:
    """Where a grader's source declares its lab, and the parts of the declaration."""

    lab: int = 1  # the ``LAB = Lab(...)`` statement; the file's top when there is none
    name: int = 1  # its ``name=``
    layers: tuple[int, ...] = ()  # each entry of its ``layers=``, in order

    def layer(self, index: int) -> int:
        """The line of layer ``index``, or of the whole declaration where the layers are not
        written out one by one (``layers=LAYERS``, ``*BLOCK``)."""
        return self.layers[index] if index < len(self.layers) else self.lab


def declaration_lines(source: str) -> DeclarationLines:
    """The lines of the module-level ``LAB = Lab(...)`` in a grader's source."""
    for node in ast.parse(source).body:
        call = _lab_call(node)
        if call is None:
            continue
        arguments = dict(zip(LAB_FIELDS, call.args, strict=False))
        arguments.update({keyword.arg: keyword.value for keyword in call.keywords if keyword.arg})
        name, layers = arguments.get("name"), arguments.get("layers")
        entries: tuple[int, ...] = ()
        if isinstance(layers, ast.Tuple | ast.List) and not any(
            isinstance(entry, ast.Starred) for entry in layers.elts
        ):
            entries = tuple(entry.lineno for entry in layers.elts)
        return DeclarationLines(node.lineno, name.lineno if name else node.lineno, entries)
    return DeclarationLines()


def _lab_call(node: ast.stmt) -> ast.Call | None:
    """The call a ``LAB = ...`` or ``LAB: Lab = ...`` statement assigns, else None."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    else:
        return None
    named = any(isinstance(target, ast.Name) and target.id == "LAB" for target in targets)
    return value if named and isinstance(value, ast.Call) else None


def _failing_line(error: CourseError, path: Path) -> int:
    """The grader's line that failed while it was imported, as near its mistake as Python
    says; the file's top when the failure was elsewhere."""
    cause = error.__cause__
    if isinstance(cause, SyntaxError) and cause.lineno:
        return cause.lineno
    if cause is None:
        return 1
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(cause.__traceback__)
        if frame.filename == str(path) and frame.lineno
    ]
    return lines[-1] if lines else 1


# The scores


class GradingStopped(RuntimeError):
    """``labkit grade`` ended before any check ran; the message is what it said."""


@dataclass(frozen=True)
class LabScore:
    score: float
    max_score: float
    failed: tuple[str, ...]  # the categories of the checks that failed


def score_findings(course: Course, folder: Path, full_marks: bool) -> list[Finding]:
    """The labs whose score in ``folder`` is not what it must be: full marks for the
    reference (``full_marks``), anything less for the stubs."""
    shown = folder.relative_to(course.root).as_posix()
    try:
        scores = lab_scores(course, folder)
    except GradingStopped as stopped:
        return [Finding(f"{shown}/", f"labkit grade stopped before any check ran: {stopped}")]
    found = []
    for lab, score in scores.items():
        where = f"{shown}/{lab}.py"
        marks = f"{score.score:g}/{score.max_score:g}"
        if full_marks and score.score < score.max_score:
            found.append(
                Finding(
                    where,
                    f"the reference of {lab} scores {marks}, not full marks (failed: "
                    f"{', '.join(score.failed)}); `labkit grade --course {course.root} "
                    f"--submission {folder} --lab {lab}` says why",
                )
            )
        elif not full_marks and score.score >= score.max_score:
            found.append(
                Finding(
                    where,
                    f"the stub of {lab} scores full marks ({marks}): leave each graded "
                    "function a TODO (raise NotImplementedError) for students to write",
                )
            )
    return found


def lab_scores(course: Course, folder: Path) -> dict[str, LabScore]:
    """Each lab's score for the modules in ``folder``, from a ``labkit grade`` of its own."""
    with tempfile.TemporaryDirectory(prefix="labkit-check-course-") as scratch:
        results = Path(scratch) / "results.json"
        finished = subprocess.run(
            [
                *(sys.executable, "-P", "-m", "labkit.cli", "grade", "--course", str(course.root)),
                *("--submission", str(folder), "--results", str(results)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if not results.is_file():
            said = (finished.stderr or finished.stdout).strip().splitlines()
            raise GradingStopped(" / ".join(said[-3:]) or f"exit code {finished.returncode}")
        checks = checkresults.results_from_json(json.loads(results.read_text(encoding="utf-8")))
    scores = {}
    for lab in dict.fromkeys(check.lab for check in checks):
        mine = [check for check in checks if check.lab == lab]
        scores[lab] = LabScore(
            score=sum(check.points for check in mine),
            max_score=sum(check.max_points for check in mine),
            failed=tuple(dict.fromkeys(check.category for check in mine if not check.passed)),
        )
    return scores
