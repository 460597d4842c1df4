"""Rebuilding a module from cells: what the graded code needs comes along, nothing else does."""

from __future__ import annotations

import json
import time

import pytest

from labkit.intake.sourcecode import Cell, Module, assemble, without_magics

FILENAME = "lab.py"


def module(*sources: str, graded: tuple[int, ...] = (), roots: tuple[str, ...] = ()) -> Module:
    """Cells numbered from 1 as ``cell N``; ``graded`` lists the numbers of the graded ones."""
    cells = [
        Cell(f"cell {number}", source, graded=number in graded)
        for number, source in enumerate(sources, start=1)
    ]
    return assemble(cells, roots, FILENAME, "lab.ipynb")


def run(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, FILENAME, "exec"), namespace)
    return namespace


# (cells, which of them are graded, text the module must hold, text it must not hold)
SLICES = [
    pytest.param(
        ["import math\nimport json", "N = 10\nEPOCHS = 5", "def f():\n    return math.sqrt(N)"],
        (3,),
        ["import math", "N = 10"],
        ["import json", "EPOCHS"],
        id="constants-and-imports",
    ),
    pytest.param(
        [
            "def square(x):\n    return x * x",
            "def block(n):\n    return square(n) + OFFSET",
            "OFFSET = 1",
            "def f():\n    return block(3)",
        ],
        (4,),
        ["def square", "def block", "OFFSET = 1"],
        [],
        id="helpers-transitively",
    ),
    pytest.param(
        [
            "(train_images, train_labels), (test, labels) = load()\nprint(train_images.shape)",
            "def f():\n    return train_images.shape[1:]",
            "model = f()\nmodel.summary()\nhistory = model.fit(train_images, epochs=EPOCHS)",
            "plt.plot(history.history['loss'])\nplt.show()",
        ],
        (2,),
        ["= load()"],
        ["print(", "fit(", "summary", "plt"],
        id="data-without-training",
    ),
    pytest.param(
        [
            "import keras\n(x, y), _ = keras.datasets.mnist.load_data()",
            "def f():\n    return x.shape",
        ],
        (2,),
        ["import keras", "keras.datasets.mnist.load_data()"],
        [],
        id="keras-loader",
    ),
    pytest.param(
        [
            "NAMES = []",
            "NAMES.append('cat')\nNAMES.sort()",
            "import plt\nplt.show()",
            "def f():\n    return NAMES",
        ],
        (4,),
        ["NAMES = []", "NAMES.append('cat')", "NAMES.sort()"],
        ["plt"],
        id="changed-in-place",
    ),
    pytest.param(
        [
            "FAST = True",
            "if FAST:\n    UNITS = 8\nelse:\n    UNITS = 64",
            "def f():\n    return UNITS",
        ],
        (3,),
        ["FAST = True", "UNITS = 64"],
        [],
        id="set-in-a-branch",
    ),
    pytest.param(
        ["N = 3; train()", "def f():\n    return N"],
        (2,),
        ["N = 3"],
        ["train()"],
        id="one-statement-of-a-line",
    ),
    pytest.param(
        ["%load_ext autoreload\n!pip install x\nN = 2", "%%bash\nN=5", "def f():\n    return N"],
        (3,),
        ["N = 2"],
        ["pip", "autoreload", "N=5"],
        id="magics",
    ),
    pytest.param(
        [
            "N = 2",
            "get_ipython().run_line_magic('time', 'N = 9')\nN = get_ipython().getoutput('x')",
            "def f():\n    return N",
        ],
        (3,),
        ["N = 2"],
        ["get_ipython"],
        id="magics-from-a-kernel-history",
    ),
    pytest.param(
        ["N = 2", "def broken(:", "def f():\n    return N"],
        (3,),
        ["N = 2"],
        ["broken"],
        id="unreadable-cell-skipped",
    ),
    pytest.param(
        ["from math import *", "def f():\n    return floor(2.5)"],
        (2,),
        ["from math import *"],
        [],
        id="star-import",
    ),
]


@pytest.mark.parametrize(("sources", "graded", "kept", "left_out"), SLICES)
def test_slice(sources, graded, kept, left_out):
    text = module(*sources, graded=graded).text
    for part in kept:
        assert part in text
    for part in left_out:
        assert part not in text


def test_functions_see_the_last_binding_and_top_level_code_the_one_before():
    text = module(
        "SIZE = 1",
        "WIDTH = SIZE * 2\ndef f():\n    return WIDTH + SIZE",
        "SIZE = 3\nprint(SIZE)",
        "SIZE = 4 if False else SIZE",
        graded=(2,),
    ).text
    assert text.index("SIZE = 1") < text.index("WIDTH") < text.index("SIZE = 3")
    assert run(text)["f"]() == 2 + 3
    assert "print" not in text


def test_graded_cells_stay_whole_and_in_order():
    text = module(
        "import math",
        "def f():\n    return math.pi\n\nprint('checking')",
        "def g():\n    return 1",
        graded=(2,),
    ).text
    assert "print('checking')" in text and "def g" not in text


def test_broken_graded_cell_is_kept_to_fail_loudly():
    text = module("def f(:\n    pass", graded=(1,)).text
    assert "def f(:" in text
    with pytest.raises(SyntaxError):
        compile(text, FILENAME, "exec")


def test_future_imports_move_to_the_top():
    built = module(
        "import math",
        "from __future__ import annotations\ndef f() -> Undefined:\n    return math.e",
        graded=(2,),
    )
    assert built.text.splitlines()[0] == "from __future__ import annotations"
    assert built.text.count("__future__") == 1
    assert run(built.text)["f"]() > 2


def test_without_tags_the_roots_are_found():
    built = module(
        "import math",
        "def build_model():\n    return 1",
        "def build_model():\n    return math.tau",
        "build_model()\nraise SystemExit",
        roots=("build_model", "preprocess"),
    )
    assert run(built.text)["build_model"]() == pytest.approx(6.283, abs=1e-3)
    assert "SystemExit" not in built.text


def test_lines_map_back_to_cells():
    built = module("N = 1\nM = 2", "import math\n\ndef f():\n    return N", graded=(2,))
    line = built.text.splitlines().index("    return N") + 1
    origin = built.origin(line)
    assert (origin.cell.label, origin.line) == ("cell 2", 4)
    assert built.origin(len(built.text.splitlines()) + 5) is None


# (cells, the graded one, the module line the message is about, message, what it must say)
LOCATED = [
    pytest.param(
        ["def f():\n    return missing"],
        1,
        "    return missing",
        "NameError: name 'missing' is not defined (line {line} of lab.py)",
        ['(line 2 of cell 1, which starts "def f():")', "No cell defines `missing`"],
        id="nowhere",
    ),
    pytest.param(
        ["def helper():\n    WIDTH = 3", "def f():\n    return WIDTH"],
        2,
        "    return WIDTH",
        "NameError: name 'WIDTH' is not defined (line {line} of lab.py)",
        ["(line 2 of cell 2", "`WIDTH` is set only inside helper() in cell 1"],
        id="inside-a-function",
    ),
    pytest.param(
        ["WIDTH = 3 +", "def f():\n    return WIDTH"],
        2,
        "    return WIDTH",
        "NameError: name 'WIDTH' is not defined (line {line} of lab.py)",
        ['`WIDTH` seems to be set in cell 1, which starts "WIDTH = 3 +"', "cannot read"],
        id="in-an-unreadable-cell",
    ),
    pytest.param(
        ["print(", "def f():\n    return WIDTH"],
        2,
        "    return WIDTH",
        "NameError: name 'WIDTH' is not defined (line {line} of lab.py)",
        [
            "No cell that Python can read defines `WIDTH`",
            'cannot read cell 1, which starts "print("',
        ],
        id="nowhere-but-a-cell-is-unreadable",
    ),
    pytest.param(
        ["X = WIDTH", "WIDTH = 3"],
        1,
        "X = WIDTH",
        "NameError: name 'WIDTH' is not defined (line {line} of lab.py)",
        ["(line 1 of cell 1", "`WIDTH` is set only further down, in cell 2"],
        id="further-down",
    ),
    pytest.param(
        ["N = 1", "\n\ndef f(:\n    return N"],
        2,
        "def f(:",
        "SyntaxError: invalid syntax (lab.py, line {line})",
        ['SyntaxError: invalid syntax (line 3 of cell 2, which starts "def f(:")'],
        id="syntax-error",
    ),
    pytest.param(
        ["def f():\n    return 1"],
        1,
        "def f():",
        "lab.py does not define build_model()",
        ["lab.ipynb does not define build_model()"],
        id="file-name",
    ),
]


@pytest.mark.parametrize(("sources", "graded", "anchor", "message", "expected"), LOCATED)
def test_messages_point_to_cells(sources, graded, anchor, message, expected):
    built = module(*sources, graded=(graded,))
    line = built.text.splitlines().index(anchor) + 1
    located = built.locate(message.format(line=line))
    for part in expected:
        assert part in located
    assert "lab.py" not in located


def test_without_magics_keeps_line_numbers():
    cell = "%matplotlib inline\nx = 1\n!ls\ny = 2"
    assert without_magics(cell).splitlines() == ["", "x = 1", "", "y = 2"]
    assert without_magics("%%writefile a.py\nx = 1\ny = 2") == "\n\n"
    assert without_magics("%%time\nx = 1") == "\nx = 1"


# Hostile cells. Each size below once took seconds to convert, time that grew with the
# square of the size: a 100 KB cell took minutes. CPU time, so a busy machine does
# not make the test fail.


def test_finding_where_an_unreadable_cell_sets_a_name_is_linear():
    # The search for "name: annotation = ..." backtracked over every colon: 30 KB took 10 s.
    colons = "x" + ":x" * 15_000
    built = module(colons, colons + " = 1", "def f():\n    return x", graded=(3,))
    started = time.process_time()
    explained = built.explain("x")
    assert time.process_time() - started < 0.5
    assert explained.startswith("`x` seems to be set in cell 2")


def test_many_statements_on_one_line_are_cut_out_in_linear_time():
    # Each statement was cut out of a fresh encoding of its whole line: 10,000 statements on
    # a 16 MB line took 16 s.
    line = "a=a;" * 10_000 + "s = '" + "x" * 2**24 + "'"
    started = time.process_time()
    built = module("a = 1\n" + line, "def f():\n    return a", graded=(2,))
    assert time.process_time() - started < 3
    assert built.text.count("a=a\n") == 10_000
    assert run(built.text)["f"]() == 1


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("WIDTH = a" + "+a" * 2_000, id="too-deep-for-the-grader"),
        pytest.param("WIDTH = a" + "+a" * 100_000, id="too-deep-for-python"),
        pytest.param("WIDTH = " + "-" * 100_000 + "a", id="too-complex-for-the-parser"),
        pytest.param("WIDTH = 1\0", id="a-null-byte"),
    ],
)
def test_a_cell_too_deep_to_read_is_unreadable_not_a_crash(source):
    built = module(source, "def f():\n    return WIDTH", graded=(2,))
    assert "WIDTH" not in built.toplevel
    assert "cannot read that cell" in built.explain("WIDTH")
    broken = module(source, graded=(1,))  # a graded one is kept whole, to fail loudly
    assert source.splitlines()[0][:20] in broken.text


def test_a_module_travels_as_json():
    built = module(
        "N = 1\nM = 2", "def helper():\n    K = 3", "print(", "def f():\n    return N", graded=(4,)
    )
    again = Module.from_json(json.loads(json.dumps(built.to_json())))
    assert (again.text, again.filename, again.shown_as) == (built.text, "lab.py", "lab.ipynb")
    assert [(o and (o.cell, o.line)) for o in again.origins] == [
        (o and (o.cell, o.line)) for o in built.origins
    ]
    for name in ("N", "K", "missing"):
        assert again.explain(name) == built.explain(name)
