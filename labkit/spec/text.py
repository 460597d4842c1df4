"""Text that came from a submission, cleaned before any reader sees it.

Student code chooses much of what a grader says: its error messages, its layers' class
names, the cells a message quotes, and whatever Keras or pytest quote of them. Shown raw,
such text could clear a TA's terminal and draw a full score over the real one, or make a
JUnit file malformed. ``clean_message`` is the one cleaner: the sandbox applies it to what a
child reports, and the grading plugin to every check's message and description, so that the
score table, the results file, JUnit, Markdown and HTML only ever hold cleaned text.

Usage: ``clean_message(text)``; ``clean_message(text, limit=2000)`` for a longer text.
"""

from __future__ import annotations

import re

MAX_MESSAGE = 500  # characters of a message from a child process: enough for any real error
# ANSI escape sequences whole, so no colour or cursor code is left half-stripped (each
# starts at an ESC or CSI and its classes do not overlap, so matching cannot backtrack).
ESCAPES = re.compile(r"(\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b[@-_]")
# Every other C0 and C1 control but newline and tab; the Unicode controls that reorder text
# as it is shown (bidirectional overrides, embeddings and isolates), which could make a line
# read differently from what it says; lone surrogates, which no UTF-8 terminal or file can
# take; and the two non-characters XML forbids.
CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)


def clean_message(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` fit for a terminal, the results file, XML, Markdown and HTML.

    Without escape sequences and control characters, and at most ``limit`` characters: a
    long text keeps its start and its end, where the harvest names the line of the
    student's file.
    """
    if len(text) > limit * 20:  # only the ends are shown, so only they are cleaned
        text = text[: limit * 10] + text[-limit * 10 :]
    text = CONTROLS.sub("", ESCAPES.sub("", text.replace("\r\n", "\n")))
    if len(text) <= limit:
        return text
    tail = limit // 5
    return f"{text[: limit - tail - 3]} … {text[-tail:]}"
