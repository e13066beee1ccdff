"""Machine formats read back by a real consumer: SARIF (JSON Schema), JUnit (junitparser),
GitHub workflow commands; redaction removes every patient trait from every format."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import cdacheck
from cdacheck.model import RunReport, Severity
from cdacheck.redact import pseudonym, redact
from cdacheck.reporters import FORMATS, render

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _schemas_dir() -> Path | None:
    raw = os.environ.get("CDACHECK_SCHEMAS")
    path = Path(raw) if raw else ROOT.parent / "shared" / "schemas"
    return path if (path / "sarif-schema-2.1.0.json").is_file() else None


@pytest.fixture(scope="module")
def report() -> RunReport:
    return cdacheck.check(str(SAMPLES), env="test")


def test_sarif_validates_against_the_official_schema(report: RunReport) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    where = _schemas_dir()
    if where is None:
        pytest.skip("SARIF 2.1.0 schema not found: set CDACHECK_SCHEMAS (default ../shared/schemas)")
    schema = json.loads((where / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    log = json.loads(render(report, "sarif"))
    jsonschema.validate(log, schema)
    run = log["runs"][0]
    results = run["results"]
    assert len(results) == len(report.all_findings())
    rules = run["tool"]["driver"]["rules"]
    for res in results:  # every result points at its rule and at an existing artifact
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        art = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert run["artifacts"][art["index"]]["location"]["uri"] == art["uri"]
    # an archive member is an artifact nested in its archive
    nested = [a for a in run["artifacts"] if "parentIndex" in a]
    assert nested and all(run["artifacts"][a["parentIndex"]]["location"]["uri"].endswith(".zip")
                          for a in nested)
    with_lines = [r for r in results if "region" in r["locations"][0]["physicalLocation"]]
    assert with_lines, "findings with a line keep it in SARIF"
    assert any("logicalLocations" in r["locations"][0] for r in results)
    levels = {r["level"] for r in results}
    assert levels <= {"error", "warning", "note"} and "error" in levels


def test_junit_read_back_with_junitparser(report: RunReport, tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "report.xml"
    path.write_text(render(report, "junit"), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [c for s in suites for c in s]
    archives = [i for i in report.items if i.kind == "archive"]
    assert len(cases) == len(report.documents()) + len(archives) + (1 if report.findings else 0)
    by_name = {c.name: c for c in cases}
    for doc in report.documents():
        name = f"{doc.source}!{doc.member}" if doc.member else doc.source
        case = by_name[name]
        failing = any(f.severity.at_least(report.summary.fail_on) and not f.rule_id.startswith("INT")
                      for f in doc.findings)
        kinds = {type(r).__name__ for r in case.result}
        assert ("Failure" in kinds) == failing, name
    failures = sum(1 for c in cases for r in c.result if type(r).__name__ == "Failure")
    assert failures > 0 and failures < len(cases)


GH_LINE = re.compile(r"^::(error|warning|notice) (?P<props>[^:]*)::(?P<msg>.*)$")


def test_github_workflow_commands(report: RunReport) -> None:
    lines = render(report, "github").splitlines()
    commands = [ln for ln in lines if ln.startswith("::")]
    assert len(commands) == len(report.all_findings())
    for line in commands:
        m = GH_LINE.match(line)
        assert m, line
        props = dict(p.split("=", 1) for p in m.group("props").split(","))
        assert "file" in props and "title" in props
        assert "\n" not in m.group("msg")
    assert lines[-1].startswith("cdacheck:")


def test_github_escapes_separators() -> None:
    from cdacheck.reporters.github import _data, _prop
    assert _prop("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert _data("50%\r\n") == "50%25%0D%0A"


def _traits(report: RunReport) -> set[str]:
    out: set[str] = set()
    for doc in report.documents():
        if doc.facts is None:
            continue
        p = doc.facts.patient
        for value in (p.birth_family_name, p.birth_given_names, p.used_family_name,
                      p.used_given_name, p.birthplace_code, p.birth_date.raw if p.birth_date else None):
            if value and len(value) >= 3:
                out.add(value)
        out.update(t for t in p.other_traits if len(t) >= 3)
        out.update(i.extension for i in doc.facts.patient_ids
                   if i.extension and i.id_class != "local" and len(i.extension) >= 6)
    return out


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"html"}) + ["html"])
def test_redaction_removes_every_trait_from_every_format(report: RunReport, fmt: str) -> None:
    traits = _traits(report)
    assert len(traits) > 10, "the samples carry patient traits to look for"
    plain = render(report, fmt, **({"redact": False} if fmt == "html" else {}))
    assert any(t in plain for t in traits), "without redaction the traits are there"
    out = render(redact(report), fmt)
    leaked = sorted(t for t in traits if t in out)
    assert not leaked, f"{fmt}: {leaked[:5]}"


def test_html_is_redacted_by_default(report: RunReport) -> None:
    page = render(report, "html")
    assert not [t for t in _traits(report) if t in page]
    assert "masquées" in page


def test_pseudonym_is_stable_and_groups_one_patient(report: RunReport) -> None:
    red = redact(report)
    before = [i for d in report.documents() if d.facts for i in d.facts.patient_ids if i.extension]
    after = [i for d in red.documents() if d.facts for i in d.facts.patient_ids if i.extension]
    assert len(before) == len(after)
    for b, a in zip(before, after):
        assert a.extension == pseudonym(b.root, b.extension)
    assert pseudonym("1.2.250.1.213.1.4.10", "x") != pseudonym("1.2.250.1.213.1.4.10", "y")
    assert red.settings["redact"] is True


def test_every_format_is_a_pure_function(report: RunReport) -> None:
    for fmt in FORMATS:
        assert render(report, fmt) == render(report, fmt), fmt
    assert report.summary.fail_on == Severity.ERROR
