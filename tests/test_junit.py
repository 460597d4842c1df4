"""JUnit XML as CI servers read it: valid against the schema Jenkins' xUnit plugin checks."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

from labkit.report import junit
from labkit.report.checkresults import CheckResult

# Jenkins' xUnit plugin drops a report that this schema rejects; tests/data/junit-10.xsd says
# where it comes from.
SCHEMA = Path(__file__).resolve().parent / "data" / "junit-10.xsd"

RESULTS = [
    CheckResult("cv1_mnist_intro", "structure", "Layer types", 2, True),
    CheckResult("cv1_mnist_intro", "shapes", "Output shapes", 1, False, "Expected (None, 784)"),
    CheckResult("cv1_mnist_intro", "training", "Loss falls", 1.5, True, "loss 2.30 -> 0.41"),
    CheckResult(
        "cv1_mnist_intro",
        "accuracy",
        "Accuracy on unseen images",
        1,
        False,
        'could not grade: the training ran out of time <limit> & "quotes"',
        hidden=True,
        ungraded=True,
    ),
]


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA)


def cases(xml: str) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(xml.encode())
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_the_report_validates_against_jenkins_junit_schema(schema):
    xml = junit.junit_xml(RESULTS, seconds=1234.56)
    schema.validate(xml)  # raises with the offending element when it does not validate
    assert schema.is_valid(junit.junit_xml([], seconds=0))


def test_points_and_category_are_in_the_classname_and_system_out():
    found = cases(junit.junit_xml(RESULTS, seconds=3))
    layers = found["Layer types"]
    assert layers.get("classname") == "cv1_mnist_intro.structure"
    assert layers.findtext("system-out", "").splitlines() == [
        "category: structure",
        "points: 2",
        "max_points: 2",
        "hidden: false",
    ]
    shapes = found["Output shapes"]
    assert "points: 0\nmax_points: 1\n" in shapes.findtext("system-out", "")
    assert shapes.find("failure").get("message") == "Expected (None, 784)"
    loss = found["Loss falls"].findtext("system-out", "")
    assert loss.startswith("category: training\npoints: 1.5\nmax_points: 1.5\n")
    assert loss.endswith("\n\nloss 2.30 -> 0.41")  # what the table says under a passed check


def test_a_check_the_grader_could_not_grade_is_an_error_not_a_failure():
    xml = junit.junit_xml(RESULTS, seconds=3)
    accuracy = cases(xml)["Accuracy on unseen images"]
    assert accuracy.find("failure") is None
    error = accuracy.find("error")
    assert error is not None and error.get("message", "").startswith("could not grade:")
    assert "hidden: true" in accuracy.findtext("system-out", "")
    suite = ElementTree.fromstring(xml.encode()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")


def test_text_xml_forbids_is_dropped_so_the_report_stays_well_formed(schema):
    # Messages are cleaned where checks are judged; whatever results it is given, the file
    # must still parse: one forbidden character makes a CI server drop the whole report.
    hostile = CheckResult(
        "cv1_mnist_intro",
        "structure",
        "Layer\x0b types",
        2,
        False,
        "found \x1b[2J\x00\x08\ud800\ufffe\U0001f600 \t<&>",
    )
    xml = junit.junit_xml([hostile], seconds=1)
    schema.validate(xml)
    failure = cases(xml)["Layer types"].find("failure")
    assert failure is not None
    assert failure.get("message") == failure.text == "found [2J\U0001f600 \t<&>"
