"""The training run's plots: each drawn once, kept by what it shows, and found again."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from labkit.report import plots
from labkit.report.plots import Plots

LOSSES, ACCURACIES = [2.31, 1.12, 0.84], [0.52, 0.71, 0.78]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The plots actually drawn, by kind, while the test runs."""
    calls: list[str] = []
    for name in ("_training_curve", "_confusion"):
        real = getattr(plots, name)
        monkeypatch.setattr(
            plots, name, lambda *shown, real=real, name=name: calls.append(name) or real(*shown)
        )
    return calls


def test_a_plot_is_drawn_once_and_a_later_run_finds_it(tmp_path, drawn):
    png = Plots(tmp_path).training_curve(LOSSES, ACCURACIES)
    assert Image.open(io.BytesIO(png)).size == (640, 240)  # 8 x 3 inches at 80 dpi
    run = Plots(tmp_path)  # a later run: a regrade of the class
    assert run.training_curve(LOSSES, ACCURACIES) == png
    assert run.training_curve(LOSSES, ACCURACIES) == png
    assert drawn == ["_training_curve"]
    assert run.training_curve(LOSSES, [0.52, 0.71, 0.79]) != png  # other numbers, another plot
    assert run.confusion([[5, 1], [0, 4]], ["cat", "dog"]) != png
    assert drawn == ["_training_curve", "_training_curve", "_confusion"]


def test_without_a_folder_a_plot_is_kept_for_the_process_only(tmp_path, drawn):
    memory = Plots()
    png = memory.confusion([[5, 1], [0, 4]], None)
    assert memory.confusion([[5, 1], [0, 4]], None) == png
    assert Plots().confusion([[5, 1], [0, 4]], None) == png
    assert drawn == ["_confusion", "_confusion"]
    assert not list(tmp_path.iterdir())


def test_a_damaged_plot_is_drawn_anew(tmp_path, drawn):
    png = Plots(tmp_path).training_curve(LOSSES, ACCURACIES)
    (entry,) = tmp_path.glob("*/*.png")
    entry.write_bytes(b"<svg>not the plot</svg>")
    assert Plots(tmp_path).training_curve(LOSSES, ACCURACIES) == png
    assert entry.read_bytes() == png
    assert drawn == ["_training_curve", "_training_curve"]


def test_new_drawing_code_draws_anew(tmp_path, drawn, monkeypatch):
    Plots(tmp_path).training_curve(LOSSES, ACCURACIES)
    monkeypatch.setattr(plots, "_drawing_code", lambda: ["another version of plots.py"])
    Plots(tmp_path).training_curve(LOSSES, ACCURACIES)
    assert drawn == ["_training_curve", "_training_curve"]


def test_the_folder_is_kept_under_its_cap(tmp_path):
    run = Plots(tmp_path, max_bytes=1)
    run.training_curve(LOSSES, ACCURACIES)
    run.training_curve(LOSSES, [0.5, 0.6, 0.7])
    assert len(list(tmp_path.glob("*/*.png"))) == 0  # each over the cap alone
    assert run.training_curve(LOSSES, ACCURACIES).startswith(plots.PNG_SIGNATURE)  # in memory
