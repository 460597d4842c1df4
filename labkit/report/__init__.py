"""Report: what a grading run tells its readers, from the list of ``CheckResult``.

The score table for students (text, HTML, Markdown), the results file (Gradescope's
format), JUnit XML, feedback pages and the class gradebook. It reads results and the
course's declarations; it runs no student code and imports nothing of the sandbox's
processes, of batch, publish or the command line.

The names here are the report's public face; each lives in the module of its format.

Usage: ``from labkit import report; print(report.table(results))``
"""

from labkit.report.junit import junit_xml
from labkit.report.results import (
    BLOCKED,
    COULD_NOT_GRADE,
    CheckResult,
    results_from_json,
    results_json,
    ungraded,
    write_json,
    write_results,
)
from labkit.report.table import hidden_line, html_table, markdown_table, table, verdict

__all__ = [
    "BLOCKED",
    "COULD_NOT_GRADE",
    "CheckResult",
    "hidden_line",
    "html_table",
    "junit_xml",
    "markdown_table",
    "results_from_json",
    "results_json",
    "table",
    "ungraded",
    "verdict",
    "write_json",
    "write_results",
]
