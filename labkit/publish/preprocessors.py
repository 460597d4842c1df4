"""nbconvert preprocessors for lab handouts, one notebook transformation each.

Usage::

    notebook, _ = ReplaceSolutions(stubs={"preprocess": "def preprocess(images): ..."}).preprocess(
        notebook, {}
    )
"""

from __future__ import annotations

import re
from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Dict, Unicode

from labkit.intake.notebooks import graded_name

# Keras' per-epoch timings ("- 9s - 11ms/step") differ from run to run; without them an
# executed notebook rebuilds byte for byte. Everything else stays, as students see it.
TIMING = re.compile(r" - \d+(\.\d+)?[mu]?s(/step)?(?= - |$)", re.MULTILINE)


class ReplaceSolutions(Preprocessor):
    """Swap each graded cell's solution for the student stub of the same name."""

    stubs = Dict(help="stub source by graded name, e.g. {'preprocess': 'def preprocess...'}").tag(
        config=True
    )

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        name = graded_name(cell)
        if name is not None:
            if name not in self.stubs:
                raise KeyError(f"no stub for the graded cell {name!r}")
            cell.source = self.stubs[name]
        return cell, resources


class SetParameters(Preprocessor):
    """Rewrite the assignments in the cell tagged ``parameters``, e.g. EPOCHS = 1."""

    tag = Unicode("parameters").tag(config=True)
    values = Dict(help="new values by variable name").tag(config=True)

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        if self.tag in cell.get("metadata", {}).get("tags", []):
            for name, value in self.values.items():
                pattern = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
                if not pattern.search(cell.source):
                    raise KeyError(f"the parameters cell does not set {name}")
                cell.source = pattern.sub(f"{name} = {value!r}", cell.source)
        return cell, resources


class StableOutputs(Preprocessor):
    """Drop timings from outputs, so rebuilds are reproducible."""

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output.text = TIMING.sub("", output.text)
                if not output.text:
                    continue
            outputs.append(output)
        if cell.get("cell_type") == "code":
            cell.outputs = outputs
            cell.metadata.pop("execution", None)
        return cell, resources
