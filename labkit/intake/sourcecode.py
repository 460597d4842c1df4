"""Pick imports and definitions out of Python source, and rebuild a module from notebook cells.

Handouts use ``definitions`` and ``imports`` to put each function of a lab module into its own
notebook cell. Notebook grading and the in-notebook check use ``assemble`` to turn cells back
into a module: the graded cells, whole, and only the statements of other cells that they need
(a backward slice over the cells' top-level statements), with a map from each module line back
to its cell, so that messages can point at what the student wrote.

Usage: ``module = assemble(cells, ["build_model"], "my_lab.py", "my_lab.ipynb")``,
then ``module.text`` is the module and ``module.locate(message)`` puts its errors in cell terms.
"""

from __future__ import annotations

import ast
import builtins
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

BUILTINS = frozenset(dir(builtins))
# In a kernel's input history, magics and shell escapes read as calls to get_ipython().
IPYTHON = "get_ipython"
# Cell magics whose body is still Python run by the kernel; any other (%%bash, %%writefile)
# makes the whole cell something else.
PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
FIRST_LINE_WIDTH = 60
PLOTTING_IMPORT = "import matplotlib.pyplot as plt"

_Span = tuple[int, int, int, int]


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


def imports(text: str) -> list[str]:
    """Each top-level import statement, except ``from __future__`` ones."""
    return [
        _segment(text, node)
        for node in ast.parse(text).body
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not _future(node))
    ]


def notebook_imports(module_text: str) -> str:
    """A lab module's imports, plus matplotlib, which every notebook uses for plots."""
    lines = imports(module_text)
    if PLOTTING_IMPORT not in lines:
        lines.insert(0, PLOTTING_IMPORT)
    return "\n".join(lines)


def without_magics(cell: str) -> str:
    """A notebook cell's code without IPython magics and shell escapes, which aren't Python.

    Lines keep their numbers, so positions in the result are positions in the cell.
    """
    lines = cell.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%") and not first.startswith(PYTHON_CELL_MAGICS):
        return "\n" * (len(lines) - 1)
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.splitlines()
    )


@dataclass(frozen=True)
class Cell:
    """A code cell as the student sees it: ``label`` names it ("cell 7", "In [12]")."""

    label: str
    source: str
    graded: bool = False

    @property
    def first_line(self) -> str:
        line = next((line.strip() for line in self.source.splitlines() if line.strip()), "")
        return line if len(line) <= FIRST_LINE_WIDTH else line[: FIRST_LINE_WIDTH - 3] + "..."

    def where(self) -> str:
        """The cell, said so that a student can find it."""
        return f'{self.label}, which starts "{self.first_line}"'


@dataclass(frozen=True)
class Origin:
    """Where one module line came from: line ``line`` of ``cell``."""

    cell: Cell
    line: int


@dataclass
class Module:
    """A module rebuilt from cells, and what is needed to explain its errors in cell terms."""

    text: str
    filename: str  # what the module is written as
    shown_as: str  # what the student handed in, said in messages instead of ``filename``
    origins: list[Origin | None] = field(default_factory=list)  # by module line - 1
    # Where the cells bind each name, to explain a name the module lacks: at the top level of
    # a cell, or inside a function or class ("inside settings()"); and the cells Python
    # cannot read, which may bind anything.
    toplevel: dict[str, list[Cell]] = field(default_factory=dict)
    nested: dict[str, list[tuple[Cell, str]]] = field(default_factory=dict)
    unreadable: list[tuple[Cell, SyntaxError]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The module as JSON data, for a conversion done in another process.

        Of the cells that bind a name, only the distinct ones are kept, in order: messages
        name the first.
        """
        index: dict[int, int] = {}
        listed: list[Cell] = []

        def ref(cell: Cell) -> int:
            if id(cell) not in index:
                index[id(cell)] = len(listed)
                listed.append(cell)
            return index[id(cell)]

        found = {
            "text": self.text,
            "filename": self.filename,
            "shown_as": self.shown_as,
            "origins": [None if o is None else [ref(o.cell), o.line] for o in self.origins],
            "toplevel": {
                name: list(dict.fromkeys(ref(cell) for cell in cells))
                for name, cells in self.toplevel.items()
            },
            "nested": {
                name: [list(pair) for pair in dict.fromkeys((ref(c), why) for c, why in places)]
                for name, places in self.nested.items()
            },
            "unreadable": [[ref(c), e.msg, e.lineno] for c, e in self.unreadable],
        }
        found["cells"] = [[cell.label, cell.source, cell.graded] for cell in listed]
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Module:
        """The module that ``to_json`` gave ``data`` for."""
        cells = [
            Cell(str(label), str(source), bool(graded)) for label, source, graded in data["cells"]
        ]
        return cls(
            text=str(data["text"]),
            filename=str(data["filename"]),
            shown_as=str(data["shown_as"]),
            origins=[
                None if o is None else Origin(cells[o[0]], int(o[1])) for o in data["origins"]
            ],
            toplevel={name: [cells[i] for i in found] for name, found in data["toplevel"].items()},
            nested={
                name: [(cells[i], str(why)) for i, why in found]
                for name, found in data["nested"].items()
            },
            unreadable=[
                (cells[i], SyntaxError(str(msg), (None, lineno, None, None)))
                for i, msg, lineno in data["unreadable"]
            ],
        )

    def origin(self, line: int) -> Origin | None:
        return self.origins[line - 1] if 0 < line <= len(self.origins) else None

    def locate(self, message: str) -> str:
        """``message`` with positions in the module turned into cells, and NameErrors explained."""
        name = re.escape(self.filename)
        position = re.compile(rf"\(line (\d+) of {name}\)|\({name}, line (\d+)\)")

        def where(match: re.Match[str]) -> str:
            origin = self.origin(int(match[1] or match[2]))
            if origin is None:
                return f"(in {self.shown_as})"
            return f"(line {origin.line} of {origin.cell.where()})"

        located = position.sub(where, message).replace(self.filename, self.shown_as)
        missing = re.search(r"NameError: name '(\w+)' is not defined", located)
        if missing:
            located = f"{located.rstrip('.')}. {self.explain(missing[1])}"
        return located

    def explain(self, name: str) -> str:
        """Where the cells define ``name``, for a module that could not find it."""
        if name in self.toplevel:
            cells = self.toplevel[name]
            return (
                f"`{name}` is set only further down, in {cells[0].where()}: "
                "move that code above the code that uses it."
            )
        if name in self.nested:
            cell, context = self.nested[name][0]
            return (
                f"`{name}` is set only {context} in {cell.where()}: set it at the top level "
                "of a cell, outside any function, so that other cells can use it."
            )
        for cell, error in self.unreadable:
            if _binds(cell.source, name):
                return (
                    f"`{name}` seems to be set in {cell.where()}, but Python cannot read that "
                    f"cell ({_why(error)}): fix it and run it again."
                )
        if self.unreadable:
            cell, error = self.unreadable[0]
            return (
                f"No cell that Python can read defines `{name}`, and Python cannot read "
                f"{cell.where()} ({_why(error)}): fix that cell if `{name}` is meant to be set "
                "there, else set it in a cell above the code that uses it."
            )
        return f"No cell defines `{name}`: set it in a cell above the code that uses it."


def _why(error: SyntaxError) -> str:
    """'invalid syntax, line 3': why Python cannot read a cell."""
    return f"{error.msg}, line {error.lineno}" if error.lineno else str(error.msg)


def _binds(source: str, name: str) -> bool:
    """Whether some line of ``source`` seems to bind ``name``: ``def name``, ``class name``,
    ``import name``, ``as name``, ``name = ...`` or ``name: annotation = ...``.

    Linear in the source's length, for a cell that Python cannot read may be anything: each
    pattern either is anchored or can only start at a word, and an annotation is followed to
    its ``=`` once, not once for every colon before it.
    """
    definition = re.compile(rf"\s*+(?:def|class)\s++{name}\b")
    imported = re.compile(rf"\b(?:import|as)\s++{name}\b")
    assigned = re.compile(rf"\b{name}\s*+=(?!=)")
    annotated = re.compile(rf"\b{name}\s*+:")
    for line in source.splitlines():
        if definition.match(line) or imported.search(line) or assigned.search(line):
            return True
        equals = -1  # the first "=" at or after the latest annotation's colon
        for match in annotated.finditer(line):
            if equals < match.end():
                equals = line.find("=", match.end())
                if equals < 0:
                    break  # no "=" further on: no annotation on this line assigns
            if not line.startswith("=", equals + 1):
                return True
    return False


def assemble(cells: Sequence[Cell], roots: Iterable[str], filename: str, shown_as: str) -> Module:
    """The module that ``cells`` define, in order, keeping only what the graded code needs.

    Graded cells are kept whole (one that does not parse too, so that it fails loudly); so is
    the last definition of each name in ``roots`` that no graded cell defines. Of the other
    cells, each top-level statement is kept only if kept code reads a name it binds: top-level
    code reads the binding before it, a function body the notebook's last one. Cells that do
    not parse are skipped, and ``from __future__`` imports move to the top.
    """
    slicer = _Slicer(result=Module("", filename, shown_as))
    for cell in cells:
        slicer.add(cell)
    return slicer.module(roots)


@dataclass
class _Statement:
    position: int
    cell: Cell
    span: _Span
    binds: set[str]  # module names it may (re)bind
    kills: set[str]  # those it surely replaces, so earlier bindings no longer matter
    now: set[str]  # names it reads as it runs
    later: set[str]  # names its functions read when called: their last binding
    star: bool = False


@dataclass
class _Analysis:
    """What one top-level statement reads and binds, worked out before any of it is recorded,
    so that a cell too deep for the grader to analyse is skipped whole."""

    span: _Span
    binds: set[str]
    kills: set[str]
    now: set[str]
    later: set[str]
    updated: set[str]
    star: bool
    imports: bool
    nested: list[tuple[str, str]]


def _analyse(node: ast.stmt) -> _Analysis:
    nested: list[tuple[str, str]] = []
    scope = _Scope.of([node])
    now, later = set(scope.loads), set()
    for inner in scope.inner:
        inner_now, inner_later = _free(inner, nested)
        now |= inner_now
        later |= inner_later
    return _Analysis(
        _span(node),
        scope.stores,
        _kills(node),
        now,
        later,
        scope.updated,
        scope.star,
        isinstance(node, ast.Import | ast.ImportFrom),
        nested,
    )


def _as_syntax_error(error: Exception) -> SyntaxError:
    """Why Python cannot read a cell, as a SyntaxError whatever the parser raised."""
    if isinstance(error, SyntaxError):
        return error
    if isinstance(error, ValueError):
        return SyntaxError("it holds a null byte")
    if isinstance(error, MemoryError):  # the parser's own limit, or the grader's
        return SyntaxError("it is too long or nested too deeply for Python to read")
    return SyntaxError("its code is nested too deeply for Python to read")


@dataclass
class _Slicer:
    result: Module
    statements: list[_Statement] = field(default_factory=list)
    parsed: list[tuple[Cell, list[str], list[_Statement]]] = field(default_factory=list)
    graded_text: dict[int, list[str]] = field(default_factory=dict)  # by index in parsed
    futures: dict[str, Origin] = field(default_factory=dict)
    bindings: dict[str, list[int]] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)
    updated: dict[int, set[str]] = field(default_factory=dict)

    def add(self, cell: Cell) -> None:
        code = without_magics(cell.source)
        lines = code.splitlines()
        try:
            tree = ast.parse(code)
            body = [(node, None if _future(node) else _analyse(node)) for node in tree.body]
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            if cell.graded:  # a broken exercise cell should fail loudly, not vanish
                self.graded_text[len(self.parsed)] = lines
                self.parsed.append((cell, lines, []))
            else:
                self.result.unreadable.append((cell, _as_syntax_error(error)))
            return
        del tree
        statements = []
        for node, analysis in body:
            if analysis is None:
                self.futures.setdefault(_text(lines, node), Origin(cell, node.lineno))
                for index in range(node.lineno - 1, node.end_lineno or node.lineno):
                    lines[index] = ""  # blanked, not removed, so later lines keep their numbers
                continue
            statements.append(self._statement(cell, analysis))
        if cell.graded:
            self.graded_text[len(self.parsed)] = lines
        self.parsed.append((cell, lines, statements))

    def _statement(self, cell: Cell, analysis: _Analysis) -> _Statement:
        statement = _Statement(
            len(self.statements),
            cell,
            analysis.span,  # not the node: holding every cell's tree would only burden memory
            analysis.binds,
            analysis.kills,
            analysis.now,
            analysis.later,
            analysis.star,
        )
        self.statements.append(statement)
        for name, context in analysis.nested:
            self.result.nested.setdefault(name, []).append((cell, context))
        if IPYTHON in analysis.now and not cell.graded:
            return statement  # a magic: nothing the grader can run, so it binds nothing
        if analysis.imports:
            self.imported |= analysis.binds
        self.updated[statement.position] = analysis.updated
        for name in analysis.binds:
            self.bindings.setdefault(name, []).append(statement.position)
            self.result.toplevel.setdefault(name, []).append(cell)
        return statement

    def module(self, roots: Iterable[str]) -> Module:
        # Calling a method on a module (plt.show()) does not change it; on a value, it may.
        for position, names in self.updated.items():
            statement = self.statements[position]
            for name in names - self.imported - statement.binds:
                statement.binds.add(name)
                self.bindings.setdefault(name, []).append(position)
        for positions in self.bindings.values():
            positions.sort()
        kept = self._slice(roots)
        return self._write(kept)

    def _slice(self, roots: Iterable[str]) -> set[int]:
        end = len(self.statements)
        kept: set[int] = set()
        pending = [s.position for s in self.statements if s.cell.graded]
        graded_names = set().union(*(self.statements[p].binds for p in pending))
        unresolved: set[str] = set()

        def need(name: str, before: int, required: bool = True) -> None:
            positions = self.bindings.get(name, [])
            index = bisect_left(positions, before) - 1
            if index >= 0:
                pending.append(positions[index])
            elif required and name not in BUILTINS:
                unresolved.add(name)

        for name in roots:
            if name not in graded_names:
                need(name, end, required=False)
        while pending:
            position = pending.pop()
            if position in kept:
                continue
            kept.add(position)
            statement = self.statements[position]
            for name in statement.now:
                need(name, position)
            for name in statement.binds - statement.kills:
                need(name, position, required=False)  # what it may leave unchanged
            for name in statement.later:
                need(name, end)
            if not pending and unresolved:
                # A star import may be where they come from: the grader cannot tell.
                pending += [s.position for s in self.statements if s.star]
                unresolved.clear()
        return kept

    def _write(self, kept: set[int]) -> Module:
        lines: list[str] = []
        origins: list[Origin | None] = []
        for text, origin in self.futures.items():
            lines.append(text)
            origins.append(origin)
        for index, (cell, cell_lines, statements) in enumerate(self.parsed):
            chosen = [s for s in statements if s.position in kept]
            if index not in self.graded_text and not chosen:
                continue
            lines.append("")
            origins.append(None)
            if index in self.graded_text:
                lines += self.graded_text[index]
                origins += [Origin(cell, number) for number in range(1, len(cell_lines) + 1)]
                continue
            cut = _Cutter(cell_lines)
            for statement in chosen:
                first, segment = _statement_lines(cell_lines, statement.span, cut)
                lines += segment
                origins += [Origin(cell, first + offset) for offset in range(len(segment))]
        self.result.text = "\n".join(lines) + "\n"
        self.result.origins = origins
        return self.result


class _Scope(ast.NodeVisitor):
    """The names one scope reads and binds; nested scopes are listed, not entered."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.updated: set[str] = set()  # changed in place: x[i] = ..., x.a = ..., x.append(...)
        self.declared: set[str] = set()  # global and nonlocal
        self.inner: list[ast.AST] = []
        self.star = False

    @classmethod
    def of(cls, nodes: Iterable[ast.AST]) -> _Scope:
        scope = cls()
        for node in nodes:
            scope.visit(node)
        return scope

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loads.add(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.stores.add(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stores.add(node.name)
        for expression in [*node.decorator_list, node.returns]:
            if expression is not None:
                self.visit(expression)
        self._signature(node.args)
        self.inner.append(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._signature(node.args)
        self.inner.append(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stores.add(node.name)
        for expression in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(expression)
        self.inner.append(node)

    def visit_ListComp(self, node: ast.AST) -> None:
        self.inner.append(node)

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star = True
            else:
                self.stores.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        self.declared.update(node.names)

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.loads.add(node.target.id)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute | ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            base = _base(node)
            if base:
                self.updated.add(base)
        self.generic_visit(node)

    visit_Subscript = visit_Attribute

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            base = _base(call.func)
            if base:
                self.updated.add(base)
        self.generic_visit(node)

    def _signature(self, arguments: ast.arguments) -> None:
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [arg for arg in (arguments.vararg, arguments.kwarg) if arg]
        for expression in [
            *arguments.defaults,
            *arguments.kw_defaults,
            *(arg.annotation for arg in every),
        ]:
            if expression is not None:
                self.visit(expression)


def _free(node: ast.AST, nested: list[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """Names a nested scope reads from outside: as it is created, and when it is called.

    Adds to ``nested`` each name the scope binds, with where that is ("inside build()").
    """
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        arguments = node.args
        parameters = {
            arg.arg
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            + [arg for arg in (arguments.vararg, arguments.kwarg) if arg]
        }
        body = node.body if isinstance(node.body, list) else [node.body]
    elif isinstance(node, ast.ClassDef):
        parameters, body = set(), node.body
    else:  # a comprehension
        parameters = set()
        body = [*node.generators, *(getattr(node, part, None) for part in ("elt", "key", "value"))]
        body = [part for part in body if part is not None]
    scope = _Scope.of(body)
    local = (scope.stores | parameters) - scope.declared
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        nested += [(name, f"inside {node.name}()") for name in scope.stores]
    elif isinstance(node, ast.ClassDef):
        nested += [(name, f"inside class {node.name}") for name in scope.stores]
    now, later = scope.loads - local, set()
    for inner in scope.inner:
        inner_now, inner_later = _free(inner, nested)
        if isinstance(node, ast.ClassDef):  # a class body's names are invisible to its methods
            now |= inner_now
            later |= inner_later
        else:
            now |= inner_now - local
            later |= inner_later - local
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return set(), now | later
    return now, later


def _kills(node: ast.stmt) -> set[str]:
    """The names a top-level statement always binds afresh."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _Scope.of([node]).stores
    if isinstance(node, ast.Assign):
        return {name for target in node.targets for name in _unpacked(target)}
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return _unpacked(node.target)
    return set()


def _unpacked(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _unpacked(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return {name for element in target.elts for name in _unpacked(element)}
    return set()


def _base(node: ast.expr) -> str | None:
    """The variable at the root of ``a.b[c].d``, if there is one."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _span(node: ast.stmt) -> _Span:
    """Where a top-level statement starts and ends: line, column, end line, end column."""
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(decorator.lineno for decorator in decorators)])
    start = 0 if decorators else node.col_offset
    return first, start, node.end_lineno or node.lineno, node.end_col_offset or 0


def _statement_lines(
    lines: list[str], span: _Span, cut: _Cutter | None = None
) -> tuple[int, list[str]]:
    """The first line number and the lines of a top-level statement, without its neighbours
    on the same line (``a = 1; train()``).

    Pass the cell's ``cut`` when cutting many statements out of it: it encodes each line
    once, where encoding the line again for each statement on it would take time quadratic
    in its length.
    """
    first, start, last, end = span
    cut = cut or _Cutter(lines)
    if first == last:
        return first, [cut(first - 1, start, end)]
    return first, [cut(first - 1, start, None), *lines[first : last - 1], cut(last - 1, 0, end)]


class _Cutter:
    """Cuts parts of a cell's lines out by ast's columns, which count UTF-8 bytes."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._encoded: dict[int, str | bytes] = {}

    def __call__(self, index: int, start: int, end: int | None) -> str:
        encoded = self._encoded.get(index)
        if encoded is None:
            line = self.lines[index]
            # An ASCII line's bytes are its characters: no copy needed.
            encoded = self._encoded[index] = line if line.isascii() else line.encode()
        part = encoded[start:end]
        return part if isinstance(part, str) else part.decode(errors="ignore")


def _text(lines: list[str], node: ast.stmt) -> str:
    return "\n".join(_statement_lines(lines, _span(node))[1])


def _segment(text: str, node: ast.stmt) -> str:
    """The node's source, with its decorators and the comment lines right above it."""
    lines = text.splitlines()
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return "\n".join(lines[first : node.end_lineno])
