"""Every command the README and docs/*.md show in a code block works after the README's set-up.

That set-up is `pip install nox`, so a documented command is either that or a nox session.
Each one runs here through noxfile.py's own session function, with a stand-in for nox's
session that records the commands the session runs (nox itself would spend minutes
installing its environment, which here is this test's own). Each recorded command must be
a program of this environment, given arguments its own parser accepts; `labs` also runs, in
the folder the session runs in. What the other commands do is tested where they are built:
test_scaffold.py runs grade, handouts, check-course and release on a new course.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from labkit import cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PROGRAMS = ("nox", "labkit", "python", "python3", "pip", "pytest", "jupyter")
SET_UP = "pip install nox"


def documented_commands() -> list[str]:
    """The commands in the docs' plain code blocks (```python blocks are code, not commands)."""
    found = []
    for doc in DOCS:
        for language, body in FENCE.findall(doc.read_text(encoding="utf-8")):
            for line in body.splitlines() if not language else []:
                command = re.split(r"\s+#", line)[0].strip()
                if command.split(" ", 1)[0] in PROGRAMS:
                    found.append(command)
    return found


COMMANDS = documented_commands()


class Recorder:
    """Stands in for nox's Session: records what a session would run, and where."""

    def __init__(self, posargs: list[str]) -> None:
        self.posargs = posargs
        self.invoked_from = str(ROOT)
        self.folder = ROOT
        self.env: dict[str, str] = {}
        self.commands: list[tuple[Path, list[str]]] = []

    def chdir(self, folder: str) -> None:
        self.folder = Path(folder)

    def run(self, *command: Any, **_: Any) -> None:
        self.commands.append((self.folder, [str(part) for part in command]))


class Parsed(Exception):
    """Raised where a program would go on to run once its arguments are parsed."""


@pytest.fixture(scope="module")
def noxfile() -> Any:
    spec = importlib.util.spec_from_file_location("labkit_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_show_commands():
    assert SET_UP in COMMANDS
    assert len(COMMANDS) >= 20
    assert any(command.startswith("nox -s labkit -- labs") for command in COMMANDS)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {SET_UP}))
def test_a_documented_command_works(command, noxfile, monkeypatch, capsys):
    words = shlex.split(command)
    assert words[:2] == ["nox", "-s"], (
        f"{command!r}: after the README's set-up only nox is on PATH; write it as a session, "
        "such as `nox -s labkit -- labs`"
    )
    session, rest = words[2], words[3:]
    assert rest[:1] in ([], ["--"]), f"{command!r}: a session's arguments follow --"
    assert hasattr(noxfile, session), f"{command!r}: noxfile.py has no session {session!r}"
    recorder = Recorder(rest[1:])
    monkeypatch.setattr(noxfile, "shared_env", lambda session: None)
    getattr(noxfile, session)(recorder)
    assert recorder.commands, f"the session {session!r} runs nothing"
    for folder, (program, *arguments) in recorder.commands:
        assert Path(program).parent == noxfile.BIN, f"{program} is not the shared environment's"
        name = Path(program).name
        if name == "labkit":
            check_labkit(arguments, folder, monkeypatch, capsys)
        elif name == "python":
            assert arguments[0] == "-m", arguments
            check_module(arguments[1], arguments[2:], monkeypatch)
        else:  # the test session's tools, which labkit's [test] extra installs
            assert (Path(sys.executable).parent / name).is_file(), f"{name} is not installed"


def check_labkit(arguments: list[str], folder: Path, monkeypatch, capsys) -> None:
    """labkit's parser takes ``arguments``; `labs` runs for real, in ``folder``."""
    try:
        parsed, unknown = cli._parser().parse_known_args(arguments)
    except SystemExit as stop:
        said = capsys.readouterr()
        assert stop.code == 0, f"labkit {' '.join(arguments)}: {said.err}"
        assert said.out.startswith("usage: labkit")  # --help, which exits once it is shown
        return
    assert not unknown, f"labkit {' '.join(arguments)}: unknown arguments {unknown}"
    if parsed.run is cli.list_labs:
        monkeypatch.chdir(folder)
        assert cli.main(arguments) == cli.EXIT_PASSED
        assert capsys.readouterr().out.startswith("| lab | dataset |")


def check_module(module: str, arguments: list[str], monkeypatch) -> None:
    """``python -m module`` parses ``arguments``, and would then run."""
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        parse(self, args, namespace)
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(Parsed):
        importlib.import_module(module).main(arguments)
