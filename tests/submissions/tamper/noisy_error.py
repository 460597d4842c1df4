"""Untrusted text: preprocess() fails with 100 KB of text, ANSI colour codes and carriage returns.

The text is this file's own source, over and over: it must not reach the table whole.
"""

from pathlib import Path

SOURCE = Path(__file__).read_text()


def preprocess(images):
    noise = "\x1b[31mred\x1b[0m\rover\x00\x07\x9b2J " + SOURCE
    raise ValueError((noise * (100_000 // len(noise) + 1))[:100_000])
