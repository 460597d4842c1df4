"""Results as JUnit XML, which GitLab, Jenkins and Azure show natively.

Usage: ``path.write_text(junit_xml(results, seconds))``
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from labkit.report.checkresults import CheckResult, points_text, ungraded

# What XML 1.0 forbids in a document (its Char production): a parser rejects the whole
# file for one of them. Messages are cleaned where checks are judged; this keeps the file
# well-formed whatever results it is given.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(results: Sequence[CheckResult], seconds: float) -> str:
    """One JUnit testcase per check, valid against the common ``junit-10.xsd``.

    That schema, which Jenkins' xUnit plugin enforces, has no properties in a testcase. So the
    classname is ``<lab>.<category>`` and ``system-out`` says the category, points, maximum and
    whether the check is hidden, one ``name: value`` line each, then a passed check's message
    after a blank line. A failed check's hint is its failure's message; a check the grader
    could not grade is an error, not a failure.
    """
    from xml.etree import ElementTree

    errors = len(ungraded(results))
    failures = sum(not result.passed for result in results) - errors
    suites = ElementTree.Element(
        "testsuites", tests=str(len(results)), failures=str(failures), errors=str(errors)
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="labkit",
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{seconds:.1f}",
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=_xml(f"{result.lab}.{result.category}"),
            name=_xml(result.description),
            time="0",
        )
        message = _xml(result.message)
        if result.ungraded:  # the grader's problem: an error, not the submission's failure
            error = ElementTree.SubElement(case, "error", message=message)
            error.text = message
        elif not result.passed:
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = message
        ElementTree.SubElement(case, "system-out").text = _xml(_system_out(result))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _system_out(result: CheckResult) -> str:
    lines = [
        f"category: {result.category}",
        f"points: {points_text(result.points)}",
        f"max_points: {points_text(result.max_points)}",
        f"hidden: {str(result.hidden).lower()}",
    ]
    if result.passed and result.message:
        lines += ["", result.message]
    return "\n".join(lines)


def _xml(text: str) -> str:
    return NOT_XML.sub("", text)
