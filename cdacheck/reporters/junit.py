"""JUnit XML reporter: one testcase per document, for CI systems (GitLab, Jenkins, Azure...).

A document whose findings reach ``fail_on`` is a ``<failure>``; a document that could not be
fully checked (an ``INT`` internal-failure finding) is an ``<error>``. Archive-level findings
are a testcase of their own named after the archive. Built with lxml (already a core
dependency); the tests read it back with junitparser.
"""

from __future__ import annotations

from lxml import etree

from cdacheck.model import ArchiveReport, DocumentReport, Finding, RunReport, Severity


def _line(f: Finding) -> str:
    loc = f.location
    where = f"ligne {loc.line}" if loc.line else ""
    if loc.xpath:
        where = f"{where} {loc.xpath}".strip()
    return f"[{f.severity.value}] {f.rule_id} {where}: {f.message}".replace(" :", ":", 1)


def _case(suite: etree._Element, classname: str, name: str, findings: list[Finding],
          fail_on: Severity, elapsed_ms: float | None) -> tuple[int, int]:
    case = etree.SubElement(suite, "testcase", classname=classname, name=name,
                            time=f"{(elapsed_ms or 0) / 1000:.3f}")
    internal = [f for f in findings if f.rule_id.startswith("INT")]
    failing = [f for f in findings if f.severity.at_least(fail_on) and f not in internal]
    if internal:
        el = etree.SubElement(case, "error", type=internal[0].rule_id,
                              message=f"{len(internal)} vérification(s) n'ont pas pu s'exécuter")
        el.text = "\n".join(_line(f) for f in internal)
    if failing:
        el = etree.SubElement(case, "failure", type=failing[0].rule_id,
                              message=f"{len(failing)} constat(s) au niveau {fail_on.value} ou au-delà")
        el.text = "\n".join(_line(f) for f in failing)
    others = [f for f in findings if f not in failing and f not in internal]
    if others:
        out = etree.SubElement(case, "system-out")
        out.text = "\n".join(_line(f) for f in others)
    return int(bool(failing)), int(bool(internal))


def _doc_name(doc: DocumentReport) -> str:
    return f"{doc.source}!{doc.member}" if doc.member else doc.source


def render(report: RunReport, **_: object) -> str:
    """The report as a JUnit XML document (one testsuite)."""
    fail_on = report.summary.fail_on
    root = etree.Element("testsuites", name="cdacheck")
    suite = etree.SubElement(root, "testsuite", name="cdacheck")
    tests = failures = errors = 0
    for item in report.items:
        cases: list[tuple[str, str, list[Finding], float | None]] = []
        if isinstance(item, ArchiveReport):
            cases.append(("cdacheck.archive", item.source, list(item.findings), item.elapsed_ms))
            docs = item.documents
        else:
            docs = [item]
        for doc in docs:
            cases.append((f"cdacheck.{doc.doc_type}", _doc_name(doc), list(doc.findings),
                          doc.elapsed_ms))
        for classname, name, findings, elapsed in cases:
            fail, err = _case(suite, classname, name, findings, fail_on, elapsed)
            tests += 1
            failures += fail
            errors += err
    if report.findings:
        fail, err = _case(suite, "cdacheck.run", "run", list(report.findings), fail_on, None)
        tests, failures, errors = tests + 1, failures + fail, errors + err
    for el in (root, suite):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
    return etree.tostring(root, pretty_print=True, xml_declaration=True,
                          encoding="UTF-8").decode("utf-8")
