"""The parts every HTML page of labkit shares: the document and its style, tables, figures.

A page is one self-contained file: its style is inline and its images are embedded as PNG
data. Every text passed in as a cell or caption is escaped here; ``document`` takes parts
that are HTML already.

Usage: ``pages.document("Class summary", [pages.table(["student"], [["smithj"]])])``
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

# Sized for a laptop (1280-1366 pixels wide) and a phone alike: text wraps, long words
# (paths, layer lists) break rather than widen the page, and wide tables scroll in place.
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.4; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; vertical-align: top; text-align: left;
         overflow-wrap: break-word; }
th { background: #f4f4f4; }
td.number, th.number { text-align: right; white-space: nowrap; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
figure { margin: 1rem 0; } figcaption { color: #555; }
details { margin: 0.5rem 0; } summary { cursor: pointer; color: #245; }
.score { float: right; font-weight: normal; }
.pass { color: #1a7f37; } .fail { color: #b42318; } .ungraded { color: #b54708; }
.first { border-left: 4px solid #b42318; background: #fdf3f2; padding: 0.5rem 1rem;
         margin: 0.5rem 0; }
.notice { border-left: 4px solid #b54708; background: #fff8eb; padding: 0.5rem 1rem; }
.hint { overflow-wrap: break-word; margin: 0.3rem 0; }
.muted { color: #666; } .first .muted { margin: 0.6rem 0; } .first ul { margin: 0.3rem 0; }
.bars { display: flex; align-items: flex-end; gap: 2px; height: 4.5rem; }
.bar { display: flex; flex-direction: column; align-items: center; justify-content: flex-end;
       min-width: 1.6rem; height: 100%; font-size: 0.75rem; }
.bar span.fill { display: block; width: 100%; background: #4a78b5; min-height: 1px; }
.bar span.zero { background: #ddd; }
"""


def document(title: str, parts: Sequence[str]) -> str:
    """A whole page: ``title`` escaped, ``parts`` (HTML) one after another."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numbers: Sequence[int] = ()) -> str:
    """A table of text cells, every one escaped; the columns in ``numbers`` align right."""
    if not rows:
        return "<p>None.</p>"
    return html_table(
        [escape(cell) for cell in header],
        [[escape(cell) for cell in row] for row in rows],
        numbers,
    )


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numbers: Sequence[int] = ()
) -> str:
    """A table of cells that are HTML already, in a box that scrolls rather than widens."""

    def cell(tag: str, index: int, content: str) -> str:
        kind = ' class="number"' if index in numbers else ""
        return f"<{tag}{kind}>{content}</{tag}>"

    head = "".join(cell("th", index, content) for index, content in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", index, content) for index, content in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def figure(png: bytes, caption: str) -> str:
    """A PNG embedded in the page, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def lines(text: str) -> str:
    """Text from a check, escaped, its line breaks kept."""
    return "<br>".join(escape(line) for line in text.splitlines())
