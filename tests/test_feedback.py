"""The student's feedback page, built from kept artifacts without grading anything."""

from __future__ import annotations

import re

from conftest import COURSE
from PIL import Image

from labkit.report import checkresults, feedback
from labkit.report.checkresults import CheckResult

LAB = "cv4_cifar_cnn"


def test_a_figure_of_the_graders_made_up_history_says_so(tmp_path):
    """plot_history() is called with a fixed Value, plot_samples() with the dataset's images."""
    (tmp_path / LAB).mkdir()
    for function in ("plot_samples", "plot_history"):
        Image.new("RGB", (8, 8), "white").save(tmp_path / LAB / f"{function}.png")
    check = CheckResult(LAB, "plot", "plot_history() plots accuracy", 1, True)
    page = feedback.page("smithj", checkresults.results_json([check], 1.0), tmp_path, COURSE)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == [
        "Your plot_history() figure, drawn from made-up data the grader passed in, "
        "not from your training",
        "Your plot_samples() figure",
    ]
