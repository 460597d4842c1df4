"""Results as JUnit XML, which GitLab, Jenkins and Azure show natively.

Usage: ``path.write_text(junit_xml(results, seconds))``
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.report.checkresults import CheckResult, points_text, ungraded


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
            classname=f"{result.lab}.{result.category}",
            name=result.description,
            time="0",
        )
        if result.ungraded:  # the grader's problem: an error, not the submission's failure
            error = ElementTree.SubElement(case, "error", message=result.message)
            error.text = result.message
        elif not result.passed:
            failure = ElementTree.SubElement(case, "failure", message=result.message)
            failure.text = result.message
        ElementTree.SubElement(case, "system-out").text = _system_out(result)
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
