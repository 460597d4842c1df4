"""Notice a submission replacing or rewriting the functions the harvest writes its files with.

A submission that patches ``keras.Model.save``, ``json.dumps`` or ``zipfile.ZipFile`` at import
time could make the harvest save some other model than the one ``build_model()`` returned. The
harvest child seals those functions before it imports the submission and checks the seal after
every step. This is evidence, not a wall: code in the same process can always hide its tracks
from a determined search, but not by patching the usual way.

Usage::

    seal = tamper.Seal()          # before any student code runs
    ...                           # student code runs
    changed = seal.broken()       # e.g. ["keras.Model.save"]; [] when all is as it was
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterator
from types import FunctionType, ModuleType

# Named one by one, and told by these names when they change: what the harvest calls itself.
NAMES = (
    "keras.Model.save",
    "keras.Model.get_config",
    "keras.Sequential.get_config",
    "keras.Model.get_compile_config",
    "keras.Model.get_build_config",
    "keras.saving.save_model",
    "keras.saving.serialize_keras_object",
    "json.dumps",
    "json.JSONEncoder.encode",
    "zipfile.ZipFile",
    "zipfile.ZipFile.open",
    "zipfile.ZipFile.write",
    "zipfile.ZipFile.writestr",
    "numpy.save",
    "numpy.savez",
    "numpy.asarray",
    "numpy.load",
    "pathlib.Path.open",
    "pathlib.Path.write_text",
    "builtins.open",
    "io.open",
)
# Every function and class in these modules (and their submodules) that saving goes through.
MODULES = (
    "json",
    "zipfile",
    "numpy.lib.format",
    "numpy.lib._npyio_impl",
    "keras.src.saving",
    "keras.src.models",
    "keras.src.layers",
    "keras.src.ops.operation",
    "keras.src.activations",
    "keras.src.optimizers",
    "keras.src.losses",
    "keras.src.metrics",
    "matplotlib.figure",
    "matplotlib.axes",
    "matplotlib.lines",
    "matplotlib.legend",
    "matplotlib.text",
    "matplotlib.image",
    "matplotlib.artist",
    "hmac",
    "hashlib",
    "labkit.sandbox.harvest",
    "labkit.sandbox.figures",
    "labkit.sandbox.records",
    "labkit.sandbox.tamper",
)
# Methods that write a class's part of a saved model, looked up through the class's bases:
# setting one on a subclass shadows the inherited one without changing it.
SAVING_METHODS = ("get_config", "get_build_config", "get_compile_config", "save_own_variables")
MESSAGE = "the submission modified the grader's libraries"
FORGED = "the submission forged the grader's records"  # its files or events, not its libraries
SHOWN = 3  # names in a message; more would bury the point

EMPTY = object()  # what an empty closure cell or a missing attribute reads as


class Seal:
    """Fingerprints of the watched functions, taken when the seal is made."""

    def __init__(self) -> None:
        self._prints = dict(_fingerprints())

    def broken(self) -> list[str]:
        """The watched names that now differ from when the seal was made, named ones first."""
        now = dict(_fingerprints())
        return [name for name, parts in self._prints.items() if not _same(parts, now.get(name))]

    def message(self, changed: list[str], when: str) -> str:
        """What to tell the student about ``changed``, a list from ``broken()``, found ``when``."""
        shown = ", ".join(changed[:SHOWN])
        more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        return (
            f"{MESSAGE}: {shown}{more} changed {when}. Grading needs Keras, NumPy and the "
            "other libraries as they are: remove the code that replaces their functions."
        )


def _fingerprints() -> Iterator[tuple[str, tuple[object, ...]]]:
    for name in NAMES:
        yield name, _parts(_resolve(name))
    for prefix in MODULES:
        for module_name, module in list(sys.modules.items()):
            if module_name == prefix or module_name.startswith(prefix + "."):
                yield from _module_prints(module_name, module)


def _module_prints(
    module_name: str, module: ModuleType
) -> Iterator[tuple[str, tuple[object, ...]]]:
    for attribute, value in list(vars(module).items()):
        if not (callable(value) or isinstance(value, ModuleType)):
            continue
        yield f"{module_name}.{attribute}", _parts(value)
        if isinstance(value, type) and value.__module__ == module_name:
            for method, member in list(vars(value).items()):
                if _is_code(member):
                    yield f"{module_name}.{attribute}.{method}", _parts(member)
            for method in SAVING_METHODS:
                yield f"{module_name}.{attribute}.{method}", _parts(_static(value, method))


def _resolve(name: str) -> object:
    """The object ``name`` names now, found without running any attribute's code."""
    first, *rest = name.split(".")
    value: object = sys.modules.get(first, EMPTY)
    for part in rest:
        if isinstance(value, type):
            value = _static(value, part)
        else:
            value = vars(value).get(part, EMPTY) if hasattr(value, "__dict__") else EMPTY
    return value


def _static(cls: type, name: str) -> object:
    """``cls.name`` as stored, not as bound: the same object on every lookup."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return EMPTY


def _is_code(member: object) -> bool:
    return isinstance(member, FunctionType | classmethod | staticmethod | property)


def _parts(value: object, depth: int = 2) -> tuple[object, ...]:
    """The objects that decide what calling ``value`` does; each is compared by identity."""
    if isinstance(value, classmethod | staticmethod):
        return (value, *_parts(value.__func__, depth))
    if isinstance(value, property):
        return (value, *_parts(value.fget, depth), *_parts(value.fset, depth))
    if not isinstance(value, FunctionType):
        return (value,)
    # A decorator's wrapper calls what its closure holds, so that counts as its code too.
    cells = [_contents(cell) for cell in value.__closure__ or ()]
    inner = [
        part
        for cell in cells
        if depth > 0 and isinstance(cell, FunctionType)
        for part in _parts(cell, depth - 1)[1:]
    ]
    keywords = [item for pair in (value.__kwdefaults__ or {}).items() for item in pair]
    return (value, value.__code__, value.__defaults__, *keywords, *cells, *inner)


def _contents(cell: object) -> object:
    try:
        return cell.cell_contents  # type: ignore[attr-defined]
    except ValueError:
        return EMPTY


def _same(before: tuple[object, ...], now: tuple[object, ...] | None) -> bool:
    return now is not None and len(before) == len(now) and all(map(operator.is_, before, now))


def forged(evidence: list[str], graded: bool = False) -> str:
    """What to tell the student about ``evidence`` of files or events it wrote in the
    grader's name: phrases such as 'preprocess.npy was rewritten in compile_model()'.

    With ``graded``, the checks graded the functions' own values all the same.
    """
    shown = "; ".join(evidence[:SHOWN])
    more = f"; and {len(evidence) - SHOWN} more" if len(evidence) > SHOWN else ""
    outcome = (
        "The checks graded what each function returned, as the harvest saved it"
        if graded
        else "Grading reads what each function returns, as the harvest saves it"
    )
    return (
        f"{FORGED}: {shown}{more}. {outcome}: remove the code that writes the grader's "
        "files or events."
    )
