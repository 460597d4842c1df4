"""Pick a Python module's imports and top-level definitions out of its source text.

Handouts use it to put each function of a lab module into its own notebook cell;
notebook grading and the in-notebook check use it to turn cells back into a module.

Usage: ``definitions(text)["build_model"]`` is the source of ``def build_model``.
"""

from __future__ import annotations

import ast


def definitions(text: str) -> dict[str, str]:
    """Source of each top-level function, class and simple assignment, by name, in order."""
    found: dict[str, str] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = _segment(text, node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = _segment(text, node)
    return found


def functions(text: str) -> list[str]:
    """Source of each top-level function definition, in order."""
    return [
        _segment(text, node)
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def imports(text: str) -> list[str]:
    """Each top-level import statement, except ``from __future__`` ones."""
    return [
        _segment(text, node)
        for node in ast.parse(text).body
        if isinstance(node, ast.Import)
        or (isinstance(node, ast.ImportFrom) and node.module != "__future__")
    ]


def without_magics(cell: str) -> str:
    """A notebook cell's code without IPython magics and shell escapes, which aren't Python."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.splitlines()
    )


def _segment(text: str, node: ast.stmt) -> str:
    """The node's source, with its decorators and the comment lines right above it."""
    lines = text.splitlines()
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return "\n".join(lines[first : node.end_lineno])
