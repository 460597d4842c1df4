"""Each handout preprocessor on a small notebook of its own."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from labkit.publish.preprocessors import ReplaceSolutions, SetParameters, StableOutputs


def notebook(*cells):
    return new_notebook(cells=list(cells))


def test_replace_solutions_swaps_only_graded_cells():
    graded = new_code_cell("def f():\n    return 42", metadata={"tags": ["graded:f"]})
    plain = new_code_cell("f()")
    result, _ = ReplaceSolutions(stubs={"f": "def f():\n    raise NotImplementedError"}).preprocess(
        notebook(new_markdown_cell("# f"), graded, plain), {}
    )
    assert [cell.source for cell in result.cells] == [
        "# f",
        "def f():\n    raise NotImplementedError",
        "f()",
    ]


def test_replace_solutions_refuses_a_cell_without_stub():
    graded = new_code_cell("x = 1", metadata={"tags": ["graded:x"]})
    with pytest.raises(KeyError, match="no stub for the graded cell 'x'"):
        ReplaceSolutions(stubs={}).preprocess(notebook(graded), {})


def test_set_parameters_rewrites_the_tagged_cell():
    parameters = new_code_cell("EPOCHS = 10\nBATCH = 32", metadata={"tags": ["parameters"]})
    other = new_code_cell("EPOCHS = 10")
    result, _ = SetParameters(values={"EPOCHS": 1}).preprocess(notebook(parameters, other), {})
    assert result.cells[0].source == "EPOCHS = 1\nBATCH = 32"
    assert result.cells[1].source == "EPOCHS = 10"
    with pytest.raises(KeyError, match="does not set LR"):
        SetParameters(values={"LR": 0.1}).preprocess(notebook(parameters), {})


def test_stable_outputs_drops_timings_and_keeps_everything_else():
    cell = new_code_cell("model.fit(...)")
    warning = "I0000 00:00:1795659040.994736 3110 port.cc:153] oneDNN custom operations\n"
    cell.outputs = [
        new_output(
            "stream", name="stdout", text="Epoch 1/2\n157/157 - 3s - 18ms/step - loss: 0.5\n"
        ),
        # What students would see stays, so a noisy notebook shows in the build.
        new_output("stream", name="stderr", text=warning),
        new_output("stream", name="stdout", text="313/313 - 1s - accuracy: 0.9\n"),
        # Fast steps are timed in microseconds.
        new_output("stream", name="stdout", text="313/313 - 982us/step - accuracy: 0.8\n"),
    ]
    cell.metadata["execution"] = {"iopub.execute_input": "2026-11-26T02:00:00"}
    result, _ = StableOutputs().preprocess(notebook(cell), {})
    assert [output.text for output in result.cells[0].outputs] == [
        "Epoch 1/2\n157/157 - loss: 0.5\n",
        warning,
        "313/313 - accuracy: 0.9\n",
        "313/313 - accuracy: 0.8\n",
    ]
    assert "execution" not in result.cells[0].metadata
