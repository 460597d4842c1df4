"""Results as JUnit XML, which GitLab, Jenkins and Azure show natively.

Usage: ``path.write_text(junit_xml(results, seconds))``
"""

from __future__ import annotations

from collections.abc import Sequence

from labkit.report.results import CheckResult, points_text, ungraded


def junit_xml(results: Sequence[CheckResult], seconds: float) -> str:
    """One JUnit testcase per check: points and category as properties, the hint on failure."""
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
            suite, "testcase", classname=result.lab, name=result.description, time="0"
        )
        properties = ElementTree.SubElement(case, "properties")
        for name, value in (
            ("category", result.category),
            ("points", points_text(result.points)),
            ("max_points", points_text(result.max_points)),
            ("hidden", str(result.hidden).lower()),
        ):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        if result.ungraded:  # the grader's problem: an error, not the submission's failure
            error = ElementTree.SubElement(case, "error", message=result.message)
            error.text = result.message
        elif not result.passed:
            failure = ElementTree.SubElement(case, "failure", message=result.message)
            failure.text = result.message
        elif result.message:
            ElementTree.SubElement(case, "system-out").text = result.message
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
