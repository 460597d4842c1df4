"""Submissions whose code is unusually alike: pairs of students, per lab, for a person to see.

Each student's code for a lab is their module, or their notebook's graded cells (tagged
``graded:<function>``), never the notebook's other cells. copydetect (the winnowing of MOSS)
fingerprints it after turning every name into one letter and every string into another, so
that renamed variables and changed comments hide nothing; the fingerprints of the lab's stub
(``exercises/<lab>.py``) are left out, so that the code everyone was given counts for no one.
A pair is reported when much of one student's code is found in the other's.

The report is ``similarity.html``, one page for all labs with each pair's code side by side
and the shared parts highlighted, and ``similarity.json``, the same pairs for a program. It
says who may have copied whom no more than MOSS does: it is a reason to look, not a verdict.

Usage: ``comparison = similarity.report(Path("class"), Path("graded"), course)``
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from labkit.intake import classfolder, notebooks
from labkit.spec.course import Course

# copydetect's own default: the shortest run of matching code (in characters of the filtered
# code, where a name is one letter) that counts. A window of 1 keeps every fingerprint: lab
# files are small, and this finds every run of that length.
NOISE_CHARACTERS = 25
WINDOW = 1
# A pair is reported when this share of either student's code is found in the other's.
# Measured on the sample course's first CNN lab (tests/test_similarity.py): among nine honest
# solutions (the reference, tests/submissions/equivalent and seven rewrites in
# tests/submissions/similarity) the most alike pair shares 0.28; a copy with every name
# changed shares 1.00 with its source.
REPORTED_SHARE = 0.5


@dataclass(frozen=True)
class Pair:
    """Two students' code for one lab, and how much of each is found in the other."""

    lab: str
    students: tuple[str, str]
    shares: tuple[float, float]  # of each one's code, the part found in the other's
    highlighted: tuple[str, str]  # each one's code as HTML, the shared parts marked


@dataclass(frozen=True)
class Comparison:
    """The reported pairs, and what could not be compared, with why."""

    pairs: list[Pair]
    skipped: list[tuple[str, str, str]]  # (student, lab, why)
    compared: dict[str, int]  # how many students' code each lab compared


def report(submissions: Path, out: Path, course: Course, labs: Sequence[str] = ()) -> Comparison:
    """Compare the class folder's submissions, lab by lab, and write the report into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".similarity-", dir=out))
    try:
        chosen = list(labs or course.labs)
        entries = classfolder.collect(submissions, chosen, staging)
        comparison = compare(entries, chosen, course)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write(out, comparison)
    return comparison


def compare(
    entries: Sequence[classfolder.Entry],
    labs: Sequence[str],
    course: Course,
    least: float = REPORTED_SHARE,
) -> Comparison:
    """The pairs of ``entries`` that share at least ``least`` of either one's code for a lab."""
    pairs: list[Pair] = []
    skipped = [(entry.student, "every lab", entry.problem) for entry in entries if entry.problem]
    compared: dict[str, int] = {}
    for lab in labs:
        codes: dict[str, str] = {}
        for entry in entries:
            code, why = _code(entry, lab)
            if code is not None:
                codes[entry.student] = code
            elif why:
                skipped.append((entry.student, lab, why))
        found, unread = _alike(lab, codes, _stub(course, lab), least)
        pairs += found
        skipped += [(student, lab, why) for student, why in unread.items()]
        compared[lab] = len(codes) - len(unread)
    return Comparison(pairs, skipped, compared)


def write(out: Path, comparison: Comparison) -> tuple[Path, Path]:
    """Write ``similarity.html`` and ``similarity.json`` into ``out``."""
    page = out / "similarity.html"
    page.write_text(_PAGE.render(c=comparison, share=REPORTED_SHARE), encoding="utf-8")
    listing = out / "similarity.json"
    data = {
        "reported_share": REPORTED_SHARE,
        "compared": comparison.compared,
        "pairs": [
            {key: value for key, value in asdict(pair).items() if key != "highlighted"}
            for pair in comparison.pairs
        ],
        "skipped": [
            {"student": student, "lab": lab, "why": why} for student, lab, why in comparison.skipped
        ],
    }
    listing.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return page, listing


def _code(entry: classfolder.Entry, lab: str) -> tuple[str | None, str]:
    """The student's code for ``lab``, or None and why it is not compared ("" if not handed
    in)."""
    files = entry.files()
    if f"{lab}.py" in files:
        return files[f"{lab}.py"].read_text(encoding="utf-8", errors="replace"), ""
    if f"{lab}.ipynb" not in files:
        return None, ""
    try:
        notebook = notebooks.read(files[f"{lab}.ipynb"])
    except notebooks.NotebookUnreadable as error:
        return None, str(error)
    graded = [cell.source for cell in notebooks.cells(notebook) if cell.graded]
    if not graded:
        return None, "the notebook has no graded cells (tagged graded:<function>)"
    return "\n\n".join(graded), ""


def _stub(course: Course, lab: str) -> str:
    path = course.exercises / f"{lab}.py"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _alike(
    lab: str, codes: Mapping[str, str], stub: str, least: float
) -> tuple[list[Pair], dict[str, str]]:
    """The pairs among ``codes`` (by student) that share some code and at least ``least`` of
    either one's, most alike first; and the code copydetect could not read, with why."""
    import numpy as np
    from copydetect.detector import CodeFingerprint, compare_files
    from copydetect.utils import highlight_overlap

    def fingerprint(code: str, boilerplate: object = None) -> CodeFingerprint:
        # The name only tells copydetect's tokenizer the language.
        return CodeFingerprint(
            f"{lab}.py", NOISE_CHARACTERS, WINDOW, boilerplate, fp=io.StringIO(code)
        )

    given = np.unique(np.array(list(fingerprint(stub, None).hashes)))
    prints, unread = {}, {}
    for student, code in codes.items():
        try:
            prints[student] = fingerprint(code, given)
        except Exception as error:  # one student's odd file must not end the report
            unread[student] = f"copydetect could not read the code ({type(error).__name__})"
    found = []
    for first, second in itertools.combinations(sorted(prints), 2):
        _, shares, slices = compare_files(prints[first], prints[second])
        if max(shares) < least or max(shares) == 0:
            continue
        marked = tuple(
            highlight_overlap(codes[student], part, "<mark>", "</mark>", escape_html=True)[0]
            for student, part in zip((first, second), slices, strict=True)
        )
        found.append(Pair(lab, (first, second), (float(shares[0]), float(shares[1])), marked))
    return sorted(found, key=lambda pair: -max(pair.shares)), unread


_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Similar submissions</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; font-size: 85%; }
mark { background: #ffd27a; }
</style></head><body>
<h1>Similar submissions</h1>
<p>Pairs of students where at least {{ "%d" % (share * 100) }}% of one's code for a lab is
found in the other's, names and strings aside, the lab's stub left out. Shared code is
highlighted. This is a reason to look at the two submissions, not a verdict.</p>
{% for lab, count in c.compared.items() %}
<h2>{{ lab }}</h2>
{% set pairs = c.pairs | selectattr("lab", "equalto", lab) | list %}
<p>{{ count }} submissions compared; {{ pairs | length }} pair{{ "" if pairs | length == 1
else "s" }} reported.</p>
{% for pair in pairs %}
<h3>{{ pair.students[0] }} and {{ pair.students[1] }}</h3>
<div class="pair">
{% for student in pair.students %}
<div><p>{{ student }}: {{ "%d" % (pair.shares[loop.index0] * 100) }}% found in the
other's</p><pre><code>{{ pair.highlighted[loop.index0] | safe }}</code></pre></div>
{% endfor %}
</div>
{% endfor %}
{% endfor %}
{% if c.skipped %}
<h2>Not compared</h2>
<ul>{% for student, lab, why in c.skipped %}<li>{{ student }}, {{ lab }}: {{ why }}</li>
{% endfor %}</ul>
{% endif %}
</body></html>
"""
)
