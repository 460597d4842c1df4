"""The plots of the grader's training run on a feedback page, each drawn once.

Most of a class hands in one model, whose training run the grading cache reuses, so most
students' plots are the same picture. Each PNG is kept by the hash of what it shows and of
the code that draws it: in memory for the process, and in ``folder`` when one is given, so
that a class regraded after a grader change draws no plot again.

Usage::

    plots = Plots(Path("out/cache"))  # Plots() keeps them in memory only
    png = plots.training_curve(losses, accuracies)
    png = plots.confusion(matrix, class_names)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.report.files import Shelf

SUFFIX = ".png"  # the plots' entries; the grading cache's other kinds share its folder
MAX_BYTES = 256 * 2**20  # a plot is some 30 KB: thousands of distinct training runs
REMEMBERED = 256  # plots a process keeps in memory
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Plots:
    """Draws the training run's plots, or finds them drawn already."""

    folder: Path | None = None
    max_bytes: int = MAX_BYTES
    _drawn: OrderedDict[str, bytes] = field(default_factory=OrderedDict, init=False, repr=False)

    def training_curve(self, losses: Sequence[float], accuracies: Sequence[float]) -> bytes:
        """Training loss and test accuracy per epoch, side by side."""
        shown = [list(losses), list(accuracies)]
        return self._kept("training curve", shown, lambda: _training_curve(*shown))

    def confusion(self, matrix: Sequence[Sequence[int]], names: Sequence[str] | None) -> bytes:
        """The confusion matrix on the test set, each cell's count written in it."""
        shown = [[list(row) for row in matrix], list(names) if names else None]
        return self._kept("confusion", shown, lambda: _confusion(*shown))

    def _kept(self, kind: str, shown: list[Any], draw: Callable[[], bytes]) -> bytes:
        key = _key(kind, shown)
        png = self._drawn.pop(key, None) or self._read(key)
        if png is None:
            png = draw()
            self._write(key, png)
        self._drawn[key] = png
        while len(self._drawn) > REMEMBERED:
            self._drawn.popitem(last=False)
        return png

    def _read(self, key: str) -> bytes | None:
        if self.folder is None:
            return None
        png = Shelf(self.folder, SUFFIX, self.max_bytes).read(key)
        if png is None or not png.startswith(PNG_SIGNATURE):
            return None  # drawn and written anew
        return png

    def _write(self, key: str, png: bytes) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(OSError):  # a folder it cannot write costs only the reuse
            Shelf(self.folder, SUFFIX, self.max_bytes).write(key, png)


def _key(kind: str, shown: list[Any]) -> str:
    text = json.dumps([kind, shown, _drawing_code()], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _drawing_code() -> list[str]:
    """This module's code and matplotlib's version: a change to either draws plots anew."""
    import matplotlib

    return [hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), matplotlib.__version__]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def _training_curve(losses: list[float], accuracies: list[float]) -> bytes:
    plt = _pyplot()
    figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(8, 3))
    loss.plot(range(1, len(losses) + 1), losses, marker="o")
    loss.set(xlabel="epoch", ylabel="training loss", title="Loss")
    if accuracies:
        accuracy.plot(range(1, len(accuracies) + 1), accuracies, marker="o")
    accuracy.set(xlabel="epoch", ylabel="test accuracy", title="Accuracy", ylim=(0, 1))
    for ax in (loss, accuracy):
        ax.xaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    return _png(figure)


def _confusion(matrix: list[list[int]], names: list[str] | None) -> bytes:
    plt = _pyplot()
    size = len(matrix)
    labels = names or [str(index) for index in range(size)]
    figure, ax = plt.subplots(figsize=(1.5 + 0.5 * size, 1.2 + 0.5 * size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(size), labels, rotation=60, ha="right")
    ax.set_yticks(range(size), labels)
    ax.set(xlabel="predicted", ylabel="true class")
    top = max(max(row) for row in matrix) or 1
    for row in range(size):
        for column in range(size):
            value = matrix[row][column]
            colour = "white" if value > top / 2 else "black"
            ax.text(column, row, str(value), ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    return _png(figure)
